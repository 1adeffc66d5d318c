"""Box overlap and input checking shared by the FROC, mAP and breakdown code.

Example:
    >>> import numpy as np
    >>> box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]])).round(4).tolist()
    [[0.3333]]
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def box_iou(boxes_a, boxes_b, plus_one: bool = False) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of x1, y1, x2, y2 boxes (extra columns ignored).

    ``plus_one=False`` treats ``x2`` as the right edge (torchvision, pycocotools). ``plus_one=True`` is
    the older inclusive-pixel convention of 3DCE and its copies (width = ``x2 - x1 + 1``). A pair of
    empty boxes has IoU 0.

    Example:
        >>> import numpy as np
        >>> box_iou(np.array([[0, 0, 9, 9]]), np.array([[0, 0, 4, 9]]), plus_one=True).tolist()
        [[0.5]]
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, np.shape(boxes_a)[-1] if np.size(boxes_a) else 4)[:, :4]
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, np.shape(boxes_b)[-1] if np.size(boxes_b) else 4)[:, :4]
    extra = 1.0 if plus_one else 0.0
    width = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + extra, 0, None)
    height = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + extra, 0, None)
    inter = width * height
    area_a = np.clip(a[:, 2] - a[:, 0] + extra, 0, None) * np.clip(a[:, 3] - a[:, 1] + extra, 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0] + extra, 0, None) * np.clip(b[:, 3] - b[:, 1] + extra, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


def as_detection_list(detections: Sequence, what: str = "detections") -> list[np.ndarray]:
    """Per-image ``(K, 5)`` float64 arrays ``[x1, y1, x2, y2, score]``; empty images may be ``[]``.

    Example:
        >>> [d.shape for d in as_detection_list([[], [[0, 0, 1, 1, 0.5]]])]
        [(0, 5), (1, 5)]
    """
    return [_as_rows(d, 5, what, i) for i, d in enumerate(detections)]


def as_box_list(boxes: Sequence, what: str = "ground_truth") -> list[np.ndarray]:
    """Per-image ``(M, 4)`` float64 arrays ``[x1, y1, x2, y2]``; empty images may be ``[]``.

    Example:
        >>> [g.shape for g in as_box_list([[], [[0, 0, 1, 1]]])]
        [(0, 4), (1, 4)]
    """
    return [_as_rows(b, 4, what, i) for i, b in enumerate(boxes)]


def as_flag_list(flags, boxes: list[np.ndarray], what: str) -> list[np.ndarray]:
    """Per-image boolean arrays matching ``boxes`` (all False when ``flags`` is None).

    Example:
        >>> import numpy as np
        >>> as_flag_list(None, [np.zeros((2, 4))], "exclude")[0].tolist()
        [False, False]
    """
    if flags is None:
        return [np.zeros(len(b), dtype=bool) for b in boxes]
    if len(flags) != len(boxes):
        raise ValueError(f"{what} has {len(flags)} images but ground_truth has {len(boxes)}")
    out = []
    for i, (f, b) in enumerate(zip(flags, boxes)):
        f = np.asarray(f, dtype=bool).reshape(-1)
        if f.size != len(b):
            raise ValueError(f"{what}[{i}] has {f.size} flags for {len(b)} ground-truth boxes")
        out.append(f)
    return out


def _as_rows(value, columns: int, what: str, index: int) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, columns))
    if array.ndim == 1 and array.size == columns:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != columns:
        raise ValueError(f"{what}[{index}] must be a (N, {columns}) array; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what}[{index}] contains NaN or infinite values")
    return array
