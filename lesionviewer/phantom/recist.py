"""RECIST measurement of a lesion's cross-section on one slice: long axis, perpendicular short axis, box.

The long axis is the longest chord between two mask pixels (searched over the convex hull;
for the rectangle below it is the diagonal);
the short axis is the longest chord perpendicular to it, as a radiologist draws it.
Pixel coordinates are 0-based with pixel centres on integers; axis end points are pushed
half a pixel outwards so that a lesion ``n`` pixels across measures ``n`` pixels.

Example:
    >>> import numpy as np
    >>> m = np.zeros((20, 20), bool); m[5:10, 3:15] = True
    >>> a = measure_slice(m)
    >>> round(a.long_px, 1), round(a.short_px, 1), a.box
    (12.7, 5.4, (3.0, 5.0, 14.0, 9.0))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError


@dataclass(frozen=True)
class SliceMeasurement:
    """A lesion on one slice: tight box of its pixel centres ``(x1, y1, x2, y2)``, RECIST axes ``((x, y), (x, y))``, lengths in pixels, area.

    Example:
        >>> import numpy as np
        >>> m = np.zeros((5, 5), bool); m[2, 2] = True
        >>> measure_slice(m).area_px
        1
    """

    box: tuple[float, float, float, float]
    long_axis: tuple[tuple[float, float], tuple[float, float]]
    short_axis: tuple[tuple[float, float], tuple[float, float]]
    long_px: float
    short_px: float
    area_px: int

    def recist_box(self, padding: float = 0.0) -> tuple[float, float, float, float]:
        """The box around the four RECIST end points, grown by ``padding`` pixels (DeepLesion uses 5).

        Example:
            >>> import numpy as np
            >>> m = np.zeros((9, 9), bool); m[4, 2:7] = True
            >>> measure_slice(m).recist_box(5.0)
            (-3.5, -1.5, 11.5, 9.5)
        """
        pts = np.array([*self.long_axis, *self.short_axis], dtype=float)
        x1, y1 = pts.min(axis=0) - padding
        x2, y2 = pts.max(axis=0) + padding
        return (float(x1), float(y1), float(x2), float(y2))


def measure_slice(mask: np.ndarray) -> SliceMeasurement:
    """Box and RECIST axes of the True pixels of a 2-D ``mask`` (``ValueError`` when it is empty).

    Example:
        >>> import numpy as np
        >>> yy, xx = np.mgrid[:41, :41]
        >>> disc = (xx - 20) ** 2 + (yy - 20) ** 2 <= 15 ** 2
        >>> a = measure_slice(disc)
        >>> 30 <= a.long_px <= 32 and 29 <= a.short_px <= 32
        True
    """
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError("cannot measure an empty lesion mask")
    pts = np.stack([xs, ys], axis=1).astype(float)
    box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
    hull = _hull_points(pts)
    diff = hull[:, None, :] - hull[None, :, :]
    d2 = (diff**2).sum(-1)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    p, q = hull[i], hull[j]
    if d2[i, j] == 0:
        u = np.array([1.0, 0.0])
    else:
        u = (q - p) / np.sqrt(d2[i, j])
    v = np.array([-u[1], u[0]])
    # long axis: extend the centre-to-centre chord by half a pixel at each end
    long_a, long_b = p - 0.5 * u, q + 0.5 * u
    # short axis: for each 1-pixel-wide band across the long axis, the extent of the mask along v
    s = (pts - p) @ u
    t = (pts - p) @ v
    band = np.floor(s + 0.5).astype(int)
    order = np.argsort(band, kind="stable")
    band_sorted = band[order]
    t_sorted = t[order]
    starts = np.flatnonzero(np.r_[True, band_sorted[1:] != band_sorted[:-1]])
    t_min = np.minimum.reduceat(t_sorted, starts)
    t_max = np.maximum.reduceat(t_sorted, starts)
    k = int(np.argmax(t_max - t_min))
    s_mid = float(band_sorted[starts[k]])
    short_a = p + s_mid * u + (t_min[k] - 0.5) * v
    short_b = p + s_mid * u + (t_max[k] + 0.5) * v
    long_px = float(np.linalg.norm(long_b - long_a))
    short_px = float(np.linalg.norm(short_b - short_a))
    return SliceMeasurement(
        box=box,
        long_axis=((float(long_a[0]), float(long_a[1])), (float(long_b[0]), float(long_b[1]))),
        short_axis=((float(short_a[0]), float(short_a[1])), (float(short_b[0]), float(short_b[1]))),
        long_px=long_px,
        short_px=min(short_px, long_px),
        area_px=int(xs.size),
    )


def _hull_points(pts: np.ndarray) -> np.ndarray:
    if len(pts) < 4:
        return pts
    try:
        return pts[ConvexHull(pts).vertices]
    except QhullError:  # all points on a line
        return pts
