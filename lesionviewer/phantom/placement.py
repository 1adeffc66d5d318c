"""Where a lesion may sit: a coarse label map of the whole patient, searched per anatomical site.

The patient is painted once on a 7 mm grid (no small vessels or bowel); each site is a rule
on that map - a lung nodule inside lung, a mediastinal node in mediastinal fat near the great
vessels or airways, an abdominal node in retroperitoneal fat near the aorta or cava - plus a
depth from the site's edge (a distance transform) so larger lesions sit deeper.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> finder = PlacementMap(a)
    >>> x, y, z = finder.find(np.random.default_rng(1), "liver", radius=8.0)
    >>> bool(a.dome_z(np.array([x]), np.array([y]))[0] > z)
    True
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from lesionviewer.phantom.anatomy import SCAN_LIMITS
from lesionviewer.phantom.canvas import Canvas
from lesionviewer.phantom.render import paint_anatomy
from lesionviewer.phantom.tissues import TISSUES

SITES = ("lung", "lung_interior", "liver", "kidney", "bone", "soft_tissue", "abdomen", "mediastinum", "pelvis", "spleen", "pancreas", "adrenal")


def _lab(*names: str) -> np.ndarray:
    return np.array([TISSUES[n].label for n in names], np.uint8)


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    """Index box around the True voxels of ``mask`` grown by ``margin`` voxels, or None when there are none."""
    if not mask.any():
        return None
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        box.append(slice(max(0, int(hit[0]) - margin), min(mask.shape[axis], int(hit[-1]) + margin + 1)))
    return tuple(box)


class PlacementMap:
    """A coarse label map of one patient and the rules that pick a lesion centre for a site.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> m = PlacementMap(sample_anatomy(np.random.default_rng(0)), step_mm=8.0)
        >>> m.labels.ndim
        3
    """

    def __init__(self, anatomy, step_mm: float = 7.0, z_range: tuple[float, float] | None = None):
        a = anatomy
        self.anatomy = a
        self.step = float(step_mm)
        lo, hi = z_range if z_range is not None else (SCAN_LIMITS[0] * a.scale, SCAN_LIMITS[1] * a.scale)
        zs = np.arange(lo, hi + 1e-3, self.step)
        ys = np.arange(a.centre_y - 170.0, a.centre_y + 160.0, self.step)
        xs = np.arange(a.centre_x - 250.0, a.centre_x + 250.0, self.step)
        canvas = Canvas(zs, ys, xs)
        paint_anatomy(canvas, a, detail=False)
        self.zs, self.ys, self.xs = canvas.zs, canvas.ys, canvas.xs
        self.labels = canvas.label
        self.z_window: tuple[float, float] | None = None
        self._depth: dict[str, np.ndarray] = {}

    def _z_slab(self, reach_mm: float) -> slice:
        """The z rows that can matter: the scan window (when set) grown by ``reach_mm``."""
        if self.z_window is None:
            return slice(0, len(self.zs))
        lo = int(np.searchsorted(self.zs, self.z_window[0] - reach_mm))
        hi = int(np.searchsorted(self.zs, self.z_window[1] + reach_mm, side="right"))
        return slice(lo, max(lo, hi))

    def _distance_to(self, names: tuple[str, ...], reach_mm: float = 50.0) -> np.ndarray:
        """Distance (mm) to the nearest voxel of ``names``; exact up to ``reach_mm``, infinite beyond the crop."""
        key = f"near:{','.join(names)}:{self.z_window}"
        if key not in self._depth:
            slab = self._z_slab(reach_mm)
            mask = np.isin(self.labels[slab], _lab(*names))
            out = np.full(self.labels.shape, np.inf, np.float32)
            crop = _bbox(mask, int(np.ceil(reach_mm / self.step)))
            if crop is not None:
                view = out[slab]
                view[crop] = ndimage.distance_transform_edt(~mask[crop], sampling=self.step)
            self._depth[key] = out
        return self._depth[key]

    def _depth_in(self, names: tuple[str, ...]) -> np.ndarray:
        """Distance (mm) from each voxel of ``names`` to the nearest voxel outside them (0 outside)."""
        key = f"in:{','.join(names)}:{self.z_window}"
        if key not in self._depth:
            slab = self._z_slab(100.0)
            mask = np.isin(self.labels[slab], _lab(*names))
            out = np.zeros(self.labels.shape, np.float32)
            crop = _bbox(mask, 1)
            if crop is not None:
                view = out[slab]
                view[crop] = ndimage.distance_transform_edt(np.pad(mask[crop], 1), sampling=self.step)[1:-1, 1:-1, 1:-1]
            self._depth[key] = out
        return self._depth[key]

    def candidates(self, site: str, radius: float) -> np.ndarray:
        """Boolean map of grid points where a lesion of ``radius`` mm may be centred at ``site``.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.phantom.anatomy import sample_anatomy
            >>> m = PlacementMap(sample_anatomy(np.random.default_rng(0)), step_mm=8.0)
            >>> bool(m.candidates("lung", 5.0).any())
            True
        """
        a = self.anatomy
        z = self.zs[:, None, None]
        s = a.scale
        if site == "lung":
            ok = self._depth_in(("lung",)) >= min(radius * 0.7, 12.0)
        elif site == "lung_interior":  # the whole ball of ``radius`` inside the lung parenchyma
            ok = self._depth_in(("lung",)) >= radius
        elif site == "liver":
            ok = self._depth_in(("liver",)) >= max(radius * 0.6, 4.0)
        elif site == "kidney":
            ok = self._depth_in(("kidney_cortex", "kidney_medulla", "fluid")) >= 3.0
            ok &= self._distance_to(("kidney_cortex",)) <= 6.0
        elif site == "spleen":
            ok = self._depth_in(("spleen",)) >= max(radius * 0.6, 4.0)
        elif site == "pancreas":
            ok = self._depth_in(("pancreas",)) >= 3.0
        elif site == "bone":
            ok = self._depth_in(("bone_marrow", "bone_cortical")) >= min(radius * 0.5, 6.0)
            ok &= np.isin(self.labels, _lab("bone_marrow"))
        elif site == "soft_tissue":
            ok = self._depth_in(("fat", "muscle", "skin")) >= max(radius * 0.5, 3.0)
            ok &= self._distance_to(("skin",)) > 2.0
        elif site == "mediastinum":
            ok = self._depth_in(("fat_mediastinal", "blood", "myocardium", "airway", "muscle")) >= radius * 0.5
            ok &= np.isin(self.labels, _lab("fat_mediastinal"))
            ok &= (self._distance_to(("blood",)) <= 25.0) | (self._distance_to(("airway",)) <= 25.0)
        elif site == "abdomen":
            ok = np.isin(self.labels, _lab("fat_visceral")) & (z < -30.0 * s) & (z > -270.0 * s)
            ok &= self._distance_to(("blood",)) <= 40.0
        elif site == "adrenal":
            ok = np.isin(self.labels, _lab("fat_visceral")) & (self._distance_to(("kidney_cortex",)) <= 20.0)
            ok &= self._distance_to(("liver", "spleen")) > 3.0
            ok &= z > -150.0 * s
        elif site == "pelvis":
            ok = np.isin(self.labels, _lab("fat_visceral", "muscle")) & (z < -290.0 * s)
            ok &= self._distance_to(("blood",)) <= 40.0
        else:
            raise ValueError(f"unknown lesion site {site!r}; known: {', '.join(SITES)}")
        if self.z_window is not None:
            lo, hi = self.z_window
            ok = ok & (z >= lo) & (z <= hi)
        return ok

    def find(self, rng: np.random.Generator, site: str, radius: float) -> tuple[float, float, float] | None:
        """A random centre ``(x, y, z)`` mm for a lesion of ``radius`` at ``site``, or None when none fits.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.phantom.anatomy import sample_anatomy
            >>> m = PlacementMap(sample_anatomy(np.random.default_rng(0)), step_mm=8.0)
            >>> m.find(np.random.default_rng(0), "liver", 500.0) is None
            True
        """
        ok = self.candidates(site, radius)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return None
        k = int(idx[rng.integers(idx.size)])
        iz, iy, ix = np.unravel_index(k, ok.shape)
        jitter = rng.uniform(-0.4, 0.4, 3) * self.step
        return (float(self.xs[ix] + jitter[0]), float(self.ys[iy] + jitter[1]), float(self.zs[iz] + jitter[2]))
