"""Preprocessing of one CT for the risk model: isotropic voxels, lung mask, a fixed-size crop, a ``.npz``.

What is stored is HU (int16), so the costly steps run once; windowing and normalisation happen
online in the dataset and in the viewer (:mod:`lesionviewer.risk.intensity`), from the settings in
the model card. The same function prepares a volume for training and for prediction, so they
cannot disagree.

Steps: resample to ``voxel_mm`` (linear interpolation, scipy), segment the lungs coarsely
(:mod:`lesionviewer.risk.lung_mask`), take a ``crop_shape`` box centred on the centre of the
lungs' bounding box, padding with air (-1024 HU) where the box leaves the volume. With
``mask_outside_lungs`` everything outside the lungs (closed with a radius of ``mask_closing_mm`` so
that masses against the chest wall or the mediastinum stay in, then widened by ``mask_margin_mm``) is set to
air before cropping: the network sees the lungs and their contents only (the ``lungs`` package's
"reduction of problem space"; off by default).

The ``.npz`` holds ``hu`` (the crop) and ``meta`` (JSON text): the voxel size, the crop box in the
resampled grid and in patient millimetres, the lung volume, whether lungs were found, the
source, the original shape and spacing, and the patient id when the header gave one.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> vol = Volume(np.full((10, 40, 40), -1000, np.int16), (5.0, 2.0, 2.0))
    >>> crop, meta = preprocess_volume(vol, PreprocessSettings(voxel_mm=4.0, crop_shape=(8, 16, 16)))
    >>> crop.shape, meta["lungs_found"], meta["resampled_shape"]
    ((8, 16, 16), False, [12, 20, 20])
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from lesionviewer.io.series_identity import identity_of
from lesionviewer.io.volume import Volume
from lesionviewer.risk.lung_mask import coarse_lung_mask
from lesionviewer.util.atomic import atomic_write_bytes

#: Bumped when the stored content changes meaning; readers refuse newer files.
NPZ_LAYOUT = 1
AIR_HU = -1024


@dataclass(frozen=True)
class PreprocessSettings:
    """Voxel size (mm, isotropic), crop size (voxels, z y x) and the lung threshold (HU).

    The defaults (1.5 mm, 192 x 224 x 224 voxels = 288 x 336 x 336 mm) hold an adult chest; the
    demo model uses coarser voxels to train on a CPU.

    Example:
        >>> PreprocessSettings().crop_mm
        (288.0, 336.0, 336.0)
    """

    voxel_mm: float = 1.5
    crop_shape: tuple[int, int, int] = (192, 224, 224)
    lung_threshold_hu: float = -400.0
    mask_outside_lungs: bool = False
    mask_closing_mm: float = 20.0
    mask_margin_mm: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_shape", tuple(int(v) for v in self.crop_shape))
        if not self.voxel_mm > 0:
            raise ValueError(f"voxel_mm must be positive, not {self.voxel_mm!r}")
        if len(self.crop_shape) != 3 or min(self.crop_shape) < 1:
            raise ValueError(f"crop_shape must be three positive sizes (z, y, x), not {self.crop_shape!r}")

    @property
    def crop_mm(self) -> tuple[float, float, float]:
        """The crop's extent in millimetres.

        Example:
            >>> PreprocessSettings(voxel_mm=2.0, crop_shape=(4, 5, 6)).crop_mm
            (8.0, 10.0, 12.0)
        """
        z, y, x = (float(n * self.voxel_mm) for n in self.crop_shape)
        return (z, y, x)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (also stored in each ``.npz`` and in the model card).

        Example:
            >>> PreprocessSettings().to_dict()["crop_shape"]
            [192, 224, 224]
        """
        data = asdict(self)
        data["crop_shape"] = list(self.crop_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessSettings":
        """Settings from :meth:`to_dict`'s form (missing fields take their defaults; unknown ones are ignored).

        Example:
            >>> PreprocessSettings.from_dict({"voxel_mm": 5, "crop_shape": [4, 4, 4], "mask_outside_lungs": True})
            PreprocessSettings(voxel_mm=5.0, crop_shape=(4, 4, 4), lung_threshold_hu=-400.0, mask_outside_lungs=True, mask_closing_mm=20.0, mask_margin_mm=0.0)
        """
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in names}
        for key in ("voxel_mm", "lung_threshold_hu", "mask_closing_mm", "mask_margin_mm"):
            if key in values:
                values[key] = float(values[key])
        if "mask_outside_lungs" in values:
            values["mask_outside_lungs"] = bool(values["mask_outside_lungs"])
        return cls(**values)

    def differences(self, stored: dict[str, Any]) -> list[str]:
        """The settings that ``stored`` (an ``.npz``'s ``settings``) gives differently, as ``name: stored != ours``.

        Example:
            >>> PreprocessSettings(voxel_mm=4.0).differences({"voxel_mm": 5.0, "crop_shape": [192, 224, 224]})
            ['voxel_mm: 5.0 != 4.0']
        """
        ours = self.to_dict()
        return [f"{k}: {stored[k]} != {ours[k]}" for k in ours if k in stored and stored[k] != ours[k]]


def resample_isotropic(hu: np.ndarray, spacing: tuple[float, float, float], voxel_mm: float) -> np.ndarray:
    """``hu`` (z, y, x) resampled to cubic voxels of ``voxel_mm`` by linear interpolation (int16 out).

    Example:
        >>> resample_isotropic(np.zeros((4, 10, 10), np.int16), (3.0, 1.5, 1.5), 1.5).shape
        (8, 10, 10)
    """
    factors = [float(s) / voxel_mm for s in spacing]
    shape = [max(1, int(round(n * f))) for n, f in zip(hu.shape, factors)]
    if list(shape) == list(hu.shape):
        return np.asarray(hu, np.int16)
    zoom = [n_out / n_in for n_out, n_in in zip(shape, hu.shape)]
    out = ndimage.zoom(np.asarray(hu, np.float32), zoom, order=1, mode="nearest", grid_mode=True)
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def crop_around(volume: np.ndarray, centre: tuple[float, float, float], shape: tuple[int, int, int],
                fill: int = AIR_HU) -> tuple[np.ndarray, list[int]]:
    """A ``shape`` box of ``volume`` centred on ``centre`` (indices), padded with ``fill``; and its start.

    Example:
        >>> box, start = crop_around(np.arange(10).reshape(1, 1, 10), (0, 0, 1), (1, 1, 4), fill=-1)
        >>> box.ravel().tolist(), start
        ([-1, 0, 1, 2], [0, 0, -1])
    """
    start = [int(np.floor(c + 0.5 - n / 2.0)) for c, n in zip(centre, shape)]
    out = np.full(shape, fill, volume.dtype)
    src, dst = [], []
    for s, n, size in zip(start, shape, volume.shape):
        lo, hi = max(s, 0), min(s + n, size)
        if hi <= lo:
            return out, start
        src.append(slice(lo, hi))
        dst.append(slice(lo - s, hi - s))
    out[tuple(dst)] = volume[tuple(src)]
    return out, start


def preprocess_volume(volume: Volume, settings: PreprocessSettings = PreprocessSettings(),
                      source: str = "", step=None) -> tuple[np.ndarray, dict[str, Any]]:
    """The cropped isotropic HU volume (int16, ``settings.crop_shape``) and its metadata.

    ``step`` (optional) is called as ``step(fraction, message)`` before each stage (resampling,
    lung mask, crop); it may raise to stop (the viewer's cancel).

    Example:
        >>> import numpy as np
        >>> vol = Volume(np.full((4, 8, 8), 40, np.int16), (2.0, 2.0, 2.0))
        >>> preprocess_volume(vol, PreprocessSettings(voxel_mm=2.0, crop_shape=(2, 4, 4)))[1]["crop_start"]
        [1, 2, 2]
    """
    step = step or (lambda fraction, message: None)
    step(0.0, f"resampling to {settings.voxel_mm:g} mm voxels")
    resampled = resample_isotropic(volume.hu, volume.spacing, settings.voxel_mm)
    step(0.5, "finding the lungs")
    lungs = coarse_lung_mask(resampled, (settings.voxel_mm,) * 3, threshold=settings.lung_threshold_hu)
    step(0.9, "cropping around the lungs")
    if settings.mask_outside_lungs and lungs.found:
        keep = widen_mask(lungs.mask, settings.voxel_mm, settings.mask_closing_mm, settings.mask_margin_mm)
        resampled = np.where(keep, resampled, np.int16(AIR_HU))
    crop, start = crop_around(resampled, lungs.centre_index, settings.crop_shape)
    v = settings.voxel_mm
    # Patient position of the crop's first voxel: the resampled grid spans the same extent as the
    # original, with its voxel centres placed by grid_mode zoom (half a voxel in from the edges).
    corner_index = [((s + 0.5) * v) / sp - 0.5 for s, sp in zip(start, volume.spacing)]
    corner_mm = volume.index_to_patient(*corner_index)
    meta = {
        "layout": NPZ_LAYOUT,
        "source": str(source),
        "patient_id": identity_of(volume).patient_id,
        "settings": settings.to_dict(),
        "voxel_mm": v,
        "original_shape": [int(n) for n in volume.hu.shape],
        "original_spacing_mm": [float(s) for s in volume.spacing],
        "resampled_shape": [int(n) for n in resampled.shape],
        "crop_start": [int(s) for s in start],
        "crop_shape": list(settings.crop_shape),
        "crop_first_voxel_mm": [round(float(c), 3) for c in corner_mm],
        "lungs_found": lungs.found,
        "lung_components": lungs.num_components,
        "lung_volume_ml": round(lungs.volume_ml, 1),
        "lung_box": list(lungs.box) if lungs.box else None,
    }
    return crop, meta


def widen_mask(mask: np.ndarray, voxel_mm: float, closing_mm: float, margin_mm: float) -> np.ndarray:
    """``mask`` closed with a radius of about ``closing_mm`` (holes filled slice by slice), dilated by ``margin_mm``.

    The structuring element is the 6-neighbour cross iterated (a diamond of that radius): cheap at
    any voxel size.

    Example:
        >>> m = np.zeros((1, 9, 9), bool); m[0, 2:7, 2:7] = True; m[0, 4, 4] = False
        >>> int(widen_mask(m, 1.0, 0.0, 0.0).sum()), int(widen_mask(m, 1.0, 0.0, 1.0).sum())
        (25, 45)
    """
    cross = ndimage.generate_binary_structure(3, 1)
    close = int(round(closing_mm / voxel_mm))
    if close:
        padded = np.pad(mask, close)
        mask = ndimage.binary_closing(padded, cross, iterations=close)[tuple(slice(close, -close) for _ in range(3))]
    mask = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    grow = int(round(margin_mm / voxel_mm))
    return ndimage.binary_dilation(mask, cross, iterations=grow) if grow else mask


def write_npz(path: str | Path, crop: np.ndarray, meta: dict[str, Any]) -> None:
    """Write a compressed ``.npz`` (``hu`` + ``meta`` JSON) atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.npz"
        >>> write_npz(p, np.zeros((1, 2, 2), np.int16), {"layout": 1}); read_npz(p)[1]
        {'layout': 1}
    """
    buffer = io.BytesIO()
    np.savez_compressed(buffer, hu=np.asarray(crop, np.int16), meta=np.array(json.dumps(meta)))
    atomic_write_bytes(path, buffer.getvalue())


def read_npz(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The crop and metadata of a preprocessed ``.npz``; errors name the file.

    Example:
        >>> read_npz("/nonexistent.npz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: /nonexistent.npz: cannot read the preprocessed volume (...)
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            hu = np.asarray(data["hu"])
            meta = json.loads(str(data["meta"]))
    except Exception as exc:  # missing, truncated or foreign files: say which file and why
        raise ValueError(f"{path}: cannot read the preprocessed volume ({type(exc).__name__}: {exc})") from None
    if hu.ndim != 3 or int(meta.get("layout", 0)) > NPZ_LAYOUT:
        raise ValueError(f"{path}: not a preprocessed volume of this LesionViewer (layout {meta.get('layout')})")
    return hu, meta
