"""Insert synthetic lesions into a real CT volume and measure them as DeepLesion would.

Each lesion gets a type (DeepLesion's mix, limited to what the host can hold), a size (the real
long-axis distribution), a centre inside its tissue (deep enough for its short axis, away from
earlier lesions), a shape (:mod:`.shape`), a look (:mod:`.appearance`) and a texture
(:mod:`.texture`). Blending keeps the scanner: ``new = host + fraction * (lesion - smoothed host)``,
so the host's own noise grain runs through the lesion; mass effect warps the tissue around it
first. Ground truth is exact: the voxels at least half inside, their RECIST axes per slice
(``lesionviewer.phantom.recist``), DeepLesion boxes (RECIST end points + 5 px), the key slice
(largest long axis). A lesion that does not stand out of its surroundings is not inserted
(:mod:`.visibility`: real annotated lesions are ones a radiologist saw); another is drawn instead.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> hu = np.full((9, 96, 96), -1000, np.int16); hu[:, 8:88, 8:88] = 50
    >>> host = Volume(hu, (2.0, 0.8, 0.8))
    >>> result = insert_lesions(host, TissueMaps(host), np.random.default_rng(3), count=1, types=[7])
    >>> lesion = result.lesions[0]
    >>> lesion.type_code, bool(result.mask()[lesion.key_slice].any())
    (7, True)
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from lesionviewer.phantom.recist import SliceMeasurement, measure_slice
from lesionviewer.synthesis.appearance import sample_appearance
from lesionviewer.synthesis.shape import LocalGrid, ellipsoid_fraction, random_rotation, _smooth_field
from lesionviewer.synthesis.statistics import sample_long_axis_mm, type_weights
from lesionviewer.synthesis.texture import mottled_texture
from lesionviewer.synthesis.tissue import TissueMaps
from lesionviewer.synthesis.visibility import MIN_CONTRAST_HU, MIN_CONTRAST_TO_NOISE, is_visible

if TYPE_CHECKING:
    from lesionviewer.io.volume import Volume

DEEPLESION_BOX_PADDING_PX = 5.0

#: Placement pixels a slice needs for a lesion type to be drawn there.
MIN_PLACEMENT_PIXELS = 30


@dataclass
class SyntheticLesion:
    """One inserted lesion and its exact ground truth (global voxel indices).

    Example:
        >>> import numpy as np
        >>> m = np.zeros((1, 4, 4), bool); m[0, 1:3, 1:3] = True
        >>> les = SyntheticLesion(7, "mass", (0.0, 1.5, 1.5), 2.0, (0, 0, 0), m, {}, 0, 30.0, 40.0)
        >>> les.mask_box
        (0, 0, 0, 1, 4, 4)
    """

    type_code: int
    subtype: str
    centre_index: tuple[float, float, float]
    long_axis_mm: float
    offset: tuple[int, int, int]
    mask: np.ndarray
    slices: dict[int, SliceMeasurement]
    key_slice: int
    mean_hu: float
    reference_hu: float
    box_padding_px: float = DEEPLESION_BOX_PADDING_PX

    @property
    def mask_box(self) -> tuple[int, int, int, int, int, int]:
        """``(z0, y0, x0, z1, y1, x1)`` of the local mask in the volume (end exclusive).

        Example:
            >>> import numpy as np
            >>> SyntheticLesion(1, "lytic", (0, 0, 0), 5.0, (2, 3, 4), np.zeros((1, 2, 2), bool), {}, 2,
            ...                 0.0, 0.0).mask_box
            (2, 3, 4, 3, 5, 6)
        """
        z, y, x = self.offset
        d, h, w = self.mask.shape
        return (z, y, x, z + d, y + h, x + w)

    def box(self, slice_index: int) -> tuple[float, float, float, float] | None:
        """The DeepLesion box (RECIST end points + padding, 0-based pixels) on ``slice_index``, or None.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.phantom.recist import measure_slice
            >>> m = np.zeros((9, 9), bool); m[4, 2:7] = True
            >>> les = SyntheticLesion(7, "mass", (0, 4, 4), 5.0, (0, 0, 0), m[None], {0: measure_slice(m)}, 0, 0, 0)
            >>> les.box(0), les.box(1)
            ((-3.5, -1.5, 11.5, 9.5), None)
        """
        m = self.slices.get(int(slice_index))
        return None if m is None else m.recist_box(self.box_padding_px)


@dataclass
class SynthesisResult:
    """The host's slices ``z_range`` with lesions inserted, and the lesions.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> r = SynthesisResult(Volume(np.zeros((3, 2, 2), np.int16), (1, 1, 1)), np.ones((1, 2, 2), np.int16), (1, 2))
        >>> r.volume().hu[:, 0, 0].tolist()
        [0, 1, 0]
    """

    host: Volume
    hu: np.ndarray
    z_range: tuple[int, int]
    lesions: list[SyntheticLesion] = field(default_factory=list)

    def volume(self):
        """A new :class:`~lesionviewer.io.Volume`: the host with the changed slices put in.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> host = Volume(np.zeros((3, 2, 2), np.int16), (2.0, 1.0, 1.0), meta={"a": 1})
            >>> v = SynthesisResult(host, np.full((1, 2, 2), 7, np.int16), (2, 3)).volume()
            >>> v.hu[:, 0, 0].tolist(), v.spacing, v.meta, host.hu.max()
            ([0, 0, 7], (2.0, 1.0, 1.0), {'a': 1}, np.int16(0))
        """
        hu = self.host.hu.copy()
        hu[self.z_range[0]:self.z_range[1]] = self.hu
        return dataclasses.replace(self.host, hu=hu, meta=dict(self.host.meta), warnings=list(self.host.warnings))

    def mask(self) -> np.ndarray:
        """A label volume over the whole host: 0 background, ``i + 1`` for lesion ``i``.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> SynthesisResult(Volume(np.zeros((2, 2, 2), np.int16), (1, 1, 1)), np.zeros((2, 2, 2), np.int16),
            ...                 (0, 2)).mask().max()
            np.uint8(0)
        """
        out = np.zeros(self.host.hu.shape, np.uint8)
        for i, lesion in enumerate(self.lesions):
            z0, y0, x0, z1, y1, x1 = lesion.mask_box
            region = out[z0:z1, y0:y1, x0:x1]
            region[lesion.mask & (region == 0)] = i + 1
        return out


def _choose_centre(rng: np.random.Generator, maps: TissueMaps, z: int, type_code: int, short_mm: float,
                   taken: list[tuple[float, float, float]]) -> tuple[int, int] | None:
    place = maps.placement(z, type_code)
    if not place.any():
        return None
    depth = ndimage.distance_transform_edt(place, sampling=maps.spacing[1:])
    ok = depth >= 0.7 * short_mm / 2.0
    if taken:
        yy, xx = np.mgrid[:place.shape[0], :place.shape[1]]
        for (cy, cx, reach_px) in taken:
            ok &= (yy - cy) ** 2 + (xx - cx) ** 2 > reach_px ** 2
    candidates = np.flatnonzero(ok)
    if candidates.size == 0:
        return None
    y, x = np.unravel_index(int(rng.choice(candidates)), place.shape)
    return int(y), int(x)


def _mass_effect(local: np.ndarray, grid: LocalGrid, semi_axes: np.ndarray, rotation: np.ndarray,
                 strength: float) -> np.ndarray:
    """Push the tissue around the lesion outwards (in-plane), fading within about one radius."""
    if strength <= 0:
        return local
    dy = float(np.median(np.diff(grid.y_mm))) if len(grid.y_mm) > 1 else 1.0
    dx = float(np.median(np.diff(grid.x_mm))) if len(grid.x_mm) > 1 else 1.0
    out = np.empty_like(local, dtype=np.float32)
    yy, xx = np.meshgrid(grid.y_mm, grid.x_mm, indexing="ij")
    for k, z in enumerate(grid.z_mm):
        q = (np.stack([np.full_like(yy, z), yy, xx], -1) @ rotation) / semi_axes
        rho = np.sqrt((q ** 2).sum(-1))
        pull = np.where(rho > 1.0, strength * np.exp(-((rho - 1.0) / 0.8) ** 2), strength)
        src_y = (yy * (1.0 - pull) - grid.y_mm[0]) / dy
        src_x = (xx * (1.0 - pull) - grid.x_mm[0]) / dx
        out[k] = ndimage.map_coordinates(local[k].astype(np.float32), [src_y, src_x], order=1, mode="nearest")
    return out


def local_region(maps: TissueMaps, z_range: tuple[int, int], centre: tuple[int, int, int], reach_mm: float,
                 z_offset_mm: float = 0.0) -> tuple[tuple[int, int, int, int, int, int], LocalGrid]:
    """The box of voxels within ``reach_mm`` of ``centre`` (key slice, row, column), cut to the image and to the
    slices ``z_range``, as ``(z0, y0, x0, z1, y1, x1)`` (end exclusive), and its :class:`LocalGrid` in mm from the
    centre (moved ``z_offset_mm`` along z; the host's slice thickness, at least its slice step).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> maps = TissueMaps(Volume(np.zeros((5, 20, 20), np.int16), (2.0, 1.0, 1.0)))
        >>> box, grid = local_region(maps, (1, 5), (2, 0, 10), 2.5)
        >>> box, grid.z_mm.tolist(), grid.y_mm.tolist()
        ((1, 0, 7, 5, 4, 14), [-2.0, 0.0, 2.0, 4.0], [0.0, 1.0, 2.0, 3.0])
    """
    dz, dy, dx = maps.spacing
    z_key, cy, cx = centre
    hz, hy, hx = int(np.ceil(reach_mm / dz)), int(np.ceil(reach_mm / dy)), int(np.ceil(reach_mm / dx))
    ny, nx = maps.hu.shape[1:]
    z0, z1 = max(z_range[0], z_key - hz), min(z_range[1], z_key + hz + 1)
    y0, y1 = max(0, cy - hy), min(ny, cy + hy + 1)
    x0, x1 = max(0, cx - hx), min(nx, cx + hx + 1)
    grid = LocalGrid((np.arange(z0, z1) - z_key) * dz - z_offset_mm, (np.arange(y0, y1) - cy) * dy,
                     (np.arange(x0, x1) - cx) * dx, thickness_mm=max(dz, float(maps.volume.meta.get(
                         "slice_thickness") or dz)))
    return (z0, y0, x0, z1, y1, x1), grid


def _insert_one(hu_slab: np.ndarray, z_range: tuple[int, int], maps: TissueMaps, rng: np.random.Generator,
                type_code: int, z_key: int, long_mm: float,
                taken: list, box_padding_px: float,
                visibility: tuple[float, float] = (MIN_CONTRAST_HU, MIN_CONTRAST_TO_NOISE)) -> SyntheticLesion | None:
    dz, dy, dx = maps.spacing
    for _ in range(6):
        ratio = float(rng.uniform(0.55, 1.0))
        short_mm = long_mm * ratio
        centre = _choose_centre(rng, maps, z_key, type_code, short_mm, taken)
        if centre is not None:
            break
        long_mm *= 0.75
        if long_mm < 4.0:
            return None
    else:
        return None
    cy, cx = centre
    a, b = long_mm / 2.0, short_mm / 2.0
    c = float(rng.uniform(0.7 * b, a))
    semi_axes = np.array([c, a, b])
    rotation = random_rotation(rng)
    reference = maps.reference_hu(z_key, cy, cx, type_code)
    look = sample_appearance(rng, type_code, reference)
    cz_mm = float(rng.uniform(-0.3, 0.3)) * c  # the key slice cuts the lesion near its middle
    reach = a * (1.0 + 3.0 * look.irregularity) * 1.15 + 2.0 * look.edge_mm + 2.0 + (a * look.mass_effect * 2)
    (z0, y0, x0, z1, y1, x1), grid = local_region(maps, z_range, (z_key, cy, cx), reach, cz_mm)
    deform = _smooth_field(rng)
    occ = ellipsoid_fraction(grid, semi_axes, rotation, look.irregularity, rng, field=deform)
    if look.edge_mm > 0:
        occ = ndimage.gaussian_filter(occ, [0, look.edge_mm / dy, look.edge_mm / dx])
    # the lesion stays inside the patient, and an organ's lesion inside its organ
    occ = occ * np.stack([maps.confinement(z, type_code)[y0:y1, x0:x1] for z in range(z0, z1)])
    if not (occ >= 0.5).any():
        return None
    sz = slice(z0 - z_range[0], z1 - z_range[0])
    local = hu_slab[sz, y0:y1, x0:x1].astype(np.float32)
    local = _mass_effect(local, grid, semi_axes, rotation, look.mass_effect)
    smooth = ndimage.gaussian_filter(local, [0, 1.2, 1.2])
    value = np.full(occ.shape, look.mean_hu, np.float32)
    value += mottled_texture(occ.shape, maps.spacing, look.texture_mm, look.texture_std_hu, rng)
    if look.core_hu is not None and look.core_fraction > 0:
        core = ellipsoid_fraction(grid, semi_axes, rotation, look.irregularity, rng, scale=look.core_fraction,
                                  field=deform)
        value += (look.core_hu - look.mean_hu) * core
    new = local + occ * (value - smooth)
    if look.capsule_hu:
        outer = ellipsoid_fraction(grid, semi_axes, rotation, look.irregularity, rng, scale=1.12, field=deform)
        new += look.capsule_hu * np.clip(outer - occ, 0.0, 1.0)
    finished = np.clip(np.rint(new), -1024, 3071)
    mask = occ >= 0.5
    if not is_visible(finished, mask, *visibility):
        return None
    hu_slab[sz, y0:y1, x0:x1] = finished.astype(hu_slab.dtype)
    slices = {}
    for k in range(mask.shape[0]):
        if mask[k].any():
            m = measure_slice(mask[k])
            slices[z0 + k] = _shifted(m, x0, y0)
    key = max(slices, key=lambda s: slices[s].long_px)
    taken.append((cy, cx, (a * 1.3 + 3.0) / min(dy, dx)))
    return SyntheticLesion(int(type_code), look.subtype, (z_key + cz_mm / dz, float(cy), float(cx)), 2 * a,
                           (z0, y0, x0), mask, slices, int(key), float(look.mean_hu), float(reference),
                           float(box_padding_px))


def _shifted(m: SliceMeasurement, dx: int, dy: int) -> SliceMeasurement:
    def move(p):
        return (p[0] + dx, p[1] + dy)

    x1, y1, x2, y2 = m.box
    return dataclasses.replace(m, box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy), long_axis=tuple(map(move, m.long_axis)),
                               short_axis=tuple(map(move, m.short_axis)))


def insert_lesions(volume, maps: TissueMaps, rng: np.random.Generator, count: int = 1,
                   types: list[int] | None = None, key_slice: int | None = None,
                   z_range: tuple[int, int] | None = None, box_padding_px: float = DEEPLESION_BOX_PADDING_PX,
                   max_tries: int = 20, min_contrast_hu: float = MIN_CONTRAST_HU,
                   min_contrast_to_noise: float = MIN_CONTRAST_TO_NOISE) -> SynthesisResult:
    """Insert ``count`` lesions into ``volume`` (unchanged; the result holds the new slices).

    ``types`` fixes the DeepLesion type of each lesion (else drawn from the real mix of the types
    the slice can hold); ``key_slice`` puts every lesion across that slice (else each gets a random
    slice); ``z_range`` limits the work to those slices (the rest of the result is the host's).
    ``min_contrast_hu`` and ``min_contrast_to_noise`` are the visibility rule of :mod:`.visibility`
    (both 0: every drawn lesion is kept, visible or not).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> hu = np.full((5, 80, 80), -1000, np.int16); hu[:, 4:76, 4:76] = 40
        >>> host = Volume(hu, (2.0, 1.0, 1.0))
        >>> r = insert_lesions(host, TissueMaps(host), np.random.default_rng(0), count=2, types=[7, 7], key_slice=2)
        >>> [les.type_code for les in r.lesions], sorted({2 in les.slices for les in r.lesions})
        ([7, 7], [True])
    """
    nz = volume.hu.shape[0]
    z_range = (0, nz) if z_range is None else (max(0, int(z_range[0])), min(nz, int(z_range[1])))
    hu_slab = volume.hu[z_range[0]:z_range[1]].copy()
    lesions: list[SyntheticLesion] = []
    taken: list = []
    tries = 0
    while len(lesions) < count and tries < max_tries:
        tries += 1
        z = int(key_slice) if key_slice is not None else int(rng.integers(z_range[0], z_range[1]))
        if types is not None:
            type_code = int(types[len(lesions)])
        else:
            here = [t for t in range(1, 9) if maps.placement(z, t).sum() >= MIN_PLACEMENT_PIXELS]
            if not here:
                continue
            codes, p = type_weights(here)
            type_code = int(rng.choice(codes, p=p))
        lesion = _insert_one(hu_slab, z_range, maps, rng, type_code, z, sample_long_axis_mm(rng, type_code),
                             taken, box_padding_px, (min_contrast_hu, min_contrast_to_noise))
        if lesion is not None:
            lesions.append(lesion)
    return SynthesisResult(volume, hu_slab, z_range, lesions)
