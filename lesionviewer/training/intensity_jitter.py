"""Training augmentation of CT intensities in HU: scanner, dose and contrast-phase variation.

A handful of real host scans carries one patient's enhancement, one scanner's noise and one
reconstruction kernel. Real DeepLesion studies vary in all three: the enhanced liver reads
anywhere from about 60 to 130 HU between patients and phases, noise from about 5 to 25 HU, and
soft kernels blur edges. ``IntensityJitter`` draws, per sample and on the raw HU stack (before
the window is applied):

- a soft-tissue gain ``g`` in ``[1 - gain, 1 + gain]`` and offset ``o`` in ``[-offset_hu, offset_hu]``
  applied as ``40 + (hu - 40) * g + o`` to voxels above ``-200`` HU only (air and lung keep their
  values, fat and everything denser move together, blended over ``[-300, -200]``);
- Gaussian noise with a standard deviation drawn from ``[0, noise_hu]`` HU (independent per voxel);
- with probability ``blur``, an in-plane Gaussian blur of ``sigma`` in ``[0.4, 1.0]`` pixels.

A lesion and its surroundings move together, so the contrast of a lesion to its organ scales with
``g`` and never flips sign. Randomness comes from the caller's generator; nothing is drawn when
every setting is zero.

Example:
    >>> import numpy as np
    >>> hu = np.array([[[-1000.0, 40.0, 140.0]]])
    >>> out = IntensityJitter(offset_hu=0.0, gain=0.0)(hu, np.random.default_rng(0))
    >>> out.tolist()
    [[[-1000.0, 40.0, 140.0]]]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

#: Soft tissue pivots around this value (HU): water-like tissue moves least under a gain.
PIVOT_HU = 40.0
#: Below LOW_HU nothing changes; above HIGH_HU the full gain and offset apply; linear between.
LOW_HU, HIGH_HU = -300.0, -200.0


@dataclass(frozen=True)
class IntensityJitter:
    """Random soft-tissue gain and offset, noise and blur of a ``(D, H, W)`` HU stack.

    Example:
        >>> import numpy as np
        >>> jitter = IntensityJitter(offset_hu=0.0, gain=0.5)
        >>> out = jitter(np.array([[[-900.0, 40.0, 100.0]]]), np.random.default_rng(3))
        >>> out[0, 0, :2].tolist(), bool(out[0, 0, 2] != 100.0)
        ([-900.0, 40.0], True)
    """

    offset_hu: float = 0.0
    gain: float = 0.0
    noise_hu: float = 0.0
    blur: float = 0.0

    @property
    def active(self) -> bool:
        """True when any setting is non-zero.

        Example:
            >>> IntensityJitter().active, IntensityJitter(noise_hu=5.0).active
            (False, True)
        """
        return bool(self.offset_hu or self.gain or self.noise_hu or self.blur)

    def __call__(self, hu: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The jittered stack (float32, a new array; ``hu`` is not changed).

        Example:
            >>> import numpy as np
            >>> out = IntensityJitter(offset_hu=30.0)(np.full((1, 2, 2), 60.0), np.random.default_rng(0))
            >>> bool(np.all(np.abs(out - 60.0) <= 30.0)) and bool(np.ptp(out) == 0.0)
            True
        """
        out = np.array(hu, dtype=np.float32, copy=True)
        if not self.active:
            return out
        g = float(rng.uniform(1.0 - self.gain, 1.0 + self.gain))
        o = float(rng.uniform(-self.offset_hu, self.offset_hu))
        sd = float(rng.uniform(0.0, self.noise_hu))
        blur = bool(rng.random() < self.blur)
        sigma = float(rng.uniform(0.4, 1.0))
        weight = np.clip((out - LOW_HU) / (HIGH_HU - LOW_HU), 0.0, 1.0)
        out += weight * ((PIVOT_HU + (out - PIVOT_HU) * g + o) - out)
        if sd > 0:
            out += rng.normal(0.0, sd, size=out.shape).astype(np.float32)
        if blur:
            out = gaussian_filter(out, sigma=(0.0, sigma, sigma), mode="nearest").astype(np.float32)
        return out
