"""A lesion's shape: an elastically deformed ellipsoid, as a partial-volume fraction per voxel.

The ellipsoid (semi-axes in mm, a random orientation) has its surface pushed in and out by a smooth
random field (the elastic deformation of Hu et al.). Each voxel's fraction is the share of points
spread over its slice thickness (and, on request, an in-plane grid) that fall inside: a thick slice
through the edge of a lesion shows it faint and blurred, as a real scanner does.

Example:
    >>> import numpy as np
    >>> grid = LocalGrid(z_mm=np.array([0.0]), y_mm=np.arange(-10.0, 11.0), x_mm=np.arange(-10.0, 11.0),
    ...                  thickness_mm=1.0)
    >>> occ = ellipsoid_fraction(grid, (5.0, 5.0, 5.0), np.eye(3), irregularity=0.0,
    ...                          rng=np.random.default_rng(0))
    >>> float(occ[0, 10, 10]), float(occ[0, 0, 0])
    (1.0, 0.0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class LocalGrid:
    """Voxel centres of a local box, in mm relative to the lesion centre (z, y, x), and the slice thickness.

    Example:
        >>> import numpy as np
        >>> LocalGrid(np.zeros(2), np.zeros(3), np.zeros(4), 2.0).shape
        (2, 3, 4)
    """

    z_mm: np.ndarray
    y_mm: np.ndarray
    x_mm: np.ndarray
    thickness_mm: float

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(z, y, x)`` size.

        Example:
            >>> import numpy as np
            >>> LocalGrid(np.zeros(1), np.zeros(5), np.zeros(6), 1.0).shape
            (1, 5, 6)
        """
        return (len(self.z_mm), len(self.y_mm), len(self.x_mm))


def random_rotation(rng: np.random.Generator, max_tilt_deg: float = 20.0) -> np.ndarray:
    """A rotation: any angle in the axial plane, a tilt of at most ``max_tilt_deg`` out of it.

    Example:
        >>> import numpy as np
        >>> r = random_rotation(np.random.default_rng(0))
        >>> bool(np.allclose(r @ r.T, np.eye(3)))
        True
    """
    yaw = rng.uniform(0, 2 * np.pi)
    tilt = np.deg2rad(rng.uniform(-max_tilt_deg, max_tilt_deg))
    cy, sy, ct, st = np.cos(yaw), np.sin(yaw), np.cos(tilt), np.sin(tilt)
    # axes order (z, y, x): yaw turns y-x, tilt turns z-y
    yaw_m = np.array([[1, 0, 0], [0, cy, -sy], [0, sy, cy]])
    tilt_m = np.array([[ct, -st, 0], [st, ct, 0], [0, 0, 1]])
    return tilt_m @ yaw_m


def _smooth_field(rng: np.random.Generator, size: int = 9, sigma: float = 1.5) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal((size, size, size)), sigma, mode="wrap")
    return field / max(float(field.std()), 1e-6)


def ellipsoid_fraction(grid: LocalGrid, semi_axes_mm: tuple[float, float, float] | np.ndarray, rotation: np.ndarray,
                       irregularity: float, rng: np.random.Generator, scale: float = 1.0,
                       field: np.ndarray | None = None, z_samples: int = 4, in_plane_samples: int = 1) -> np.ndarray:
    """The fraction (0..1) of each voxel of ``grid`` inside the deformed ellipsoid.

    ``semi_axes_mm`` are (z, y, x) before ``rotation``; ``scale`` grows the whole shape (for a
    capsule or a core); ``field`` is the deformation (drawn from ``rng`` when None) so a scaled
    copy keeps the same margin.

    Example:
        >>> import numpy as np
        >>> g = LocalGrid(np.array([-4.0, 0.0, 4.0]), np.arange(-6.0, 7.0), np.arange(-6.0, 7.0), 4.0)
        >>> occ = ellipsoid_fraction(g, (4.0, 4.0, 4.0), np.eye(3), 0.0, np.random.default_rng(0))
        >>> float(occ[1].max()), 0.0 < float(occ[0].max()) < 1.0
        (1.0, True)
    """
    if field is None:
        field = _smooth_field(rng)
    axes = np.asarray(semi_axes_mm, float) * float(scale)
    offsets_z = (np.arange(z_samples) + 0.5) / z_samples - 0.5
    dy = float(np.median(np.diff(grid.y_mm))) if len(grid.y_mm) > 1 else 1.0
    dx = float(np.median(np.diff(grid.x_mm))) if len(grid.x_mm) > 1 else 1.0
    total = np.zeros(grid.shape, np.float32)
    count = 0
    in_plane = (np.arange(in_plane_samples) + 0.5) / in_plane_samples - 0.5
    for oz in offsets_z * grid.thickness_mm:
        for oy in in_plane * dy:
            for ox in in_plane * dx:
                z, y, x = np.meshgrid(grid.z_mm + oz, grid.y_mm + oy, grid.x_mm + ox, indexing="ij")
                points = np.stack([z, y, x], axis=-1) @ rotation  # into the lesion's own frame
                q = points / axes
                rho = np.sqrt((q ** 2).sum(-1))
                if irregularity > 0:
                    # the field is indexed by the unit direction, so the margin deforms smoothly
                    unit = q / np.maximum(rho[..., None], 1e-6)
                    coords = (unit + 1.0) * 0.5 * (field.shape[0] - 1)
                    bump = ndimage.map_coordinates(field, coords.reshape(-1, 3).T, order=1, mode="nearest")
                    rho = rho / (1.0 + irregularity * bump.reshape(rho.shape))
                total += rho <= 1.0
                count += 1
    return total / count
