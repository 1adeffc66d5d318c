"""Synthetic chest CTs labelled for the risk model, built from the phantom generator's parts.

A case is a chest scan from below the lung bases to above the apices (the phantom's anatomy,
painting, texture, blur and noise: :mod:`lesionviewer.phantom`), with lung nodules placed by the
phantom's placement map. The label follows one rule, stated in :data:`LABEL_RULE` (and in the demo
model's card):

* positive ("cancer"): the lungs hold a large irregular solid mass - long diameter 25-40 mm,
  soft-tissue density (-10..60 HU), a lobulated surface, wholly inside the lung parenchyma (at
  least :data:`INTERIOR_MARGIN_MM` from the pleura, so a lung mask cannot cut it);
* negative: no such mass. To keep the task from being "any large blob", negatives and positives
  alike carry 0-3 small smooth nodules (3-8 mm), and 40 % of the negatives carry a large
  (20-35 mm) smooth *calcified* nodule (200-500 HU, benign), placed the same way: size alone does not decide (a
  detector of large blobs that ignores density scores an AUC of at most 0.8), density alone does
  not either (the small nodules are soft tissue too).

The sizes are for CPU-trainable demos at 4-5 mm voxels (a 25 mm mass is 5-6 voxels across);
an earlier rule with 15-30 mm nodules (``RULE_VERSION`` 1) was not learned from a few hundred
cases at the voxel sizes a CPU affords. Version 2 let the large nodules sit against the chest
wall or the mediastinum (only their centre had to be 12 mm inside the lung), where a mass merges
with the soft tissue a lung mask keeps (or the mask cuts it); version 3 places them wholly inside,
and the same network learnt it (docs/risk.md). A large nodule gets up to 20 tries at a new size
to fit a small lung, which makes the smaller sizes a little more frequent.

Example:
    >>> case = generate_chest_case(3, positive=True, matrix=64)
    >>> case.label, case.volume.hu.ndim, case.nodules[0]["kind"]
    (1, 3, 'large irregular solid')
    >>> 25 <= 2 * case.nodules[0]["radii_mm"][0] <= 40
    True
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lesionviewer.io.volume import Volume
from lesionviewer.phantom.anatomy import sample_anatomy
from lesionviewer.phantom.canvas import Canvas
from lesionviewer.phantom.lesions import LesionSpec, paint_lesion
from lesionviewer.phantom.noise import apply_psf, correlated_noise, tissue_texture
from lesionviewer.phantom.placement import PlacementMap
from lesionviewer.phantom.render import paint_anatomy
from lesionviewer.phantom.tissues import TISSUES
from lesionviewer.util.atomic import atomic_write_text

#: Bumped when the rule below changes (it is stored in each case's metadata and in model cards).
RULE_VERSION = 3
POSITIVE_DIAMETER_MM = (25.0, 40.0)
CALCIFIED_DIAMETER_MM = (20.0, 35.0)
CALCIFIED_FRACTION = 0.4
SMALL_DIAMETER_MM = (3.0, 8.0)
#: The large nodules (the mass and the calcified one) lie wholly this far inside the lung.
INTERIOR_MARGIN_MM = 3.0

LABEL_RULE = ("positive = the lungs hold a large irregular solid mass (long diameter 25-40 mm, -10..60 HU, "
              f"lobulated surface, wholly inside the lung at least {INTERIOR_MARGIN_MM:g} mm from the pleura); "
              "negative = none. Both classes carry 0-3 small smooth nodules (3-8 mm); "
              "40% of negatives carry a large smooth calcified nodule (20-35 mm, 200-500 HU, placed the same way). "
              f"(risk phantom rule version {RULE_VERSION})")

LABELS_NAME = "labels.csv"


@dataclass
class ChestCase:
    """One synthetic chest CT with its label and the nodules painted into it.

    Example:
        >>> ChestCase(Volume(np.zeros((1, 2, 2), np.int16), (1.0, 1.0, 1.0)), 0, "P1").label
        0
    """

    volume: Volume
    label: int
    patient_id: str
    nodules: list[dict[str, Any]] = field(default_factory=list)


def _nodule(rng: np.random.Generator, finder: PlacementMap, diameter: float, hu: float, lobes: int,
            lobe_amplitude: tuple[float, float], interior: bool = False) -> LesionSpec | None:
    """A lung nodule's spec; ``interior``: the whole nodule (lobes and edge included) lies at least
    :data:`INTERIOR_MARGIN_MM` inside the lung parenchyma, so no lung mask can cut it."""
    radii = (diameter / 2.0, diameter / 2.0 * float(rng.uniform(0.75, 1.0)), diameter / 2.0 * float(rng.uniform(0.7, 1.0)))
    shape = []
    for _ in range(lobes):
        n = rng.normal(0, 1, 3)
        n /= np.linalg.norm(n) or 1.0
        shape.append((float(n[0]), float(n[1]), float(n[2]), float(rng.choice([2.0, 3.0, 4.0])),
                      float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(*lobe_amplitude))))
    edge_mm = float(rng.uniform(0.5, 1.5))
    if interior:
        extent = max(radii) * (1.0 + sum(lobe[5] for lobe in shape)) + edge_mm + INTERIOR_MARGIN_MM
        centre = finder.find(rng, "lung_interior", extent)
    else:
        centre = finder.find(rng, "lung", min(radii))
    if centre is None:
        return None
    return LesionSpec(kind="lung", type_code=5, centre=centre, radii=radii, hu=hu,
                      yaw=float(rng.uniform(0, np.pi)), pitch=float(rng.uniform(-0.3, 0.3)),
                      edge_mm=edge_mm, lobes=shape)


def generate_chest_case(seed: int, positive: bool, matrix: int = 96, slice_interval_mm: float = 5.0) -> ChestCase:
    """One labelled chest phantom, deterministic in ``seed`` and ``positive`` (see :data:`LABEL_RULE`).

    Example:
        >>> a = generate_chest_case(1, positive=False, matrix=64)
        >>> b = generate_chest_case(1, positive=False, matrix=64)
        >>> bool(np.array_equal(a.volume.hu, b.volume.hu)), a.label
        (True, 0)
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 8, int(bool(positive))]))
    anatomy = sample_anatomy(rng)
    s = anatomy.scale
    z_lo = -45.0 * s + float(rng.uniform(-10, 10))
    z_hi = anatomy.organs["lung"]["apex_z"] + float(rng.uniform(5, 20))
    num_slices = int(math.ceil((z_hi - z_lo) / slice_interval_mm)) + 1
    z_out = z_lo + np.arange(num_slices) * slice_interval_mm
    finder = PlacementMap(anatomy, step_mm=6.0, z_range=(z_lo, z_hi))
    finder.z_window = (z_lo + 15.0, z_hi - 25.0)

    specs, nodules = [], []
    large = None
    if positive:
        large = ("large irregular solid", POSITIVE_DIAMETER_MM, (-10.0, 60.0), (3, 6), (0.10, 0.22))
    elif rng.random() < CALCIFIED_FRACTION:
        large = ("large smooth calcified", CALCIFIED_DIAMETER_MM, (200.0, 500.0), (0, 1), (0.0, 0.0))
    if large is not None:
        kind, diameters, hus, lobes, amplitude = large
        for _ in range(20):  # a new size each try: the largest may not fit a small lung
            spec = _nodule(rng, finder, float(rng.uniform(*diameters)), float(rng.uniform(*hus)),
                           int(rng.integers(*lobes)), amplitude, interior=True)
            if spec is not None:
                specs.append(spec)
                nodules.append({**spec.to_dict(), "kind": kind})
                break
        if not specs:  # never seen; dropping it would mislabel the case
            raise RuntimeError(f"seed {seed}: no place inside the lungs for the {kind} nodule")
    for _ in range(int(rng.integers(0, 4))):
        spec = _nodule(rng, finder, float(rng.uniform(*SMALL_DIAMETER_MM)), float(rng.uniform(-10, 60)), 0, (0, 0))
        if spec is not None and all(np.linalg.norm(np.subtract(spec.centre, o.centre)) > max(o.radii) + 8 for o in specs):
            specs.append(spec)
            nodules.append({**spec.to_dict(), "kind": "small smooth"})

    w_max = float(anatomy.body_axes(z_out.astype(np.float32))[0].max())
    fov = float(np.clip(round(2.0 * w_max + rng.uniform(10.0, 60.0)), 320.0, 500.0))
    pixel = fov / matrix
    xs = anatomy.centre_x + float(rng.normal(0.0, 5.0)) - fov / 2 + pixel / 2 + np.arange(matrix) * pixel
    ys = anatomy.centre_y + float(rng.uniform(10.0, 35.0)) - fov / 2 + pixel / 2 + np.arange(matrix) * pixel
    k = 2  # sub-slices per slice: partial volume across the slice thickness
    offsets = ((np.arange(k) + 0.5) / k - 0.5) * slice_interval_mm
    canvas = Canvas((z_out[:, None] + offsets[None, :]).ravel(), ys, xs, fill_hu=TISSUES["air"].hu_by_phase[0])
    paint_anatomy(canvas, anatomy)
    for spec in specs:
        paint_lesion(canvas, spec)
    hu = canvas.hu.reshape(num_slices, k, matrix, matrix).mean(axis=1)
    labels = canvas.label.reshape(num_slices, k, matrix, matrix)[:, k // 2]
    hu += tissue_texture(labels, pixel, rng)
    hu = apply_psf(hu, pixel, float(rng.uniform(0.9, 1.3)))
    noise = float(rng.uniform(9.0, 16.0)) * math.sqrt(5.0 / slice_interval_mm) * math.sqrt(0.75 / pixel)
    hu += correlated_noise(hu.shape, pixel, noise, rng)
    yy, xx = np.mgrid[:matrix, :matrix]
    hu[:, (xx - (matrix - 1) / 2) ** 2 + (yy - (matrix - 1) / 2) ** 2 > (matrix / 2) ** 2] = -1024
    patient_id = f"RISK{int(seed):05d}"
    volume = Volume(hu=np.clip(np.rint(hu), -1024, 3071).astype(np.int16),
                    spacing=(slice_interval_mm, pixel, pixel), origin=(float(xs[0]), float(ys[0]), float(z_out[0])),
                    meta={"source": "lesionviewer risk phantom", "PatientID": patient_id})
    return ChestCase(volume, int(bool(positive)), patient_id, nodules)


def cohort_labels(count: int, seed: int = 0, positive_fraction: float = 0.5) -> list[tuple[int, int]]:
    """``(case seed, label)`` for a cohort: a seeded draw of which cases are positive.

    Example:
        >>> cohort_labels(4, seed=1)
        [(1000, 0), (1001, 1), (1002, 1), (1003, 0)]
    """
    rng = np.random.default_rng(seed)
    positives = int(round(count * positive_fraction))
    flags = np.zeros(count, int)
    flags[rng.choice(count, positives, replace=False)] = 1
    return [(seed * 1000 + i, int(flags[i])) for i in range(count)]


def write_phantom_cohort(out_dir: str | Path, count: int, seed: int = 0, positive_fraction: float = 0.5,
                         settings=None, matrix: int = 96, dicom: bool = False, progress_bar: bool = False) -> Path:
    """Generate ``count`` labelled chest phantoms into ``out_dir``; returns the ``labels.csv`` path.

    With ``settings`` (a :class:`~lesionviewer.risk.preprocess.PreprocessSettings`) each case is
    preprocessed straight to ``<study>.npz`` (what ``preprocess`` would write from its DICOM);
    with ``dicom=True`` each case is written as a DICOM series folder ``<study>/`` instead, for the
    ``preprocess`` step. ``labels.csv`` has ``study,patient_id,label``. Existing outputs are kept
    (the call is resumable).

    Example:
        >>> import tempfile
        >>> from lesionviewer.risk.preprocess import PreprocessSettings
        >>> path = write_phantom_cohort(tempfile.mkdtemp(), 2, settings=PreprocessSettings(6.0, (8, 16, 16)), matrix=64)
        >>> path.read_text().splitlines()[1]
        'risk00000,RISK00000,0'
    """
    from lesionviewer.risk.preprocess import preprocess_volume, write_npz

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    items = cohort_labels(count, seed, positive_fraction)
    if progress_bar:
        from tqdm import tqdm

        items = tqdm(items, unit="case", desc="phantoms")
    for case_seed, label in items:
        study = f"risk{case_seed:05d}"
        rows.append((study, f"RISK{case_seed:05d}", label))
        if dicom:
            if (out_dir / study).is_dir():
                continue
            from lesionviewer.io.dicom_write import write_dicom_series

            case = generate_chest_case(case_seed, bool(label), matrix)
            write_dicom_series(case.volume, out_dir / study, series_description="risk phantom",
                               patient_id=case.patient_id)
        elif settings is not None:
            target = out_dir / f"{study}.npz"
            if target.is_file():
                continue
            case = generate_chest_case(case_seed, bool(label), matrix)
            crop, meta = preprocess_volume(case.volume, settings, source=f"phantom seed {case_seed}")
            meta.update(study=study, label=label, nodules=case.nodules, rule_version=RULE_VERSION)
            write_npz(target, crop, meta)
    with_header = [("study", "patient_id", "label")] + rows
    atomic_write_text(out_dir / LABELS_NAME, "".join(",".join(map(str, r)) + "\n" for r in with_header))
    return out_dir / LABELS_NAME


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``labels.csv`` (``study``, ``patient_id``, ``label`` as int 0/1); errors name the file and line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
        >>> _ = p.write_text("study,patient_id,label\\na,P1,1\\n")
        >>> read_labels(p)
        [{'study': 'a', 'patient_id': 'P1', 'label': 1}]
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"study", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need study,patient_id,label)")
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1"):
                raise ValueError(f"{path}:{line}: label must be 0 or 1, not {row['label']!r}")
            rows.append({"study": row["study"], "patient_id": row.get("patient_id") or row["study"],
                         "label": int(row["label"])})
    return rows
