"""The order in which the detector visits slices: where the radiologist looks first, then outward.

Pure Python (no Qt, no torch), so it is tested on its own and could move into the library.

Example:
    >>> nearest_first_order(7, center=3)
    [3, 4, 2, 5, 1, 6, 0]
    >>> list(batches([3, 4, 2, 5, 1], size=2))
    [[3, 4], [2, 5], [1]]
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence


def nearest_first_order(num_slices: int, center: int) -> list[int]:
    """Every slice index once: ``center``, then alternately the next above and below it.

    ``center`` is clamped into the volume, so a stale index never loses slices.

    Example:
        >>> nearest_first_order(4, center=0)
        [0, 1, 2, 3]
        >>> nearest_first_order(4, center=99)
        [3, 2, 1, 0]
        >>> nearest_first_order(0, center=0)
        []
    """
    if num_slices <= 0:
        return []
    center = min(max(int(center), 0), num_slices - 1)
    order = [center]
    for step in range(1, num_slices):
        for index in (center + step, center - step):
            if 0 <= index < num_slices:
                order.append(index)
    return order


def batches(order: Sequence[int], size: int) -> Iterator[list[int]]:
    """Consecutive groups of ``size`` indices (the last may be shorter); each is one detect() call.

    Small groups show results sooner and make cancel prompt; larger ones share the model's set-up.

    Example:
        >>> list(batches([5, 6, 4], size=5))
        [[5, 6, 4]]
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    for start in range(0, len(order), size):
        yield list(order[start:start + size])
