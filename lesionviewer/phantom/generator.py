"""One synthetic patient: anatomy and lesions painted on fine sub-slices, averaged to the slice thickness,
blurred by the PSF, with correlated noise added; every lesion measured on every slice it crosses.

Example:
    >>> from lesionviewer.phantom.config import PhantomConfig
    >>> case = generate_patient(7, PhantomConfig.preset("small"))
    >>> case.volume.shape
    (24, 128, 128)
    >>> lesion = case.lesions[0]
    >>> lesion.key_slice in lesion.slices
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesionviewer.io.volume import Volume
from lesionviewer.phantom.anatomy import SCAN_LIMITS, Anatomy, sample_anatomy
from lesionviewer.phantom.canvas import Canvas
from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.lesions import LesionSpec, draw_type_codes, paint_lesion, sample_lesion
from lesionviewer.phantom.noise import apply_psf, correlated_noise, tissue_texture
from lesionviewer.phantom.placement import PlacementMap
from lesionviewer.phantom.recist import SliceMeasurement, measure_slice
from lesionviewer.phantom.render import paint_anatomy
from lesionviewer.phantom.tissues import TISSUES

HU_MIN, HU_MAX = -1024, 3071
# how far behind the body centre the image centre is put (mm): the table must be in the image too
FOV_CENTRE_BEHIND_MM = (10.0, 35.0)
_OUTSIDE_BODY = np.array([TISSUES[n].label for n in ("air", "table", "foam")], np.uint8)


@dataclass
class PhantomLesion:
    """A lesion as generated and as measured on the slices: its spec, per-slice RECIST, key slice.

    ``slices`` maps a 0-based slice index to its :class:`SliceMeasurement`; ``key_slice`` is the
    slice with the largest cross-section; ``normalized_location`` is DeepLesion's (x, y, z) body position.

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> les = generate_patient(3, PhantomConfig.preset("small")).lesions[0]
        >>> les.slices[les.key_slice].area_px == max(m.area_px for m in les.slices.values())
        True
    """

    spec: LesionSpec
    slices: dict[int, SliceMeasurement]
    key_slice: int
    normalized_location: tuple[float, float, float]
    centre_mm: tuple[float, float, float]

    @property
    def type_code(self) -> int:
        """DeepLesion ``Coarse_lesion_type`` (1 bone ... 8 pelvis).

        Example:
            >>> from lesionviewer.phantom.config import PhantomConfig
            >>> generate_patient(3, PhantomConfig.preset("small")).lesions[0].type_code in range(1, 9)
            True
        """
        return self.spec.type_code

    @property
    def key(self) -> SliceMeasurement:
        """The measurement on the key slice.

        Example:
            >>> from lesionviewer.phantom.config import PhantomConfig
            >>> generate_patient(3, PhantomConfig.preset("small")).lesions[0].key.long_px > 0
            True
        """
        return self.slices[self.key_slice]

    @property
    def slice_range(self) -> tuple[int, int]:
        """First and last 0-based slice the lesion crosses.

        Example:
            >>> from lesionviewer.phantom.config import PhantomConfig
            >>> lo, hi = generate_patient(3, PhantomConfig.preset("small")).lesions[0].slice_range
            >>> lo <= hi
            True
        """
        return (min(self.slices), max(self.slices))


@dataclass
class PhantomCase:
    """A generated patient: the CT ``volume`` (HU), its ``lesions``, a tissue ``labels`` volume and patient facts.

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> case = generate_patient(1, PhantomConfig.preset("small"))
        >>> case.labels.shape == case.volume.shape, case.patient["sex"] in ("M", "F")
        (True, True)
    """

    volume: Volume
    lesions: list[PhantomLesion]
    labels: np.ndarray
    patient: dict[str, Any]
    seed: Any
    config: PhantomConfig
    anatomy: Anatomy | None = field(default=None, repr=False)


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, (tuple, list)):
        return np.random.SeedSequence([int(s) for s in seed])
    return np.random.SeedSequence(int(seed))


def generate_patient(seed, config: PhantomConfig | None = None) -> PhantomCase:
    """Generate one patient deterministically from ``seed`` (an int or a tuple of ints).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> cfg = PhantomConfig.preset("small").with_(num_slices=8)
        >>> a, b = generate_patient(5, cfg), generate_patient(5, cfg)
        >>> bool(np.array_equal(a.volume.hu, b.volume.hu))
        True
    """
    cfg = (config or PhantomConfig.preset("small")).validated()
    rng = np.random.default_rng(_seed_sequence(seed))
    anatomy = sample_anatomy(rng, phase=cfg.phase)
    n = cfg.matrix
    interval = choose_slice_interval(cfg, rng)
    thickness = interval * cfg.thickness_over_interval
    length = (cfg.num_slices - 1) * interval

    finder = PlacementMap(anatomy)
    specs = _place_lesions(rng, anatomy, finder, cfg, length)
    first_z = specs[0].centre[2] if specs else float(rng.uniform(*SCAN_LIMITS)) * anatomy.scale
    window = finder.z_window  # set by _place_lesions whenever it placed a lesion
    z_lo = window[0] - interval if specs and window is not None else first_z - length / 2
    z_out = (z_lo + np.arange(cfg.num_slices) * interval).astype(np.float64)
    fov = choose_field_of_view(anatomy, z_out, cfg, rng)
    pixel = fov / n

    fov_cx = anatomy.centre_x + float(rng.normal(0.0, 5.0))
    fov_cy = anatomy.centre_y + float(rng.uniform(*FOV_CENTRE_BEHIND_MM))
    xs = fov_cx - fov / 2 + pixel / 2 + np.arange(n) * pixel
    ys = fov_cy - fov / 2 + pixel / 2 + np.arange(n) * pixel

    k = max(2, math.ceil(thickness / cfg.fine_step_mm - 1e-9))
    offsets = ((np.arange(k) + 0.5) / k - 0.5) * thickness
    per_chunk = max(1, int(3_000_000 // (n * n * k)))
    hu = np.empty((cfg.num_slices, n, n), np.float32)
    labels = np.empty((cfg.num_slices, n, n), np.uint8)
    masks: list[dict[int, np.ndarray]] = [dict() for _ in specs]
    for start in range(0, cfg.num_slices, per_chunk):
        stop = min(cfg.num_slices, start + per_chunk)
        zs = (z_out[start:stop, None] + offsets[None, :]).ravel()
        # slices thicker than their spacing overlap: paint the sub-slices in z order, average in slice order
        order = np.argsort(zs, kind="stable")
        back = np.argsort(order, kind="stable")
        canvas = Canvas(zs[order], ys, xs, fill_hu=TISSUES["air"].hu_by_phase[0])
        paint_anatomy(canvas, anatomy)
        for i, spec in enumerate(specs):
            occ = paint_lesion(canvas, spec, cfg.lesion_contrast)[back]
            frac = occ.reshape(stop - start, k, n, n).mean(axis=1)
            for j in np.flatnonzero(frac.max(axis=(1, 2)) >= 0.5):
                masks[i][start + int(j)] = frac[j] >= 0.5
        hu[start:stop] = canvas.hu[back].reshape(stop - start, k, n, n).mean(axis=1)
        labels[start:stop] = canvas.label[back].reshape(stop - start, k, n, n)[:, k // 2]

    hu += tissue_texture(labels, pixel, rng)
    fwhm = float(rng.uniform(*cfg.psf_fwhm_mm))
    hu = apply_psf(hu, pixel, fwhm)
    noise_ref = float(rng.uniform(*cfg.noise_std_hu))
    noise_std = noise_ref * math.sqrt(5.0 / thickness) * math.sqrt(0.75 / pixel)
    hu += correlated_noise(hu.shape, pixel, noise_std, rng)
    # outside the reconstruction circle a scanner writes the padding value, not noise
    yy, xx = np.mgrid[:n, :n]
    outside = (xx - (n - 1) / 2) ** 2 + (yy - (n - 1) / 2) ** 2 > (n / 2) ** 2
    hu[:, outside] = HU_MIN
    volume_hu = np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)

    z_offset = float(np.round(rng.uniform(-400.0, 200.0) * 2) / 2)
    volume = Volume(
        hu=volume_hu,
        spacing=(interval, pixel, pixel),
        origin=(float(xs[0]), float(ys[0]), float(z_out[0] + z_offset)),
        meta={
            "source": "lesionviewer phantom",
            "slice_thickness": thickness,
            "pixel_spacing": (pixel, pixel),
            "contrast_phase": anatomy.phase,
            "noise_std_hu": noise_std,
            "psf_fwhm_mm": fwhm,
        },
    )
    lesions = []
    for spec, per_slice in zip(specs, masks):
        if not per_slice:
            continue
        measured = {j: measure_slice(m) for j, m in sorted(per_slice.items())}
        key = max(measured, key=lambda j: (measured[j].area_px, -abs(j - (len(z_out) - 1) / 2)))
        centre_mm = (float(spec.centre[0]), float(spec.centre[1]), float(spec.centre[2] + z_offset))
        lesions.append(PhantomLesion(spec, measured, key, _normalized_location(labels[key], measured[key], anatomy, spec), centre_mm))
    patient = {"sex": anatomy.sex, "age": anatomy.age, "phase": anatomy.phase}
    return PhantomCase(volume=volume, lesions=lesions, labels=labels, patient=patient, seed=seed, config=cfg, anatomy=anatomy)


def choose_slice_interval(cfg: PhantomConfig, rng: np.random.Generator) -> float:
    """The slice interval of one series, drawn with the configured weights.

    Example:
        >>> import numpy as np
        >>> choose_slice_interval(PhantomConfig.preset("full"), np.random.default_rng(0)) in (1.0, 2.0, 5.0)
        True
    """
    weights = np.asarray(cfg.slice_interval_weights, float)
    return float(rng.choice(np.asarray(cfg.slice_intervals_mm, float), p=weights / weights.sum()))


def choose_field_of_view(anatomy: Anatomy, z_out: np.ndarray, cfg: PhantomConfig, rng: np.random.Generator) -> float:
    """Reconstruction field of view (whole mm): the body's width at the scanned levels plus a margin, as a technologist sets it.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> rng = np.random.default_rng(0)
        >>> fov = choose_field_of_view(sample_anatomy(rng), np.array([-100.0, 0.0]), PhantomConfig.preset("full"), rng)
        >>> 320 <= fov <= 500
        True
    """
    half_width, anterior, posterior = (v.astype(float)[:, None] for v in anatomy.body_axes(np.asarray(z_out, np.float32)))
    # the reconstruction circle must hold the whole outline (super-ellipse corners included) as seen
    # from the image centre, which sits up to FOV_CENTRE_BEHIND_MM behind the body centre
    t = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)[None, :]
    c, s = np.cos(t), np.sin(t)
    p = np.where(s > 0, anatomy.exponent + 1.5, anatomy.exponent)
    x = half_width * np.sign(c) * np.abs(c) ** (2.0 / p)
    y = np.where(s > 0, posterior, anterior) * np.sign(s) * np.abs(s) ** (2.0 / p)
    radius = float(np.sqrt(x**2 + (y - FOV_CENTRE_BEHIND_MM[1]) ** 2).max())
    return float(np.clip(round(2.0 * radius + rng.uniform(30.0, 110.0)), *cfg.field_of_view_mm))


def _place_lesions(rng: np.random.Generator, anatomy: Anatomy, finder: PlacementMap, cfg: PhantomConfig, length: float) -> list[LesionSpec]:
    lo, hi = cfg.lesions_per_patient
    count = int(rng.integers(lo, hi + 1))
    if count == 0:
        return []
    specs: list[LesionSpec] = []
    for code in draw_type_codes(rng, 12):
        spec = sample_lesion(rng, code, anatomy, finder, cfg.lesion_diameter_mm)
        if spec is not None:
            specs.append(spec)
            break
    if not specs:
        return []
    z_c = specs[0].centre[2] + float(rng.uniform(-0.3, 0.3)) * length
    z_min, z_max = (SCAN_LIMITS[0] * anatomy.scale, SCAN_LIMITS[1] * anatomy.scale)
    z_c = float(np.clip(z_c, z_min + length / 2, max(z_min + length / 2, z_max - length / 2)))
    z_c = float(np.clip(z_c, specs[0].centre[2] - 0.45 * length, specs[0].centre[2] + 0.45 * length))
    step = length / max(cfg.num_slices - 1, 1)
    finder.z_window = (z_c - length / 2 + step, z_c + length / 2 - step)
    for code in draw_type_codes(rng, count - 1):
        # a type whose organ is outside the scanned window is skipped, not replaced by another type:
        # replacing would favour types possible everywhere (soft tissue) over DeepLesion's mix
        for _ in range(3):
            spec = sample_lesion(rng, code, anatomy, finder, cfg.lesion_diameter_mm)
            if spec is None:
                break
            if any(np.linalg.norm(np.subtract(spec.centre, o.centre)) < max(spec.radii) + max(o.radii) + 4.0 for o in specs):
                continue
            specs.append(spec)
            break
    return specs


def _normalized_location(labels: np.ndarray, m: SliceMeasurement, anatomy: Anatomy, spec: LesionSpec) -> tuple[float, float, float]:
    """DeepLesion's normalized position: x, y of the lesion centre within the body's box on the key slice, z along the body."""
    body = ~np.isin(labels, _OUTSIDE_BODY)
    rows = np.flatnonzero(body.any(axis=1))
    cols = np.flatnonzero(body.any(axis=0))
    cx = 0.5 * (m.box[0] + m.box[2])
    cy = 0.5 * (m.box[1] + m.box[3])
    if rows.size == 0:
        return (0.5, 0.5, anatomy.normalized_z(spec.centre[2]))
    nx = (cx - cols[0]) / max(cols[-1] - cols[0], 1)
    ny = (cy - rows[0]) / max(rows[-1] - rows[0], 1)
    return (float(np.clip(nx, 0, 1)), float(np.clip(ny, 0, 1)), anatomy.normalized_z(spec.centre[2]))
