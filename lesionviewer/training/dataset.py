"""The detection dataset: a context stack per key slice, read lazily from DeepLesion-layout PNGs.

Layout (DeepLesion as downloaded, and the phantoms ``lesionviewer-phantom`` writes):
``<root>/Images_png/<patient>_<study>_<series>/<slice:03d>.png`` (16-bit, HU + 32768) with the
annotations in ``<root>/DL_info.csv``. A sample is the ``(D, H, W)`` float32 stack of ``D``
slices ``slice_interval_mm`` apart around the key slice (linear interpolation, edge repeat - see
``lesionviewer.imaging.context_stack``; only the PNGs the stack needs are decoded), HU clipped
to [-1024, 1050] (``data.hu_clip``) and scaled to 0..255, then (training only) randomly flipped and reversed.
Slice positions come from the file numbers times the series' slice interval, so a gap in the
numbering is a gap in millimetres.

Items are addressed by ``(epoch, index)`` pairs (what :class:`~lesionviewer.training.sampler.ResumableSampler`
yields) so that each sample's augmentation is fixed by the seed, the epoch and the index alone.

Example:
    >>> import tempfile
    >>> from lesionviewer.training.key_slices import read_key_slices
    >>> from lesionviewer.training.toy_data import write_toy_deeplesion
    >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=2, size=32, slices=6)
    >>> ds = LesionDataset(root, read_key_slices(root / "DL_info.csv"), num_slices=3, slice_interval_mm=2.0)
    >>> stack, target = ds[0]
    >>> tuple(stack.shape), target["boxes"].shape[1], float(stack.min()) >= 0.0, float(stack.max()) <= 255.0
    ((3, 32, 32), 4, True, True)
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from lesionviewer.imaging.context import context_stack
from lesionviewer.imaging.slice_source import PngSliceSource
from lesionviewer.imaging.windowing import MP3D_HU_MAX, MP3D_HU_MIN, clip_and_scale_mp3d
from lesionviewer.training.affine_jitter import AffineJitter
from lesionviewer.training.augmentation import StackAugmentation, repeat_key_slice, sample_rng
from lesionviewer.training.intensity_jitter import IntensityJitter
from lesionviewer.training.key_slices import KeySlice
from lesionviewer.training.resolution_jitter import ResolutionJitter
from lesionviewer.training.zoom_crop import ZoomCrop


class SeriesFolder:
    """The PNG slices of one series folder, numbered by their file names.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for n in (3, 4, 6):
        ...     Image.fromarray(np.full((2, 2), 32768, np.uint16)).save(d / f"{n:03d}.png")
        >>> s = SeriesFolder(d)
        >>> s.numbers, s.index_of(6)
        ([3, 4, 6], 2)
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder}: series folder not found (expected Images_png/<series>/)")
        numbered = []
        for name in os.listdir(self.folder):
            stem, ext = os.path.splitext(name)
            if ext.lower() == ".png" and stem.isdigit():
                numbered.append((int(stem), name))
        if not numbered:
            raise FileNotFoundError(f"{self.folder}: no numbered PNG slices in the series folder")
        numbered.sort()
        self.numbers = [n for n, _ in numbered]
        self.source = PngSliceSource([self.folder / name for _, name in numbered])
        self._index = {n: i for i, n in enumerate(self.numbers)}

    def index_of(self, slice_number: int) -> int:
        """Position of slice ``slice_number`` (its file number) in the sorted series.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> d = pathlib.Path(tempfile.mkdtemp())
            >>> for n in (5, 9):
            ...     Image.fromarray(np.full((2, 2), 32768, np.uint16)).save(d / f"{n:03d}.png")
            >>> SeriesFolder(d).index_of(9)
            1
            >>> SeriesFolder(d).index_of(7)
            Traceback (most recent call last):
            ...
            FileNotFoundError: ...: slice 007.png is missing
        """
        try:
            return self._index[int(slice_number)]
        except KeyError:
            raise FileNotFoundError(f"{self.folder}: slice {int(slice_number):03d}.png is missing") from None

    def positions_mm(self, slice_interval_mm: float) -> np.ndarray:
        """Slice positions along z in mm (file number x interval).

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> d = pathlib.Path(tempfile.mkdtemp())
            >>> for n in (2, 3, 5):
            ...     Image.fromarray(np.full((2, 2), 32768, np.uint16)).save(d / f"{n:03d}.png")
            >>> SeriesFolder(d).positions_mm(2.5).tolist()
            [5.0, 7.5, 12.5]
        """
        return np.asarray(self.numbers, dtype=np.float64) * float(slice_interval_mm)

#: Extra key of the intensity jitter's per-sample generator (apart from the flips' and crops').
INTENSITY_STREAM = 7
#: Extra key of the resolution jitter's per-sample generator.
RESOLUTION_STREAM = 8
#: Extra key of the pose and body-shape jitter's per-sample generator.
AFFINE_STREAM = 9


class LesionDataset(torch.utils.data.Dataset):
    """Context stacks and targets for a list of :class:`KeySlice` records.

    ``augment`` is a :class:`StackAugmentation` for training or ``None`` for evaluation.
    ``key_slice_alone`` replaces every stack's context by its key slice repeated (how single key slices
    are scored; ``eval.key_slice_alone``).
    ``dataset[(epoch, i)]`` (or ``dataset[i]``, epoch 0) returns ``(stack, target)`` with ``stack`` a
    float32 tensor ``(D, H, W)`` in 0..255 and ``target`` a dict of ``boxes`` (float32 ``(K, 4)``),
    ``labels`` (int64 ones) and ``index``.

    Example:
        >>> import tempfile
        >>> from lesionviewer.training.augmentation import StackAugmentation
        >>> from lesionviewer.training.key_slices import read_key_slices
        >>> from lesionviewer.training.toy_data import write_toy_deeplesion
        >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=2, size=32, slices=6)
        >>> key_slices = read_key_slices(root / "DL_info.csv")
        >>> ds = LesionDataset(root, key_slices, 3, 2.0, augment=StackAugmentation(1.0, 0.0, 0.0))
        >>> _, flipped = ds[0]
        >>> x1, _, x2, _ = key_slices[0].boxes[0]
        >>> flipped["boxes"][0, [0, 2]].tolist() == [32 - x2, 32 - x1], len(ds) == len(key_slices)
        (True, True)
        >>> alone, _ = LesionDataset(root, key_slices, 3, 2.0, key_slice_alone=True)[0]
        >>> bool((alone == LesionDataset(root, key_slices, 3, 2.0)[0][0][1]).all())
        True
    """

    def __init__(self, root: str | Path, key_slices: list[KeySlice], num_slices: int, slice_interval_mm: float,
                 augment: StackAugmentation | None = None, seed: int = 0,
                 hu_clip: tuple[float, float] = (MP3D_HU_MIN, MP3D_HU_MAX),
                 zoom_crop: ZoomCrop | None = None, intensity: IntensityJitter | None = None,
                 resolution: ResolutionJitter | None = None, affine: AffineJitter | None = None,
                 key_slice_alone: bool = False) -> None:
        self.root = Path(root)
        self.images_dir = self.root / "Images_png"
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"{self.images_dir}: not found; the data folder must hold Images_png/ "
                                    "and DL_info.csv (DeepLesion's layout; make phantoms with lesionviewer-phantom)")
        self.key_slices = list(key_slices)
        self.num_slices = int(num_slices)
        self.slice_interval_mm = float(slice_interval_mm)
        self.augment = augment
        self.seed = int(seed)
        self.hu_clip = (float(hu_clip[0]), float(hu_clip[1]))
        self.zoom_crop = zoom_crop if zoom_crop is not None and zoom_crop.active else None
        self.intensity = intensity if intensity is not None and intensity.active else None
        self.resolution = resolution if resolution is not None and resolution.active else None
        self.affine = affine if affine is not None and affine.active else None
        self.key_slice_alone = bool(key_slice_alone)
        self._series: dict[str, SeriesFolder] = {}

    def __len__(self) -> int:
        return len(self.key_slices)

    def series(self, name: str) -> SeriesFolder:
        """The (cached) slice listing of one series.

        Example:
            >>> import tempfile
            >>> from lesionviewer.training.key_slices import read_key_slices
            >>> from lesionviewer.training.toy_data import write_toy_deeplesion
            >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=1, size=16, slices=5)
            >>> ks = read_key_slices(root / "DL_info.csv")
            >>> ds = LesionDataset(root, ks, 3, 2.0)
            >>> len(ds.series(ks[0].series).numbers), ds.series(ks[0].series) is ds.series(ks[0].series)
            (5, True)
        """
        folder = self._series.get(name)
        if folder is None:
            folder = self._series[name] = SeriesFolder(self.images_dir / name)
        return folder

    def stack(self, index: int, epoch: int | None = None) -> np.ndarray:
        """The ``(D, H, W)`` 0..255 stack of key slice ``index``; un-augmented unless ``epoch`` is given
        and the dataset has an :class:`IntensityJitter` (then jittered in HU before the window, with
        its own per-sample generator so flips and crops draw what they drew before).

        Example:
            >>> import tempfile
            >>> from lesionviewer.training.key_slices import read_key_slices
            >>> from lesionviewer.training.toy_data import write_toy_deeplesion
            >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=1, size=16, slices=5)
            >>> from PIL import Image
            >>> ks = read_key_slices(root / "DL_info.csv")
            >>> ds = LesionDataset(root, ks, 3, 2.0, hu_clip=(-1000.0, 1000.0))
            >>> s = ds.stack(0)
            >>> png = root / "Images_png" / ks[0].series / f"{ks[0].key_slice:03d}.png"
            >>> hu = np.asarray(Image.open(png)).astype(np.float32) - 32768
            >>> s.shape, bool(np.allclose(s[1], (np.clip(hu, -1000, 1000) + 1000) / 2000 * 255, atol=1e-3))
            ((3, 16, 16), True)
        """
        ks = self.key_slices[index]
        series = self.series(ks.series)
        hu = context_stack(series.source, series.positions_mm(ks.slice_interval_mm), series.index_of(ks.key_slice),
                           self.num_slices, self.slice_interval_mm)
        if epoch is not None and self.intensity is not None:
            hu = self.intensity(hu, np.random.default_rng([int(self.seed), int(epoch), int(index), INTENSITY_STREAM]))
        return clip_and_scale_mp3d(hu, *self.hu_clip)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        ks = self.key_slices[index]
        stack = self.stack(index, epoch if self.augment is not None else None)
        if self.key_slice_alone:
            stack = repeat_key_slice(stack)
        boxes = ks.boxes
        if self.augment is not None:
            rng = sample_rng(self.seed, epoch, index)
            stack, boxes = self.augment(stack, boxes, rng)
            pixel_mm = float(ks.pixel_spacing_mm[0])
            if self.resolution is not None:
                stack, boxes, pixel_mm = self.resolution(
                    stack, boxes, pixel_mm, np.random.default_rng([self.seed, int(epoch), int(index), RESOLUTION_STREAM]))
            if self.affine is not None:
                stack, boxes = self.affine(
                    stack, boxes, np.random.default_rng([self.seed, int(epoch), int(index), AFFINE_STREAM]))
            if self.zoom_crop is not None:
                stack, boxes = self.zoom_crop(stack, boxes, pixel_mm, rng)
        target = {
            "boxes": torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4)),
            "labels": torch.ones(len(boxes), dtype=torch.int64),
            "index": torch.tensor(index),
        }
        return torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32)), target


def collate_detection(batch):
    """Keep images and targets as lists (torchvision detection models take lists).

    Example:
        >>> images, targets = collate_detection([(1, {"a": 1}), (2, {"a": 2})])
        >>> images, targets
        ([1, 2], [{'a': 1}, {'a': 2}])
    """
    images, targets = zip(*batch)
    return list(images), list(targets)
