"""Look-alikes that are not lesions: gas pockets drawn into a host's abdomen as unlabelled background.

A detector trained on real anatomy with synthetic lesions learns what a lesion is from the lesions and
what it is not from everything else on the slice. Dark round blobs in the abdomen are mostly hypodense
lesions in that training, while on real abdominal CT most dark round blobs are gas in bowel loops. This
module draws such pockets inside the labelled stomach and bowel of hosts with organ labels
(TotalSegmentator's ids); a pocket never covers a labelled solid organ or vessel, nor bone or anything
enhanced above 180 HU. A host without labels gets none: tried first, "fat and soft tissue 20 mm inside the
body on a slice without lung" put pockets into unlabelled livers, neck and shoulder muscles (session 26).
Each is an irregular ellipsoid of gas (-1000 to -900 HU) 6-35 mm long with a 2-3 mm soft-tissue wall (the bowel wall, 10-60 HU), blended like a
lesion (``new = host + fraction * (value - smoothed host)``, so the host's noise grain runs through it).
Nothing is added to the ground truth: a pocket is background. A pocket never touches a lesion: its
footprint keeps ``clearance_mm`` from every synthetic lesion's voxels and stays off the keep-away mask
around the host's real lesions, so every box of the sample shows what it showed before.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.synthesis.tissue import TissueMaps
    >>> hu = np.full((5, 120, 120), -1000, np.int16); hu[:, 6:114, 6:114] = 30
    >>> labels = np.zeros(hu.shape, np.int16); labels[:, 20:100, 20:100] = 20  # a (large) colon
    >>> host = Volume(hu, (2.5, 0.8, 0.8))
    >>> slab = hu.copy()
    >>> pockets = insert_gas_pockets(slab, (0, 5), TissueMaps(host, labels), np.random.default_rng(0), 2, count=1)
    >>> len(pockets), int(slab[2].min()) < -850
    (1, True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lesionviewer.synthesis.insert import local_region
from lesionviewer.synthesis.shape import _smooth_field, ellipsoid_fraction, random_rotation
from lesionviewer.synthesis.texture import mottled_texture
from lesionviewer.synthesis.tissue import ABDOMINAL_ORGAN_LABELS, TissueMaps

#: Gas inside bowel (HU); the wall around it (HU) and its thickness (mm); the pocket's long axis (mm).
GAS_HU = (-1000.0, -900.0)
WALL_HU = (10.0, 60.0)
WALL_MM = (2.0, 3.0)
LONG_AXIS_MM = (6.0, 35.0)
#: Footprints keep this far from every synthetic lesion's voxels (mm).
CLEARANCE_MM = 5.0
#: No pocket covers voxels above this (bone, contrast-filled vessels).
BONE_OR_CONTRAST_HU = 180
#: TotalSegmentator "total" ids of the hollow organs that hold gas: stomach, small bowel, duodenum, colon.
BOWEL_LABELS = (6, 18, 19, 20)
#: The labelled organs and vessels no pocket may cover (every abdominal label but the bowel's).
SOLID_LABELS = tuple(i for i in ABDOMINAL_ORGAN_LABELS if i not in BOWEL_LABELS)


def pocket_room(maps: TissueMaps, z: int) -> np.ndarray:
    """Where a gas pocket may be centred on slice ``z``: labelled stomach or bowel with soft-tissue content, 2 px
    inside its edge, off the keep-away mask (none on a host without organ labels).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> hu = np.full((1, 90, 90), -1000, np.int16); hu[0, 5:85, 5:85] = 30
        >>> lab = np.zeros((1, 90, 90), np.int16); lab[0, 10:20, 40:50] = 20  # colon
        >>> room = pocket_room(TissueMaps(Volume(hu, (1.0, 1.0, 1.0)), lab), 0)
        >>> bool(room[15, 45]), bool(room[45, 45]), bool(pocket_room(TissueMaps(Volume(hu, (1.0, 1.0, 1.0))), 0).any())
        (True, False, False)
    """
    if maps.labels is None:
        return np.zeros(maps.hu.shape[1:], bool)
    hu = maps.hu[z]
    bowel = np.isin(maps.labels[z], BOWEL_LABELS) & (hu > -200) & (hu < 150)
    room = ndimage.binary_erosion(bowel, iterations=2)
    if maps.keep_away is not None:
        room &= ~maps.keep_away[z]
    return room


@dataclass(frozen=True)
class GasPocket:
    """One drawn pocket: its centre (key-slice row, column) in pixels and its long axis in mm.

    Example:
        >>> GasPocket(10, 12, 8.0).long_axis_mm
        8.0
    """

    row: int
    column: int
    long_axis_mm: float


def insert_gas_pockets(hu_slab: np.ndarray, z_range: tuple[int, int], maps: TissueMaps, rng: np.random.Generator,
                       key_slice: int, count: int, lesion_mask: np.ndarray | None = None,
                       clearance_mm: float = CLEARANCE_MM, max_tries: int = 10) -> list[GasPocket]:
    """Draw up to ``count`` gas pockets across ``key_slice`` into ``hu_slab`` (the host's slices ``z_range``), in place.

    ``lesion_mask`` (bool, the slab's shape) marks the sample's lesions; no pocket comes within
    ``clearance_mm`` of them. Returns the pockets drawn (fewer than ``count`` where the slice has no
    room left in labelled bowel; on a host without organ labels none).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.synthesis.tissue import TissueMaps
        >>> hu = np.full((3, 64, 64), -1000, np.int16); hu[:, 4:60, 4:60] = 30  # no organ labels: no room
        >>> insert_gas_pockets(hu.copy(), (0, 3), TissueMaps(Volume(hu, (2.5, 1, 1))), np.random.default_rng(0), 1, 2)
        []
    """
    if count <= 0:
        return []
    dz, dy, dx = maps.spacing
    z0s, z1s = int(z_range[0]), int(z_range[1])
    if hu_slab.shape[0] != z1s - z0s:
        raise ValueError(f"the slab has {hu_slab.shape[0]} slices but z_range {z_range} spans {z1s - z0s}")
    room = pocket_room(maps, key_slice)
    if not room.any():
        return []
    forbidden = np.zeros(hu_slab.shape, bool)
    if lesion_mask is not None and lesion_mask.any():
        forbidden = _grown(lesion_mask, [max(1, int(np.ceil(clearance_mm / s))) for s in (dz, dy, dx)])
    if maps.keep_away is not None:
        forbidden |= maps.keep_away[z0s:z1s]
    if maps.labels is not None:
        forbidden |= np.isin(maps.labels[z0s:z1s], SOLID_LABELS)
    forbidden |= hu_slab > BONE_OR_CONTRAST_HU  # bone and enhanced vessels, labelled or not
    pockets: list[GasPocket] = []
    tries = 0
    while len(pockets) < count and tries < max_tries and room.any():
        tries += 1
        long_mm = float(np.exp(rng.uniform(np.log(LONG_AXIS_MM[0]), np.log(LONG_AXIS_MM[1]))))
        candidates = np.flatnonzero(room)
        cy, cx = np.unravel_index(int(candidates[rng.integers(len(candidates))]), room.shape)
        drawn = _draw_one(hu_slab, (z0s, z1s), maps, rng, key_slice, int(cy), int(cx), long_mm, forbidden)
        if drawn is None:
            continue
        footprint_box, footprint = drawn
        forbidden[footprint_box] |= footprint
        clear_px = (long_mm / 2.0 + clearance_mm) / min(dy, dx)
        yy, xx = np.ogrid[:room.shape[0], :room.shape[1]]
        room &= (yy - cy) ** 2 + (xx - cx) ** 2 > clear_px ** 2
        pockets.append(GasPocket(int(cy), int(cx), long_mm))
    return pockets


def _grown(mask: np.ndarray, reach: list[int]) -> np.ndarray:
    """``mask`` grown by ``reach`` voxels along each axis (a box), worked out only around where it is set."""
    grown = np.zeros_like(mask)
    where = np.nonzero(mask)
    box = tuple(slice(max(0, int(w.min()) - r), min(n, int(w.max()) + r + 1))
                for w, r, n in zip(where, reach, mask.shape))
    grown[box] = ndimage.maximum_filter(mask[box], size=[2 * r + 1 for r in reach])
    return grown


def _draw_one(hu_slab: np.ndarray, z_range: tuple[int, int], maps: TissueMaps, rng: np.random.Generator,
              key: int, cy: int, cx: int, long_mm: float, forbidden: np.ndarray):
    """One pocket centred at (key, cy, cx), written into ``hu_slab`` unless its footprint meets ``forbidden``.

    Returns ``(index of the local box in the slab, footprint)`` or None when it would touch what it must not.
    """
    a = long_mm / 2.0
    b = a * float(rng.uniform(0.5, 1.0))
    c = float(rng.uniform(0.6 * b, a))
    wall_mm = float(rng.uniform(*WALL_MM))
    irregularity = float(rng.uniform(0.05, 0.3))
    reach = a * (1.0 + 3.0 * irregularity) * 1.15 + wall_mm + 2.0
    (z0, y0, x0, z1, y1, x1), grid = local_region(maps, z_range, (key, cy, cx), reach)
    rotation = random_rotation(rng)
    deform = _smooth_field(rng)
    axes = np.array([c, a, b])
    gas = ellipsoid_fraction(grid, axes, rotation, irregularity, rng, field=deform)
    outer = ellipsoid_fraction(grid, axes, rotation, irregularity, rng, scale=1.0 + wall_mm / b, field=deform)
    inside = np.stack([maps.body(z) for z in range(z0, z1)])[:, y0:y1, x0:x1]
    gas, outer = gas * inside, outer * inside
    footprint = outer > 0  # every voxel the pocket changes (the fractions are multiples of 1/4)
    box = (slice(z0 - z_range[0], z1 - z_range[0]), slice(y0, y1), slice(x0, x1))
    if not (gas >= 0.5).any() or (footprint & forbidden[box]).any():
        return None
    local = hu_slab[box].astype(np.float32)
    smooth = ndimage.gaussian_filter(local, [0, 1.2, 1.2])
    gas_value = float(rng.uniform(*GAS_HU)) + mottled_texture(gas.shape, maps.spacing, 2.0, 8.0, rng)
    wall_value = float(rng.uniform(*WALL_HU))
    wall = np.clip(outer - gas, 0.0, 1.0)
    new = local + gas * (gas_value - smooth) + wall * (wall_value - smooth)
    hu_slab[box] = np.clip(np.rint(new), -1024, 3071).astype(hu_slab.dtype)
    return box, footprint
