"""HU windowing for display and the MP3D input scaling.

Two different jobs share this file because both turn Hounsfield units into intensities:

* :func:`window` is the display window/level a radiologist picks (a preset or a drag).
* :func:`clip_and_scale_mp3d` and :func:`normalize_mp3d` are the fixed model-input scaling of MP3D
  (HU clipped to [-1024, 1050], mapped linearly to 0..255, then per-slice ImageNet-style mean/std).

Every function accepts a numpy array or a torch tensor and returns the same kind.

Example:
    >>> import numpy as np
    >>> window(np.array([-1000, 40, 1000]), width=400, level=40).tolist()
    [0, 128, 255]
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch

#: HU range MP3D clips to before scaling to 0..255 (the authors' DeepLesion config).
MP3D_HU_MIN = -1024.0
MP3D_HU_MAX = 1050.0
#: Per-slice normalisation after scaling to 0..255 (ImageNet's red-channel mean/std, which MP3D
#: applies to every slice).
MP3D_MEAN = 123.675
MP3D_STD = 58.395


def _is_torch(x) -> bool:
    return isinstance(x, torch.Tensor)


def window(hu, width: float, level: float, out: Literal["uint8", "float"] = "uint8"):
    """Map HU through a display window: ``level - width/2`` -> 0, ``level + width/2`` -> max.

    ``out="uint8"`` gives 0..255 (rounded), ``out="float"`` gives float32 in [0, 1]. The mapping is the
    plain linear one every viewer uses for display (not DICOM's ``-0.5 / width-1`` variant, which differs
    by less than one grey level for CT widths).

    Example:
        >>> import numpy as np
        >>> window(np.array([[-600, 150]]), width=1500, level=-600, out="float").round(3).tolist()
        [[0.5, 1.0]]
        >>> window(np.array([-1000, 40, 1000]), width=400, level=40).dtype
        dtype('uint8')
    """
    width = float(width)
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"window width must be a positive number of HU; got {width}")
    if out not in ("uint8", "float"):
        raise ValueError(f'out must be "uint8" or "float"; got {out!r}')
    low = float(level) - width / 2.0
    if _is_torch(hu):
        unit = ((hu.to(torch.float32) - low) / width).clamp_(0.0, 1.0)
        return (unit * 255.0).round_().to(torch.uint8) if out == "uint8" else unit
    unit = np.clip((np.asarray(hu, dtype=np.float32) - np.float32(low)) / np.float32(width), 0.0, 1.0)
    if out == "uint8":
        return np.rint(unit * 255.0).astype(np.uint8)
    return unit.astype(np.float32, copy=False)


def clip_and_scale_mp3d(hu, hu_min: float = MP3D_HU_MIN, hu_max: float = MP3D_HU_MAX):
    """Clip HU to ``[hu_min, hu_max]`` (MP3D: [-1024, 1050]) and scale linearly to float32 0..255.

    This is the detector's input intensity contract (see the networks' ``build_detector``): the model's
    own transform then subtracts :data:`MP3D_MEAN` and divides by :data:`MP3D_STD`.

    Example:
        >>> import numpy as np
        >>> clip_and_scale_mp3d(np.array([-2000, -1024, 13, 1050, 3000])).tolist()
        [0.0, 0.0, 127.5, 255.0, 255.0]
    """
    if not hu_max > hu_min:
        raise ValueError(f"hu_max must exceed hu_min; got [{hu_min}, {hu_max}]")
    scale = 255.0 / (hu_max - hu_min)
    if _is_torch(hu):
        return (hu.to(torch.float32).clamp(hu_min, hu_max) - hu_min) * scale
    clipped = np.clip(np.asarray(hu, dtype=np.float32), np.float32(hu_min), np.float32(hu_max))
    return ((clipped - np.float32(hu_min)) * np.float32(scale)).astype(np.float32, copy=False)


def normalize_mp3d(scaled, mean: float = MP3D_MEAN, std: float = MP3D_STD):
    """Subtract the MP3D mean and divide by its std (for inputs already scaled to 0..255).

    Only needed outside the detector (its transform normalises by itself), e.g. to inspect inputs.

    Example:
        >>> import numpy as np
        >>> float(normalize_mp3d(np.array([123.675]))[0])
        0.0
    """
    if _is_torch(scaled):
        return (scaled.to(torch.float32) - mean) / std
    return ((np.asarray(scaled, dtype=np.float32) - np.float32(mean)) / np.float32(std)).astype(np.float32)
