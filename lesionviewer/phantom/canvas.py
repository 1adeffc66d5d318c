"""The block of fine voxels the phantom is painted on, and the shape tests that paint into it.

Coordinates are the phantom's anatomical millimetres: ``x`` towards the patient's left,
``y`` towards the back, ``z`` towards the head (DICOM LPS). A :class:`Canvas` holds an HU
block and a tissue-label block for a run of fine sub-slices; each structure paints only
inside the crop its bounding box selects, which is what keeps a 512 x 512 volume fast.

Example:
    >>> import numpy as np
    >>> c = Canvas(np.array([0.0]), np.arange(-5.0, 6.0), np.arange(-5.0, 6.0), fill_hu=-1000)
    >>> region = c.region((-2, 2, -2, 2, -1, 1))
    >>> inside = region.ellipsoid((0, 0, 0), (2.5, 2.5, 2.5))
    >>> region.paint(inside, 40.0, label=3)
    >>> int((c.hu == 40).sum()), int(c.label.max())
    (21, 3)
"""
from __future__ import annotations

import numpy as np


class Canvas:
    """HU and label blocks over the grid ``zs x ys x xs`` (1-D coordinate arrays in mm).

    Example:
        >>> import numpy as np
        >>> c = Canvas(np.zeros(2), np.zeros(3), np.zeros(4), fill_hu=-1000)
        >>> c.hu.shape, float(c.hu[0, 0, 0])
        ((2, 3, 4), -1000.0)
    """

    def __init__(self, zs: np.ndarray, ys: np.ndarray, xs: np.ndarray, fill_hu: float = -1000.0):
        self.zs = np.asarray(zs, dtype=np.float32)
        self.ys = np.asarray(ys, dtype=np.float32)
        self.xs = np.asarray(xs, dtype=np.float32)
        shape = (self.zs.size, self.ys.size, self.xs.size)
        self.hu = np.full(shape, fill_hu, dtype=np.float32)
        self.label = np.zeros(shape, dtype=np.uint8)
        # per-canvas results shared between painters (e.g. the body outline's radius maps)
        self.cache: dict = {}

    def region(self, bbox: tuple[float, float, float, float, float, float]) -> "Region":
        """The crop of this canvas inside ``bbox = (x0, x1, y0, y1, z0, z1)`` in mm (may be empty).

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.arange(4.0), np.arange(4.0), np.arange(4.0))
            >>> c.region((1, 2, 0, 9, 3, 3)).shape
            (1, 4, 2)
        """
        x0, x1, y0, y1, z0, z1 = bbox
        sz = _index_span(self.zs, z0, z1)
        sy = _index_span(self.ys, y0, y1)
        sx = _index_span(self.xs, x0, x1)
        return Region(self, sz, sy, sx)


class Region:
    """A rectangular crop of a :class:`Canvas` with broadcastable coordinate arrays ``z, y, x``.

    Example:
        >>> import numpy as np
        >>> c = Canvas(np.arange(3.0), np.arange(3.0), np.arange(3.0))
        >>> r = c.region((0, 2, 0, 2, 1, 1))
        >>> r.z.shape, r.y.shape, r.x.shape
        ((1, 1, 1), (1, 3, 1), (1, 1, 3))
    """

    def __init__(self, canvas: Canvas, sz: slice, sy: slice, sx: slice):
        self.canvas = canvas
        self.index = (sz, sy, sx)
        self.z = canvas.zs[sz][:, None, None]
        self.y = canvas.ys[sy][None, :, None]
        self.x = canvas.xs[sx][None, None, :]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the crop.

        Example:
            >>> import numpy as np
            >>> Canvas(np.arange(2.0), np.arange(3.0), np.arange(4.0)).region((0, 9, 0, 9, 0, 9)).shape
            (2, 3, 4)
        """
        return (self.z.shape[0], self.y.shape[1], self.x.shape[2])

    @property
    def empty(self) -> bool:
        """True when the crop holds no voxel.

        Example:
            >>> import numpy as np
            >>> Canvas(np.arange(2.0), np.arange(3.0), np.arange(4.0)).region((50, 60, 0, 9, 0, 9)).empty
            True
        """
        return 0 in self.shape

    @property
    def hu(self) -> np.ndarray:
        """View of the canvas HU inside the crop.

        Example:
            >>> import numpy as np
            >>> Canvas(np.arange(2.0), np.arange(3.0), np.arange(4.0), -5).region((0, 1, 0, 1, 0, 1)).hu.max()
            np.float32(-5.0)
        """
        return self.canvas.hu[self.index]

    @property
    def label(self) -> np.ndarray:
        """View of the canvas labels inside the crop.

        Example:
            >>> import numpy as np
            >>> Canvas(np.arange(2.0), np.arange(3.0), np.arange(4.0)).region((0, 1, 0, 1, 0, 1)).label.shape
            (2, 2, 2)
        """
        return self.canvas.label[self.index]

    def paint(self, mask: np.ndarray, hu: float | np.ndarray, label: int | None = None) -> None:
        """Set HU (a number or an array broadcastable to the crop) and optionally the label where ``mask``.

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.zeros(1), np.arange(3.0), np.arange(3.0))
            >>> r = c.region((0, 0, 0, 2, 0, 0))
            >>> r.paint(np.ones(r.shape, bool), 7.0, label=1)
            >>> c.hu[0, :, 0].tolist(), int(c.label.sum())
            ([7.0, 7.0, 7.0], 3)
        """
        if self.empty:
            return
        mask = np.broadcast_to(mask, self.shape)
        block = self.canvas.hu[self.index]
        if np.ndim(hu) == 0:
            block[mask] = hu
        else:
            block[mask] = np.broadcast_to(hu, self.shape)[mask]
        if label is not None:
            self.canvas.label[self.index][mask] = label

    def ellipsoid(self, centre, radii, rotation: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of the ellipsoid with ``centre`` (x, y, z), ``radii`` and optional 3x3 rotation.

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.zeros(1), np.arange(-3.0, 4.0), np.arange(-3.0, 4.0))
            >>> int(c.region((-3, 3, -3, 3, 0, 0)).ellipsoid((0, 0, 0), (3.0, 1.0, 1.0)).sum())
            9
        """
        return self.ellipsoid_radius(centre, radii, rotation) <= 1.0

    def ellipsoid_radius(self, centre, radii, rotation: np.ndarray | None = None) -> np.ndarray:
        """Normalised ellipsoidal radius (1 on the surface) of every voxel of the crop.

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.zeros(1), np.zeros(1), np.array([0.0, 2.0]))
            >>> c.region((0, 2, 0, 0, 0, 0)).ellipsoid_radius((0, 0, 0), (4, 4, 4)).ravel().tolist()
            [0.0, 0.5]
        """
        dx = self.x - np.float32(centre[0])
        dy = self.y - np.float32(centre[1])
        dz = self.z - np.float32(centre[2])
        if rotation is not None:
            r = np.asarray(rotation, dtype=np.float32)
            # rows of the rotation are the ellipsoid's axes in patient space
            u = r[0, 0] * dx + r[0, 1] * dy + r[0, 2] * dz
            v = r[1, 0] * dx + r[1, 1] * dy + r[1, 2] * dz
            w = r[2, 0] * dx + r[2, 1] * dy + r[2, 2] * dz
            dx, dy, dz = u, v, w
        q = (dx / np.float32(radii[0])) ** 2 + (dy / np.float32(radii[1])) ** 2 + (dz / np.float32(radii[2])) ** 2
        return np.sqrt(q)

    def lobulated_radius(self, centre, radii, rotation: np.ndarray | None, lobes) -> np.ndarray:
        """Like :meth:`ellipsoid_radius`, with the surface pushed in and out by cosine ``lobes``.

        Each lobe is ``(nx, ny, nz, frequency, phase, amplitude)``: along the unit direction ``u``
        (in the ellipsoid's normalised frame) the surface sits at ``1 + sum(a * cos(pi * f * n.u + phase))``.

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.zeros(1), np.zeros(1), np.array([0.0, 5.0]))
            >>> r = c.region((0, 5, 0, 0, 0, 0))
            >>> [round(float(v), 3) for v in r.lobulated_radius((0, 0, 0), (10, 10, 10), None, [(1, 0, 0, 1.0, 0.0, 0.25)]).ravel()]
            [0.0, 0.667]
        """
        dx = self.x - np.float32(centre[0])
        dy = self.y - np.float32(centre[1])
        dz = self.z - np.float32(centre[2])
        if rotation is not None:
            r = np.asarray(rotation, dtype=np.float32)
            dx, dy, dz = (r[i, 0] * dx + r[i, 1] * dy + r[i, 2] * dz for i in range(3))
        lx, ly, lz = dx / np.float32(radii[0]), dy / np.float32(radii[1]), dz / np.float32(radii[2])
        q = np.sqrt(lx * lx + ly * ly + lz * lz)
        safe = np.maximum(q, np.float32(1e-6))
        shape = np.ones_like(q)
        for nx, ny, nz, freq, phase, amp in lobes:
            proj = (np.float32(nx) * lx + np.float32(ny) * ly + np.float32(nz) * lz) / safe
            shape = shape + np.float32(amp) * np.cos(np.float32(np.pi * freq) * proj + np.float32(phase))
        return q / shape

    def capsule_distance(self, p0, p1) -> np.ndarray:
        """Distance in mm of every voxel of the crop to the segment ``p0``-``p1`` (x, y, z).

        Example:
            >>> import numpy as np
            >>> c = Canvas(np.zeros(1), np.zeros(1), np.array([-2.0, 0.0, 5.0, 9.0]))
            >>> c.region((-9, 9, 0, 0, 0, 0)).capsule_distance((0, 0, 0), (5, 0, 0)).ravel().tolist()
            [2.0, 0.0, 0.0, 4.0]
        """
        p0 = np.asarray(p0, dtype=np.float32)
        d = np.asarray(p1, dtype=np.float32) - p0
        length2 = float(d @ d) or 1e-6
        ax = self.x - p0[0]
        ay = self.y - p0[1]
        az = self.z - p0[2]
        t = np.clip((ax * d[0] + ay * d[1] + az * d[2]) / np.float32(length2), 0.0, 1.0)
        ex = ax - t * d[0]
        ey = ay - t * d[1]
        ez = az - t * d[2]
        return np.sqrt(ex * ex + ey * ey + ez * ez)


def _index_span(coords: np.ndarray, lo: float, hi: float) -> slice:
    """Index slice of the sorted coordinates that fall within ``[lo, hi]``."""
    start = int(np.searchsorted(coords, lo, side="left"))
    stop = int(np.searchsorted(coords, hi, side="right"))
    return slice(start, max(start, stop))


def rotation_matrix(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation whose rows are a body's axes: ``yaw`` about z, then ``pitch`` about y, ``roll`` about x (radians).

    Example:
        >>> import numpy as np
        >>> np.round(rotation_matrix(np.pi / 2) @ np.array([1.0, 0.0, 0.0]), 6).tolist()
        [0.0, -1.0, 0.0]
    """
    cz, sz = np.cos(yaw), np.sin(yaw)
    cy, sy = np.cos(pitch), np.sin(pitch)
    cx, sx = np.cos(roll), np.sin(roll)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return (rz @ ry @ rx).T
