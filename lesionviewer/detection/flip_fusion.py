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

from collections.abc import Sequence

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
    :func:`fuse_passes` with two passes.

    Example:
        >>> empty = {"boxes": torch.zeros((0, 4)), "scores": torch.zeros(0)}
        >>> one = {"boxes": torch.tensor([[0., 0., 4., 4.]]), "scores": torch.tensor([.6])}
        >>> fuse_two_passes(one, empty)["scores"].tolist()
        [0.30000001192092896]
    """
    return fuse_passes([first, second], iou=iou, nms_iou=nms_iou, limit=limit)


def fuse_passes(passes: Sequence[dict[str, torch.Tensor]], iou: float = PAIR_IOU, nms_iou: float | None = None,
                limit: int | None = None) -> dict[str, torch.Tensor]:
    """One detection dict (``boxes``, ``scores``, ``labels``) from N passes' dicts over the same image.

    The first pass's boxes start one group each; every further pass's boxes join the groups they
    overlap by at least ``iou`` (at most one box of a pass per group, the pairing with the largest
    total overlap against each group's current box; scipy's assignment solver), and the boxes left
    over start new groups. A group becomes one box, the score-weighted mean of its boxes (their plain
    mean when all score 0), scored by the sum of its scores over N: a box that k of the N passes found
    scores their mean times k/N. With two passes this is :func:`fuse_two_passes`. Then ``nms_iou``
    and ``limit`` as there; sorted by falling score (ties: bigger groups first, then in order made).

    Example:
        >>> box = lambda *rows: {"boxes": torch.tensor([r[:4] for r in rows], dtype=torch.float32),
        ...                      "scores": torch.tensor([r[4] for r in rows], dtype=torch.float32)}
        >>> fused = fuse_passes([box((0, 0, 10, 10, .9)), box((0, 0, 10, 10, .6), (30, 30, 40, 40, .9)),
        ...                      box((0, 0, 10, 10, .3))])
        >>> fused["boxes"].tolist(), [round(s, 3) for s in fused["scores"].tolist()]
        ([[0.0, 0.0, 10.0, 10.0], [30.0, 30.0, 40.0, 40.0]], [0.6, 0.3])
    """
    if not passes:
        raise ValueError("fuse_passes needs at least one pass")
    # per group, running sums: score-weighted boxes, plain boxes, scores, and how many boxes joined; in
    # float64, so that equal coordinates average to themselves; float32 out, as the detector's
    weighted = torch.zeros((0, 4), dtype=torch.float64)
    plain = torch.zeros((0, 4), dtype=torch.float64)
    score_sum = torch.zeros(0, dtype=torch.float64)
    count = torch.zeros(0, dtype=torch.long)
    for detections in passes:
        boxes, scores = detections["boxes"].double().reshape(-1, 4), detections["scores"].double().reshape(-1)
        joined = torch.zeros(len(boxes), dtype=torch.bool)
        if len(count) and len(boxes):
            overlap = box_iou(_group_boxes(weighted, plain, score_sum, count), boxes).numpy()
            rows, cols = linear_sum_assignment(-overlap)
            keep = overlap[rows, cols] >= iou
            rows_t, cols_t = torch.as_tensor(rows[keep], dtype=torch.long), torch.as_tensor(cols[keep], dtype=torch.long)
            weighted[rows_t] += boxes[cols_t] * scores[cols_t, None]
            plain[rows_t] += boxes[cols_t]
            score_sum[rows_t] += scores[cols_t]
            count[rows_t] += 1
            joined[cols_t] = True
        alone = ~joined  # the boxes no group took start groups of their own
        weighted = torch.cat([weighted, boxes[alone] * scores[alone, None]])
        plain = torch.cat([plain, boxes[alone]])
        score_sum = torch.cat([score_sum, scores[alone]])
        count = torch.cat([count, torch.ones(int(alone.sum()), dtype=torch.long)])
    fused_boxes = _group_boxes(weighted, plain, score_sum, count)
    fused_scores = score_sum / len(passes)
    # ties in score keep bigger groups first, each size in the order its groups were made
    by_size = torch.argsort(count, descending=True, stable=True)
    order = by_size[torch.argsort(fused_scores[by_size], descending=True, stable=True)]
    if nms_iou is not None and len(order):
        order = order[nms(fused_boxes[order], fused_scores[order], nms_iou)]
    if limit is not None:
        order = order[:limit]
    labels = torch.ones(len(order), dtype=torch.int64)
    return {"boxes": fused_boxes[order].float(), "scores": fused_scores[order].float(), "labels": labels}


def _group_boxes(weighted: torch.Tensor, plain: torch.Tensor, score_sum: torch.Tensor,
                 count: torch.Tensor) -> torch.Tensor:
    """Each group's box: a lone box as it is; else the score-weighted mean (the plain mean when the scores sum to 0)."""
    mean_by_score = weighted / score_sum.clamp_min(torch.finfo(torch.float64).tiny)[:, None]
    merged = torch.where((score_sum > 0)[:, None], mean_by_score, plain / count.clamp_min(1)[:, None])
    return torch.where((count == 1)[:, None], plain, merged)


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
