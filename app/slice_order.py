"""The order in which the detector visits slices: where the radiologist looks first, then outward.

Pure Python (no Qt, no torch), so it is tested on its own and could move into the library.

Example:
    >>> nearest_first_order(7, center=3)
    [3, 4, 2, 5, 1, 6, 0]
"""
from __future__ import annotations


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

