"""Hard-negative sampling for the box head: train most on the normal anatomy the detector mistakes for lesions.

torchvision's ``RoIHeads`` trains the box classifier on a sample of each image's proposals: up to
``batch_size_per_image`` of them, at most ``positive_fraction`` lesions, the rest background drawn at
random. On real CT nearly all background proposals are easy (air, fat, plain liver), so the few on a
humerus, a rib, a vessel or a bowel loop that the region proposal network scores highly are rarely
drawn. ``HardNegativeSampler`` keeps the positives' rule and takes ``hard_fraction`` of the
negatives from those the region proposal network ranks highest (proposals arrive sorted by objectness,
best first, with the ground-truth boxes appended after them), the rest at random from the others, as
online hard-example mining does with a loss ranking (Shrivastava et al., CVPR 2016) and as LENS (Yan et
al., 2020) mines a real CT's unlabelled anatomy for negatives. ``hard_fraction=0`` is torchvision's
sampler.

Example:
    >>> import torch
    >>> sampler = HardNegativeSampler(batch_size_per_image=4, positive_fraction=0.25, hard_fraction=1.0)
    >>> labels = torch.tensor([0, 0, 1, 0, 0, 0, 0, 0])  # proposals best first; one lesion (index 2)
    >>> pos, neg = sampler([labels])
    >>> torch.where(pos[0])[0].tolist(), torch.where(neg[0])[0].tolist()  # the three best negatives
    ([2], [0, 1, 3])
"""
from __future__ import annotations

from typing import Any

import torch
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler


class HardNegativeSampler(BalancedPositiveNegativeSampler):
    """Positives as torchvision samples them; ``hard_fraction`` of the negatives the best-ranked ones.

    Example:
        >>> import torch
        >>> torch.manual_seed(0) is not None
        True
        >>> sampler = HardNegativeSampler(batch_size_per_image=6, positive_fraction=0.0, hard_fraction=0.5)
        >>> _, neg = sampler([torch.zeros(100, dtype=torch.int64)])
        >>> chosen = torch.where(neg[0])[0].tolist()
        >>> len(chosen), chosen[:3], all(i >= 3 for i in chosen[3:])  # 3 best, then 3 of the other 97
        (6, [0, 1, 2], True)
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float, hard_fraction: float) -> None:
        if not 0.0 <= hard_fraction <= 1.0:
            raise ValueError(f"hard_fraction must be in [0, 1], got {hard_fraction}")
        super().__init__(batch_size_per_image, positive_fraction)
        self.hard_fraction = float(hard_fraction)

    def __call__(self, matched_idxs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Binary masks of the chosen positives and negatives, one pair per image (torchvision's contract).

        Example:
            >>> import torch
            >>> sampler = HardNegativeSampler(batch_size_per_image=2, positive_fraction=0.5, hard_fraction=1.0)
            >>> pos, neg = sampler([torch.tensor([0, 1, 0, -1, 0])])  # -1: ignored
            >>> pos[0].tolist(), neg[0].tolist()
            ([0, 1, 0, 0, 0], [1, 0, 0, 0, 0])
        """
        pos_masks, neg_masks = [], []
        for labels in matched_idxs:
            positive = torch.where(labels >= 1)[0]
            negative = torch.where(labels == 0)[0]  # ascending index = best objectness first
            num_pos = min(positive.numel(), int(self.batch_size_per_image * self.positive_fraction))
            num_neg = min(negative.numel(), self.batch_size_per_image - num_pos)
            num_hard = min(num_neg, int(round(num_neg * self.hard_fraction)))
            # positives drawn first, then the negatives: with hard_fraction 0 the very draws torchvision makes
            chosen_pos = positive[torch.randperm(positive.numel(), device=positive.device)[:num_pos]]
            rest = negative[num_hard:]
            chosen_neg = torch.cat([negative[:num_hard],
                                    rest[torch.randperm(rest.numel(), device=rest.device)[:num_neg - num_hard]]])
            pos_mask = torch.zeros_like(labels, dtype=torch.uint8)
            neg_mask = torch.zeros_like(labels, dtype=torch.uint8)
            pos_mask[chosen_pos] = 1
            neg_mask[chosen_neg] = 1
            pos_masks.append(pos_mask)
            neg_masks.append(neg_mask)
        return pos_masks, neg_masks


def use_hard_negatives(model: Any, hard_fraction: float) -> None:
    """Give a torchvision Faster R-CNN's box head a :class:`HardNegativeSampler` with its own batch settings.

    Example:
        >>> import types
        >>> from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
        >>> heads = types.SimpleNamespace(fg_bg_sampler=BalancedPositiveNegativeSampler(64, 0.25))
        >>> model = types.SimpleNamespace(roi_heads=heads)
        >>> use_hard_negatives(model, 0.5)
        >>> s = model.roi_heads.fg_bg_sampler
        >>> type(s).__name__, s.batch_size_per_image, s.positive_fraction, s.hard_fraction
        ('HardNegativeSampler', 64, 0.25, 0.5)
    """
    old: BalancedPositiveNegativeSampler = model.roi_heads.fg_bg_sampler  # a FasterRCNN; Any as in the engine
    model.roi_heads.fg_bg_sampler = HardNegativeSampler(old.batch_size_per_image, old.positive_fraction,
                                                        hard_fraction)
