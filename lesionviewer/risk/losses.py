"""Losses of the risk model: binary cross-entropy (optionally positive-weighted) and focal loss.

Both take raw logits and 0/1 targets and return the batch mean. Focal loss (Lin et al. 2017, as
Ardila et al. used) scales each case's cross-entropy by ``(1 - p_t) ** gamma``, so confidently
right cases count little, and weights positives by ``alpha`` and negatives by ``1 - alpha``; with
``gamma = 0`` and ``alpha = 0.5`` it is half the plain cross-entropy.

Example:
    >>> logits, targets = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
    >>> round(float(focal_loss(logits, targets, gamma=0.0, alpha=0.5) * 2), 6) == round(float(bce_loss(logits, targets)), 6)
    True
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """Mean binary cross-entropy on logits; ``pos_weight`` multiplies the positive cases' term.

    Example:
        >>> round(float(bce_loss(torch.zeros(2), torch.tensor([1.0, 0.0]))), 4)
        0.6931
        >>> round(float(bce_loss(torch.zeros(2), torch.tensor([1.0, 0.0]), pos_weight=3.0)), 4)
        1.3863
    """
    weight = None if pos_weight is None else torch.tensor(float(pos_weight), dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), pos_weight=weight)


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, alpha: float = 0.5) -> torch.Tensor:
    """Mean binary focal loss on logits (see the module notes).

    Example:
        >>> easy, hard = focal_loss(torch.tensor([4.0]), torch.tensor([1.0])), focal_loss(torch.tensor([-4.0]), torch.tensor([1.0]))
        >>> bool(hard > 100 * easy)
        True
    """
    targets = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).mean()


def positive_weight(labels: Sequence[int]) -> float:
    """Negatives / positives of a training list (1.0 when a class is missing).

    Example:
        >>> positive_weight([0, 0, 0, 1])
        3.0
    """
    positives = sum(1 for v in labels if int(v) == 1)
    negatives = len(labels) - positives
    return float(negatives) / positives if positives and negatives else 1.0


def build_loss(kind: str, balance: str = "none", labels: Sequence[int] = (), pos_weight: float = 0.0,
               gamma: float = 2.0, alpha: float = 0.5) -> tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], dict]:
    """The loss function for a config's ``[loss]`` section, and a description of it for the run summary.

    ``balance="pos_weight"`` weights positives by ``pos_weight`` (or, when 0, by the training
    labels' negatives / positives): in cross-entropy through ``pos_weight``, in focal loss through
    ``alpha = w / (1 + w)``. Sampler balancing happens in the dataset; the loss is then unweighted.

    Example:
        >>> fn, info = build_loss("bce", "pos_weight", labels=[0, 0, 0, 1])
        >>> info
        {'kind': 'bce', 'pos_weight': 3.0}
        >>> build_loss("focal", "pos_weight", labels=[0, 1, 1, 1])[1]["alpha"]
        0.25
    """
    weight = None
    if balance == "pos_weight":
        weight = float(pos_weight) if pos_weight > 0 else positive_weight(labels)
    if kind == "bce":
        return (lambda lo, t: bce_loss(lo, t, weight)), {"kind": "bce", "pos_weight": weight}
    if kind == "focal":
        a = weight / (1.0 + weight) if weight is not None else float(alpha)
        return (lambda lo, t: focal_loss(lo, t, gamma, a)), {"kind": "focal", "gamma": float(gamma), "alpha": a}
    raise ValueError(f"loss.kind must be 'bce' or 'focal', not {kind!r}")
