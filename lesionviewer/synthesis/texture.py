"""A lesion's inner texture: filtered noise, sparsely resampled so it looks mottled rather than flat.

After Hu et al.: uniform noise smoothed by a Gaussian, then a random subset of voxels kept and
smoothed again; the result has zero mean and the requested standard deviation.

Example:
    >>> import numpy as np
    >>> t = mottled_texture((3, 32, 32), (2.0, 0.8, 0.8), 2.0, 10.0, np.random.default_rng(0))
    >>> round(float(t.std()), 1), abs(float(t.mean())) < 1e-3
    (10.0, True)
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def mottled_texture(shape: tuple[int, int, int], spacing_mm: tuple[float, float, float], scale_mm: float,
                    std_hu: float, rng: np.random.Generator, keep_fraction: float = 0.4) -> np.ndarray:
    """A ``shape`` array of zero-mean texture with standard deviation ``std_hu`` and grain ``scale_mm``.

    Example:
        >>> import numpy as np
        >>> mottled_texture((1, 8, 8), (1.0, 1.0, 1.0), 1.0, 0.0, np.random.default_rng(0)).max()
        np.float32(0.0)
    """
    if std_hu <= 0:
        return np.zeros(shape, np.float32)
    sigma = [max(scale_mm / s, 0.3) for s in spacing_mm]
    base = ndimage.gaussian_filter(rng.uniform(-1.0, 1.0, shape), sigma)
    keep = rng.random(shape) < keep_fraction
    sparse = ndimage.gaussian_filter(base * keep, [s * 0.5 for s in sigma])
    out = sparse - sparse.mean()
    std = float(out.std())
    return (out * (std_hu / std)).astype(np.float32) if std > 0 else np.zeros(shape, np.float32)
