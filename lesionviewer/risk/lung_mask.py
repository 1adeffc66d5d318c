"""A coarse lung mask without a learned model: air threshold, connected components, morphology.

Steps, on a volume of roughly isotropic voxels:

1. Air-like voxels: HU below ``threshold`` (-400 by default: lung parenchyma is about -850,
   soft tissue above -100).
2. 3D connected components of that air. A component touching the in-plane edge of the image
   (left, right, front or back) is the air around the patient (or the scanner's padding outside
   the reconstruction circle) and is dropped. Touching the first or last slice is allowed: the
   lungs usually run past the scanned range.
3. Components smaller than ``min_fraction`` of the largest kept one (bowel gas, small air pockets)
   are dropped; the rest is closed (vessels and nodules inside the lung become lung) and its
   holes filled slice by slice.

The centre used for cropping is the centre of the mask's bounding box (as the ``lungs`` package
crops "around the center of the bounding box").

Example:
    >>> import numpy as np
    >>> hu = np.full((20, 40, 40), -1000, np.int16)
    >>> hu[:, 5:35, 3:37] = 40                                # a body
    >>> hu[2:18, 10:30, 5:15] = -850; hu[2:18, 10:30, 25:35] = -850   # two lungs, 15 mm apart
    >>> found = coarse_lung_mask(hu, spacing=(1.5, 1.5, 1.5))
    >>> found.num_components, round(found.volume_ml, 2), found.centre_index
    (2, 21.6, (9.5, 19.5, 19.5))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class LungMask:
    """The mask and what was found: components kept, volume in millilitres, bounding box and its centre.

    ``box`` is ``(z0, y0, x0, z1, y1, x1)`` in voxel indices (end exclusive); ``centre_index`` its
    centre. When no lung is found, ``mask`` is empty, ``box`` is None and the centre is the
    volume's centre.

    Example:
        >>> LungMask(np.zeros((2, 2, 2), bool), 0, 0.0, None, (0.5, 0.5, 0.5)).found
        False
    """

    mask: np.ndarray
    num_components: int
    volume_ml: float
    box: tuple[int, int, int, int, int, int] | None
    centre_index: tuple[float, float, float]

    @property
    def found(self) -> bool:
        """True when at least one lung-like component was kept.

        Example:
            >>> LungMask(np.ones((1, 1, 1), bool), 1, 0.001, (0, 0, 0, 1, 1, 1), (0.0, 0.0, 0.0)).found
            True
        """
        return self.num_components > 0


def coarse_lung_mask(hu: np.ndarray, spacing: tuple[float, float, float], threshold: float = -400.0,
                     min_fraction: float = 0.1, closing_mm: float = 6.0) -> LungMask:
    """Segment the lungs of a CT volume (HU, (z, y, x)) coarsely; see the module notes.

    Example:
        >>> coarse_lung_mask(np.full((4, 8, 8), 40, np.int16), (2.0, 1.0, 1.0)).found
        False
    """
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"expected a 3D volume (z, y, x), got shape {hu.shape}")
    air = hu < threshold
    labels, count = ndimage.label(air)
    if count:
        edge = np.zeros(count + 1, bool)
        for face in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
            edge[np.unique(face)] = True
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        sizes[0] = 0
        sizes[edge] = 0
        keep = sizes >= max(1, min_fraction * sizes.max()) if sizes.max() > 0 else np.zeros_like(edge)
        keep[0] = False
        mask = keep[labels]
        num = int(keep.sum())
    else:
        mask, num = np.zeros(hu.shape, bool), 0
    if num:
        radius = [max(1, int(round(closing_mm / 2 / s))) for s in spacing]
        structure = np.ones([2 * r + 1 for r in radius], bool)
        pad = [(r, r) for r in radius]
        # Pad before closing so the mask is not eroded where it meets the volume's edge.
        mask = ndimage.binary_closing(np.pad(mask, pad, mode="edge"), structure)[
            tuple(slice(r, -r) for r in radius)]
        mask = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    voxel_ml = float(np.prod(spacing)) / 1000.0
    if not mask.any():
        centre = tuple((n - 1) / 2.0 for n in hu.shape)
        return LungMask(mask, 0, 0.0, None, centre)
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hit = np.flatnonzero(mask.any(axis=other))
        box.append((int(hit[0]), int(hit[-1]) + 1))
    centre = tuple((lo + hi - 1) / 2.0 for lo, hi in box)
    return LungMask(mask, num, float(mask.sum()) * voxel_ml,
                    (box[0][0], box[1][0], box[2][0], box[0][1], box[1][1], box[2][1]), centre)
