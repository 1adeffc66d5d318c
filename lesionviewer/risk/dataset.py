"""Training and evaluation samples of the risk model: preprocessed crops from a ``.list`` file.

Each item is the ``.npz`` crop (HU) windowed and normalised online
(:func:`~lesionviewer.risk.intensity.normalise_crop`), as a ``(1, D, H, W)`` float tensor, with its
label. Every crop is checked against the preprocessing the config names (voxel size, crop shape,
lung masking...), so a list made with other settings is refused with the file named rather than
trained on.

Augmentation (training only) is drawn from a generator seeded by the run seed, the epoch and the
sample index (what :class:`~lesionviewer.training.sampler.ResumableSampler` yields), so a resumed
run sees exactly the same augmented volumes: a left-right flip with probability ``flip_lr`` and a
random shift of up to ``max_shift`` voxels per axis, filled with air.

Class balancing by sampling is a view (:func:`balanced_indices`): the minority class is repeated
(deterministically) until both classes are as frequent, and the sampler shuffles that view.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from lesionviewer.risk.preprocess import write_npz
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_npz(d / "a.npz", np.full((4, 6, 8), -1000, np.int16), {"layout": 1, "voxel_mm": 4.0})
    >>> ds = RiskDataset([(d / "a.npz", 1)], PreprocessSettings(voxel_mm=4.0, crop_shape=(4, 6, 8)))
    >>> volume, label = ds[0]
    >>> tuple(volume.shape), float(volume.min()), label
    ((1, 4, 6, 8), -1.0, 1.0)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from lesionviewer.risk.intensity import DEFAULT_HU_WINDOW, normalise_crop
from lesionviewer.risk.lists import read_list
from lesionviewer.risk.preprocess import AIR_HU, PreprocessSettings, read_npz


def resolve_list(path: str | Path) -> list[tuple[Path, int]]:
    """The pairs of a ``.list`` file, relative volume paths taken from the list's folder.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.list"; _ = p.write_text("a.npz 1\\n/abs/b.npz 0\\n")
        >>> [(q.name, q.is_absolute(), y) for q, y in resolve_list(p)]
        [('a.npz', True, 1), ('b.npz', True, 0)]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such list file")
    pairs = read_list(path)
    if not pairs:
        raise ValueError(f"{path}: the list is empty")
    return [(p if p.is_absolute() else (path.parent / p).resolve(), label) for p, label in pairs]


def shift_volume(volume: np.ndarray, shift: Sequence[int] | np.ndarray, fill: float) -> np.ndarray:
    """``volume`` moved by ``shift`` voxels per axis (positive = towards higher indices), ``fill`` coming in.

    Example:
        >>> shift_volume(np.arange(4).reshape(1, 1, 4), (0, 0, 1), -1).ravel().tolist()
        [-1, 0, 1, 2]
    """
    out = np.full_like(volume, fill)
    src, dst = [], []
    for s, n in zip(shift, volume.shape):
        s = int(s)
        if abs(s) >= n:
            return out
        src.append(slice(max(0, -s), n - max(0, s)))
        dst.append(slice(max(0, s), n - max(0, -s)))
    out[tuple(dst)] = volume[tuple(src)]
    return out


def balanced_indices(labels: Sequence[int]) -> list[int]:
    """Indices where the rarer class is repeated (cyclically, in order) to match the commoner one.

    Example:
        >>> balanced_indices([0, 0, 0, 1])
        [0, 1, 2, 3, 3, 3]
    """
    labels = [int(v) for v in labels]
    by_class = {c: [i for i, v in enumerate(labels) if v == c] for c in (0, 1)}
    if not by_class[0] or not by_class[1]:
        return list(range(len(labels)))
    target = max(len(v) for v in by_class.values())
    out = list(range(len(labels)))
    for members in by_class.values():
        out.extend(members[i % len(members)] for i in range(target - len(members)))
    return out


class RiskDataset(Dataset):
    """The crops of a list (``[(npz path, label), ...]`` or a ``.list`` file) as network inputs.

    Items are looked up by index or by the sampler's ``(epoch, index)``; ``augment`` turns on the
    seeded flips and shifts. ``balance=True`` presents the class-balanced view (:func:`balanced_indices`).

    Example:
        >>> RiskDataset([("a.npz", 0), ("b.npz", 1), ("c.npz", 1)], balance=True).labels
        [0, 1, 1, 0]
    """

    def __init__(self, items, settings: PreprocessSettings | None = None,
                 hu_window: Sequence[float] = DEFAULT_HU_WINDOW, mean: float = 0.5, std: float = 0.5,
                 augment: bool = False, flip_lr: float = 0.5, max_shift: int = 0, seed: int = 0,
                 balance: bool = False, cache: bool = False) -> None:
        self.source = str(items) if isinstance(items, (str, Path)) else "list"
        pairs = resolve_list(items) if isinstance(items, (str, Path)) else [(Path(p), int(y)) for p, y in items]
        self.base = pairs
        self.view = balanced_indices([y for _, y in pairs]) if balance else list(range(len(pairs)))
        self.settings = settings
        self.hu_window = (float(hu_window[0]), float(hu_window[1]))
        self.mean, self.std = float(mean), float(std)
        self.augment, self.flip_lr, self.max_shift = bool(augment), float(flip_lr), int(max_shift)
        self.seed = int(seed)
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    @property
    def labels(self) -> list[int]:
        """The label of each item of the (possibly balanced) view.

        Example:
            >>> RiskDataset([("a.npz", 0), ("b.npz", 1)]).labels
            [0, 1]
        """
        return [self.base[i][1] for i in self.view]

    @property
    def paths(self) -> list[Path]:
        """The ``.npz`` of each item of the view.

        Example:
            >>> [p.name for p in RiskDataset([("a.npz", 0)]).paths]
            ['a.npz']
        """
        return [self.base[i][0] for i in self.view]

    def __len__(self) -> int:
        return len(self.view)

    def read_crop(self, base_index: int) -> np.ndarray:
        """The HU crop of list entry ``base_index``, checked against the configured preprocessing.

        Example:
            >>> RiskDataset([("/nonexistent.npz", 0)]).read_crop(0)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: /nonexistent.npz: cannot read the preprocessed volume (...)
        """
        if self._cache is not None and base_index in self._cache:
            return self._cache[base_index]
        path = self.base[base_index][0]
        hu, meta = read_npz(path)
        if self.settings is not None:
            if tuple(hu.shape) != self.settings.crop_shape:
                raise ValueError(f"{path}: crop shape {list(hu.shape)} differs from data.crop_shape "
                                 f"{list(self.settings.crop_shape)} (preprocess again with the config's settings)")
            stored = {"voxel_mm": meta["voxel_mm"]} if "voxel_mm" in meta else {}
            stored.update(meta.get("settings") or {})
            different = self.settings.differences(stored)
            if different:
                raise ValueError(f"{path}: preprocessed with other settings than the config's "
                                 f"({'; '.join(different)}); preprocess again")
        if self._cache is not None:
            self._cache[base_index] = hu
        return hu

    def __getitem__(self, key) -> tuple[torch.Tensor, float]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        base_index = self.view[int(index)]
        hu = self.read_crop(base_index)
        if self.augment:
            rng = np.random.default_rng([self.seed, int(epoch), int(index)])
            flip = rng.random() < self.flip_lr
            shift = rng.integers(-self.max_shift, self.max_shift + 1, size=3) if self.max_shift else None
            if flip:
                hu = hu[:, :, ::-1]
            if shift is not None and np.any(shift):
                hu = shift_volume(np.ascontiguousarray(hu), shift, AIR_HU)
        volume = normalise_crop(hu, self.hu_window, self.mean, self.std)
        return torch.from_numpy(np.ascontiguousarray(volume))[None], float(self.base[base_index][1])


def collate_risk(batch: list[tuple[torch.Tensor, float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``(volume, label)`` items into ``(N, 1, D, H, W)`` volumes and ``(N,)`` float labels.

    Example:
        >>> x, y = collate_risk([(torch.zeros(1, 2, 2, 2), 1.0), (torch.ones(1, 2, 2, 2), 0.0)])
        >>> tuple(x.shape), y.tolist()
        ((2, 1, 2, 2, 2), [1.0, 0.0])
    """
    volumes = torch.stack([v for v, _ in batch])
    labels = torch.tensor([y for _, y in batch], dtype=torch.float32)
    return volumes, labels
