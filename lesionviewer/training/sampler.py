"""The order of training samples: shuffled per epoch, sharded over processes, resumable mid-epoch.

Each epoch's order comes from ``torch.utils.data.DistributedSampler`` (seeded by the run seed
and the epoch, one shard per process; with one process it is a plain seeded shuffle). An epoch may
ask for more samples than one pass holds (``train.steps_per_epoch``): further passes are appended,
each with its own seed. ``start`` skips the samples already consumed, which is how a resumed run
continues at the exact position where its checkpoint was written.

The sampler yields ``(epoch, index)`` pairs; the dataset seeds each sample's augmentation from them.

Example:
    >>> s = ResumableSampler(5, samples_per_epoch=4, seed=0)
    >>> s.set_epoch(0); full = list(s)
    >>> s.set_epoch(0, start=2); full[2:] == list(s)
    True
    >>> len(full), {e for e, _ in full}
    (4, {0})
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import DistributedSampler, Sampler


class ResumableSampler(Sampler):
    """Seeded per-epoch order of ``length`` samples for process ``rank`` of ``world_size``.

    ``samples_per_epoch`` is per process; ``None`` means one pass (``ceil(length / world_size)``).

    Example:
        >>> a, b = ResumableSampler(6, rank=0, world_size=2), ResumableSampler(6, rank=1, world_size=2)
        >>> sorted(i for _, i in list(a) + list(b))
        [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, length: int, samples_per_epoch: int | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True) -> None:
        if length < 1:
            raise ValueError("there are no training samples (check the split, the fraction and the noisy filter)")
        self.length = int(length)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.samples_per_epoch = int(samples_per_epoch) if samples_per_epoch else math.ceil(length / world_size)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Choose the epoch (its order) and how many of its samples to skip.

        Example:
            >>> s = ResumableSampler(3); s.set_epoch(2, start=1); len(s)
            2
        """
        self.epoch = int(epoch)
        self.start = int(start)

    def epoch_indices(self, epoch: int) -> list[int]:
        """This process's full index list for ``epoch``.

        Example:
            >>> ResumableSampler(3, shuffle=False).epoch_indices(0)
            [0, 1, 2]
        """
        indices: list[int] = []
        repeat = 0
        while len(indices) < self.samples_per_epoch:
            # DistributedSampler only takes len() of its dataset, so the index range stands in for it.
            shard: DistributedSampler[int] = DistributedSampler(
                range(self.length),  # type: ignore[arg-type]  # typed as Dataset; a Sized range is all it reads
                num_replicas=self.world_size, rank=self.rank, shuffle=self.shuffle, seed=self.seed)
            # Later passes of one epoch need their own order: fold the pass number into the epoch.
            shard.set_epoch(epoch * 1009 + repeat)
            indices.extend(int(i) for i in shard)
            repeat += 1
        return indices[: self.samples_per_epoch]

    def __iter__(self):
        for index in self.epoch_indices(self.epoch)[self.start:]:
            yield (self.epoch, index)

    def __len__(self) -> int:
        return max(0, self.samples_per_epoch - self.start)


def micro_batches_per_epoch(samples_per_epoch: int, images_per_gpu: int) -> int:
    """Micro-batches one process draws in an epoch (the last one may be smaller).

    Example:
        >>> micro_batches_per_epoch(5, 2)
        3
    """
    return math.ceil(samples_per_epoch / images_per_gpu)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Example:
        >>> seed_everything(3); a = torch.rand(1); seed_everything(3); bool(torch.equal(a, torch.rand(1)))
        True
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
