"""Test-time flipping: run the detector on a slice and on its mirror image, and keep what both agree on.

A lesion looks like a lesion in the mirror image too; many false positives (a bowel loop, a vessel
cut at an angle) are less stable. The two passes' boxes are fused as weighted box fusion does with
two models (Solovyev et al., "Weighted boxes fusion", 2021): boxes of the two passes overlapping by
at least ``iou`` are paired (the pairing with the largest total overlap, scipy's assignment solver),
a pair becomes one box (the score-weighted mean of the two) scored by the mean of the two scores, and
a box that only one pass found keeps half of its score (the other pass gave it 0). The mirrored
pass's boxes are first mapped back with :func:`unflip_boxes`.

Example:
    >>> import torch
    >>> a = {"boxes": torch.tensor([[10., 10., 20., 20.], [40., 0., 50., 10.]]), "scores": torch.tensor([.9, .8])}
    >>> b = {"boxes": torch.tensor([[12., 10., 22., 20.]]), "scores": torch.tensor([.7])}
    >>> fused = fuse_two_passes(a, b)
    >>> fused["boxes"].tolist(), [round(s, 3) for s in fused["scores"].tolist()]
    ([[10.875, 10.0, 20.875, 20.0], [40.0, 0.0, 50.0, 10.0]], [0.8, 0.4])
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou, nms

#: Boxes of the two passes overlapping at least this much are one finding (as weighted box fusion's default).
PAIR_IOU = 0.55


def unflip_boxes(boxes: torch.Tensor, width: float) -> torch.Tensor:
    """Boxes found on an image mirrored left-right, in the original image's pixels (``x -> width - x``).

    Example:
        >>> unflip_boxes(torch.tensor([[0., 5., 10., 8.]]), 64).tolist()
        [[54.0, 5.0, 64.0, 8.0]]
    """
    out = boxes.clone()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def fuse_two_passes(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], iou: float = PAIR_IOU,
                    nms_iou: float | None = None, limit: int | None = None) -> dict[str, torch.Tensor]:
    """One detection dict (``boxes``, ``scores``, ``labels``) from two passes' dicts over the same image.

    Paired boxes: the score-weighted mean box, the mean score. Unpaired: the box, half its score.
    ``nms_iou`` then suppresses fused boxes that overlap a better one by more than that (torchvision's
    ``nms``); ``limit`` keeps the best that many. The result is sorted by falling score.

    Example:
        >>> empty = {"boxes": torch.zeros((0, 4)), "scores": torch.zeros(0)}
        >>> one = {"boxes": torch.tensor([[0., 0., 4., 4.]]), "scores": torch.tensor([.6])}
        >>> fuse_two_passes(one, empty)["scores"].tolist()
        [0.30000001192092896]
    """
    # in float64, so that two equal coordinates average to themselves; float32 out, as the detector's
    boxes_a, scores_a = first["boxes"].double(), first["scores"].double()
    boxes_b, scores_b = second["boxes"].double(), second["scores"].double()
    paired_a: list[int] = []
    paired_b: list[int] = []
    if len(boxes_a) and len(boxes_b):
        overlap = box_iou(boxes_a, boxes_b).numpy()
        rows, cols = linear_sum_assignment(-overlap)
        keep = overlap[rows, cols] >= iou
        paired_a, paired_b = rows[keep].tolist(), cols[keep].tolist()
    index_a = torch.as_tensor(paired_a, dtype=torch.long)
    index_b = torch.as_tensor(paired_b, dtype=torch.long)
    weight_a, weight_b = scores_a[index_a, None], scores_b[index_b, None]
    total = weight_a + weight_b
    weighted = (boxes_a[index_a] * weight_a + boxes_b[index_b] * weight_b) / total.clamp_min(torch.finfo(torch.float64).tiny)
    # two boxes both scored 0 have no weights to go by: their plain mean
    pair_boxes = torch.where(total > 0, weighted, (boxes_a[index_a] + boxes_b[index_b]) / 2)
    pair_scores = (scores_a[index_a] + scores_b[index_b]) / 2
    alone_a = torch.as_tensor(np.setdiff1d(np.arange(len(boxes_a)), paired_a), dtype=torch.long)
    alone_b = torch.as_tensor(np.setdiff1d(np.arange(len(boxes_b)), paired_b), dtype=torch.long)
    boxes = torch.cat([pair_boxes, boxes_a[alone_a], boxes_b[alone_b]]).reshape(-1, 4)
    scores = torch.cat([pair_scores, scores_a[alone_a] / 2, scores_b[alone_b] / 2])
    order = torch.argsort(scores, descending=True, stable=True)
    if nms_iou is not None and len(order):
        order = order[nms(boxes[order], scores[order], nms_iou)]
    if limit is not None:
        order = order[:limit]
    labels = torch.ones(len(order), dtype=torch.int64)
    return {"boxes": boxes[order].float(), "scores": scores[order].float(), "labels": labels}


def fuse_with_mirror(outputs: list[dict], mirrored: list[dict], width: int, roi_heads=None) -> list[dict]:
    """Each image's detections fused with those found on its mirror image (mapped back first), suppressed
    and limited as the network's box head (``roi_heads``: torchvision's ``nms_thresh`` and
    ``detections_per_img``; None or a head without them: neither).

    Example:
        >>> a = [{"boxes": torch.tensor([[0., 0., 4., 4.]]), "scores": torch.tensor([.8])}]
        >>> m = [{"boxes": torch.tensor([[6., 0., 10., 4.]]), "scores": torch.tensor([.6])}]  # the same box, mirrored
        >>> out = fuse_with_mirror(a, m, 10)
        >>> out[0]["boxes"].tolist(), [round(s, 2) for s in out[0]["scores"].tolist()]
        ([[0.0, 0.0, 4.0, 4.0]], [0.7])
    """
    nms_iou, limit = getattr(roi_heads, "nms_thresh", None), getattr(roi_heads, "detections_per_img", None)
    return [fuse_two_passes(o, {**m, "boxes": unflip_boxes(m["boxes"].float().cpu(), width)}, nms_iou=nms_iou,
                            limit=limit)
            for o, m in zip(outputs, mirrored)]
