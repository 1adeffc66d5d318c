"""How much two boxes overlap: a re-run's finding this close to a decided one is the same lesion.

Example:
    >>> box_iou((0, 0, 2, 2), (0, 0, 2, 2)), box_iou((0, 0, 1, 1), (5, 5, 6, 6))
    (1.0, 0.0)
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["box_iou"]


def box_iou(a: Iterable[float], b: Iterable[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes.

    Example:
        >>> box_iou((0, 0, 2, 2), (1, 0, 3, 2))
        0.3333333333333333
    """
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0
