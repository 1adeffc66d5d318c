"""Is a synthetic lesion visible against what surrounds it? Only visible lesions become labels.

DeepLesion's lesions are ones a radiologist saw and measured. A synthetic lymph node of 40 HU
drawn inside a muscle of 45 HU is real anatomy with a label on it: it teaches the detector that
muscle is a lesion. So, on the slice where the lesion is largest, we compare the median HU of the
lesion's core (its mask shrunk by one pixel, or the mask when that leaves nothing) with the median
of a ring around it (``ring_px`` pixels wide, starting one pixel outside the mask, limited to voxels
above -900 HU so that air next to the skin does not pass for contrast), as the finished image shows
them. The lesion is kept when that difference is at least ``min_contrast_hu`` HU and at least the
ring's standard deviation (its noise and texture) times ``min_contrast_to_noise``.

The default, 15 HU and half the ring's spread, is our choice, not a published threshold: it drops
lesions that melt into their surroundings and keeps every contrast range of
:mod:`lesionviewer.synthesis.appearance` except its faintest end.

Example:
    >>> import numpy as np
    >>> image = np.full((1, 40, 40), 45.0); mask = np.zeros((1, 40, 40), bool); mask[0, 15:25, 15:25] = True
    >>> image[mask] = 40.0
    >>> is_visible(image, mask)
    False
    >>> image[mask] = 0.0
    >>> is_visible(image, mask)
    True
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

MIN_CONTRAST_HU = 15.0
MIN_CONTRAST_TO_NOISE = 0.5
RING_PX = 4
#: Ring voxels at or below this are air (outside the body, or a lung next to the lesion): ignored.
AIR_HU = -900.0


def lesion_contrast(image: np.ndarray, mask: np.ndarray, ring_px: int = RING_PX) -> tuple[float, float]:
    """``(core median - ring median, ring standard deviation)`` in HU on the mask's largest slice.

    ``image`` and ``mask`` are ``(D, H, W)`` (or ``(H, W)``) arrays of the same shape. Returns
    ``(nan, nan)`` when the mask is empty or no ring voxel is left.

    Example:
        >>> import numpy as np
        >>> image = np.full((30, 30), 60.0); mask = np.zeros((30, 30), bool); mask[10:20, 10:20] = True
        >>> image[mask] = 20.0
        >>> lesion_contrast(image, mask)
        (-40.0, 0.0)
    """
    image = np.asarray(image, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2:
        image, mask = image[None], mask[None]
    if not mask.any():
        return float("nan"), float("nan")
    k = int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))
    img, m = image[k], mask[k]
    core = ndimage.binary_erosion(m)
    if not core.any():
        core = m
    near = ndimage.binary_dilation(m, iterations=1)
    ring = ndimage.binary_dilation(m, iterations=1 + int(ring_px)) & ~near & (img > AIR_HU)
    if not ring.any():
        return float("nan"), float("nan")
    return float(np.median(img[core]) - np.median(img[ring])), float(np.std(img[ring]))


def is_visible(image: np.ndarray, mask: np.ndarray, min_contrast_hu: float = MIN_CONTRAST_HU,
               min_contrast_to_noise: float = MIN_CONTRAST_TO_NOISE, ring_px: int = RING_PX) -> bool:
    """True when the lesion in ``mask`` stands out of ``image`` by the rule in the module docstring.

    ``min_contrast_hu=0`` and ``min_contrast_to_noise=0`` accept everything (the rule off).

    Example:
        >>> import numpy as np
        >>> grain = np.indices((40, 40)).sum(axis=0) % 2 * 2 - 1  # +-1 checkerboard: a spread of 60 HU
        >>> image = (50.0 + 60.0 * grain)[None]; mask = np.zeros((1, 40, 40), bool)
        >>> mask[0, 12:28, 12:28] = True; image[mask] = 30.0  # 20 HU darker: over 15 HU, under 0.5 x 60
        >>> is_visible(image, mask), is_visible(image, mask, min_contrast_to_noise=0.0)
        (False, True)
    """
    if min_contrast_hu <= 0 and min_contrast_to_noise <= 0:
        return True
    contrast, spread = lesion_contrast(image, mask, ring_px)
    if not np.isfinite(contrast):
        return False
    return abs(contrast) >= min_contrast_hu and abs(contrast) >= min_contrast_to_noise * spread
