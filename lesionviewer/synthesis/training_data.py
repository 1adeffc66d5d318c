"""Write DeepLesion-layout training data from real CT hosts with synthetic lesions (and merge other sets).

Each sample is one key slice of a real host with 1-3 synthetic lesions crossing it, written as a
short series (the key slice and its neighbours within ``context_mm``; the slices keep their
numbers in the host, so positions stay exact) under ``Images_png/<patient>_01_01/`` with one
``DL_info.csv`` row per lesion cross-section on the key slice at least ``min_annotated_mm`` long
(so no visible synthetic lesion on a key slice is left unmarked). Everything else in the slices
is real anatomy and therefore a negative. Real annotated lesions (e.g. LIDC nodules) can be
added as samples of their own, and other DeepLesion-layout sets (phantoms, DeepLesion itself)
merged by hard links with their splits kept.

Example:
    >>> import tempfile, csv, numpy as np
    >>> from pathlib import Path
    >>> from lesionviewer.io import Volume
    >>> hu = np.full((6, 96, 96), -1000, np.int16); hu[:, 6:90, 6:90] = 45
    >>> host = Host("box", Volume(hu, (2.0, 0.8, 0.8)))
    >>> out = Path(tempfile.mkdtemp())
    >>> summary = write_synthetic_training_data([host], out, samples=3, seed=0)
    >>> rows = list(csv.DictReader(open(out / "DL_info.csv")))
    >>> summary["samples"], len(rows) == summary["lesions"], rows[0]["Coarse_lesion_type"] in "2 7 8"
    (3, True, True)
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS
from lesionviewer.phantom.deeplesion_writer import PNG_OFFSET, fmt_numbers, lesion_window, write_dl_info
from lesionviewer.synthesis.distractors import insert_gas_pockets
from lesionviewer.synthesis.insert import MIN_PLACEMENT_PIXELS, insert_lesions
from lesionviewer.synthesis.statistics import type_weights
from lesionviewer.synthesis.real_lesions import MIN_ANNOTATED_MM, RealLesion, boxes_by_slice, keep_away_mask
from lesionviewer.synthesis.tissue import MEDIASTINAL_FAT_SHARE, TissueMaps

if TYPE_CHECKING:
    from lesionviewer.io.volume import Volume

#: Synthetic samples are patients from here on; merged sets keep theirs below it.
FIRST_SYNTHETIC_PATIENT = 500000

#: How lesion types are drawn (see :func:`write_synthetic_training_data`).
TYPE_MIXES = ("slice", "deeplesion")
#: The third number of a gas-pocket random stream's seed ([seed, attempt, this]); the sample's own stream has two.
GAS_POCKET_STREAM = 1


@dataclass
class Host:
    """A real CT volume lesions go into, its optional organ labels, and real lesions it already holds.

    ``real_lesions`` (:class:`~lesionviewer.synthesis.real_lesions.RealLesion`) each become a sample of
    their own (key slice); a synthetic sample on a slice one of them crosses marks it too
    (:attr:`real_boxes`), and no synthetic lesion is centred within
    :data:`~lesionviewer.synthesis.real_lesions.KEEP_AWAY_MM` of them.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> Host("h", Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1))).slice_step_mm
        1.0
    """

    name: str
    volume: Volume
    labels: np.ndarray | None = None
    weight: float = 1.0
    real_lesions: list[RealLesion] = field(default_factory=list)

    @property
    def real_boxes(self) -> dict[int, list[tuple[tuple[float, float, float, float], int]]]:
        """The real lesions' boxes on every slice they cross: ``{z: [(box, type), ...]}``.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> Host("h", Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1)),
            ...      real_lesions=[RealLesion(5, 1, {1: (0.0, 0.0, 2.0, 2.0)})]).real_boxes
            {1: [((0.0, 0.0, 2.0, 2.0), 5)]}
        """
        return boxes_by_slice(self.real_lesions)

    @property
    def slice_step_mm(self) -> float:
        """The slice step in mm (positions when the loader gives them, else the z spacing).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> v = Volume(np.zeros((3, 2, 2), np.int16), (5, 1, 1), meta={"slice_positions_mm": [0, 2, 4]})
            >>> Host("h", v).slice_step_mm
            2.0
        """
        positions = self.volume.meta.get("slice_positions_mm")
        if positions is not None and len(positions) > 1:
            return float(np.median(np.abs(np.diff(np.asarray(positions, float)))))
        return float(self.volume.spacing[0])


def _write_pngs(folder: Path, hu: np.ndarray, first_index: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stored = (np.clip(hu.astype(np.int32), -32768, 32767) + PNG_OFFSET).astype(np.uint16)
    for k in range(stored.shape[0]):
        buffer = io.BytesIO()
        Image.fromarray(stored[k]).save(buffer, format="PNG", compress_level=1)
        (folder / f"{first_index + k + 1:03d}.png").write_bytes(buffer.getvalue())


def _row(series: str, patient: int, key: int, coords, box, diameters, location, type_code: int, n_slices: int,
         spacing, shape, split: int) -> dict[str, str]:
    # DeepLesion is MATLAB-made: pixel and slice numbers start at 1
    return {
        "File_name": f"{series}_{key + 1:03d}.png", "Patient_index": str(patient), "Study_index": "1",
        "Series_ID": "1", "Key_slice_index": str(key + 1),
        "Measurement_coordinates": fmt_numbers([v + 1.0 for v in coords]),
        "Bounding_boxes": fmt_numbers([v + 1.0 for v in box]),
        "Lesion_diameters_Pixel_": fmt_numbers(diameters),
        "Normalized_lesion_location": fmt_numbers(location),
        "Coarse_lesion_type": str(int(type_code)), "Possibly_noisy": "0",
        "Slice_range": fmt_numbers((1, n_slices)), "Spacing_mm_px_": fmt_numbers(spacing),
        "Image_size": fmt_numbers(shape), "DICOM_windows": fmt_numbers(lesion_window(int(type_code))),
        "Patient_gender": "U", "Patient_age": "0", "Train_Val_Test": str(int(split)),
    }


def _clip_box(box, width: int, height: int):
    x1, y1, x2, y2 = box
    return (max(0.0, x1), max(0.0, y1), min(float(width - 1), x2), min(float(height - 1), y2))


def write_synthetic_training_data(hosts: list[Host], out: str | Path, samples: int, seed: int = 0,
                                  context_mm: float = 6.0, lesions_per_slice: tuple[int, ...] = (1, 2, 3),
                                  lesion_count_weights: tuple[float, ...] = (0.5, 0.3, 0.2),
                                  val_fraction: float = 0.08, min_annotated_mm: float = MIN_ANNOTATED_MM,
                                  merge: Sequence[str | Path] = (), progress=None,
                                  first_patient: int = FIRST_SYNTHETIC_PATIENT, type_mix: str = "slice",
                                  merge_splits: Sequence[int] | None = None,
                                  mediastinal_fat_share: float = MEDIASTINAL_FAT_SHARE, gas_pockets: int = 0) -> dict:
    """Write ``samples`` synthetic key slices from ``hosts`` (and merge ``merge`` sets) under ``out``.

    Returns a summary (samples, lesions, per-type counts, real-lesion samples, merged rows). The
    same ``seed`` writes the same data. Synthetic patients are numbered from ``first_patient``
    (give separate runs separate ranges before merging them).

    ``type_mix`` says how a sample's lesion types are drawn. ``"slice"``: a host and a key slice
    first, then each lesion's type from DeepLesion's mix of the types that slice can hold, so the
    mix follows what the hosts' slices show (chest hosts give many lung nodules). ``"deeplesion"``:
    the first lesion's type first, from DeepLesion's mix of every type some host can hold
    (:func:`draw_type_first`), then a host that holds it and a key slice with room for it; the
    other lesions of the sample as in ``"slice"``.

    ``mediastinal_fat_share`` goes to :class:`~lesionviewer.synthesis.tissue.TissueMaps` (0 draws the
    mediastinal lesions as before session 18, anywhere in the mediastinum's fat and soft tissue).

    ``gas_pockets`` > 0 draws 0 to that many gas pockets into each sample whose key slice shows labelled bowel
    (:mod:`~lesionviewer.synthesis.distractors`: unlabelled background, clear of every lesion), from a random
    stream of their own: the same seed draws the same lesions, hosts and slices with or without them.

    ``merge_splits`` keeps only the merged rows of those splits (1 train, 2 validation, 3 test), e.g.
    to reuse another set's validation and test rows with new training rows; ``None`` keeps all.

    Example:
        >>> write_synthetic_training_data([], "/nonexistent", samples=1)
        Traceback (most recent call last):
        ...
        ValueError: no host volumes: give at least one real CT (lesionviewer-train synthesize --host PATH)
    """
    if not hosts and samples > 0:
        raise ValueError("no host volumes: give at least one real CT (lesionviewer-train synthesize --host PATH)")
    if type_mix not in TYPE_MIXES:
        raise ValueError(f"type_mix {type_mix!r}: expected one of {', '.join(TYPE_MIXES)}")
    out = Path(out)
    (out / "Images_png").mkdir(parents=True, exist_ok=True)
    real_boxes = [h.real_boxes for h in hosts]
    maps = [TissueMaps(h.volume, h.labels, keep_away=keep_away_mask(boxes, h.volume.shape, h.volume.spacing)
                       if boxes else None, mediastinal_fat_share=mediastinal_fat_share)
            for h, boxes in zip(hosts, real_boxes)]
    weights = np.array([h.weight for h in hosts] or [1.0], float)
    weights = weights / weights.sum()
    host_types = [set(m.available_types()) for m in maps] if type_mix == "deeplesion" and samples > 0 else []
    rows: list[dict[str, str]] = []
    per_type: dict[int, int] = {}
    patient = int(first_patient)
    done = 0
    attempts = 0
    gas_pocket_count = 0
    while done < samples and attempts < samples * 5:
        rng = np.random.default_rng([int(seed), attempts])
        attempts += 1
        count_p = np.asarray(lesion_count_weights) / sum(lesion_count_weights)
        types = None
        # the draws' order is part of what a seed means: "slice" keeps the order older data sets were written in
        if type_mix == "deeplesion":
            count = int(rng.choice(lesions_per_slice, p=count_p))
            drawn = draw_type_first(rng, maps, host_types, weights)
            if drawn is None:
                continue
            h, key, first_type = drawn
            others = [t for t in range(1, 9) if maps[h].placement(key, t).sum() >= MIN_PLACEMENT_PIXELS]
            codes, p = type_weights(others)
            types = [first_type] + [int(rng.choice(codes, p=p)) for _ in range(count - 1)]
        else:
            h = int(rng.choice(len(hosts), p=weights))
            key = int(rng.integers(0, hosts[h].volume.shape[0]))
            count = int(rng.choice(lesions_per_slice, p=count_p))
        host, tissue = hosts[h], maps[h]
        nz = host.volume.shape[0]
        half = int(np.ceil(context_mm / host.slice_step_mm)) + 1
        lo, hi = max(0, key - half), min(nz, key + half + 1)
        result = insert_lesions(host.volume, tissue, rng, count=count, key_slice=key, z_range=(lo, hi), types=types)
        marked = [les for les in result.lesions if key in les.slices
                  and les.slices[key].long_px * min(host.volume.spacing[1:]) >= min_annotated_mm]
        if not marked:
            continue
        split = 2 if rng.random() < val_fraction else 1
        if gas_pockets > 0:
            pocket_rng = np.random.default_rng([int(seed), attempts - 1, GAS_POCKET_STREAM])
            pockets = insert_gas_pockets(result.hu, (lo, hi), tissue, pocket_rng, key,
                                         int(pocket_rng.integers(0, gas_pockets + 1)),
                                         lesion_mask=result.mask()[lo:hi] > 0)
            gas_pocket_count += len(pockets)
        series = f"{patient:06d}_01_01"
        _write_pngs(out / "Images_png" / series, result.hu, lo)
        rows.extend(_lesion_rows(series, patient, key, marked, host, split))
        rows.extend(_box_row(series, patient, key, box, type_code, host, split)
                    for box, type_code in real_boxes[h].get(key, []))
        for les in marked:
            per_type[les.type_code] = per_type.get(les.type_code, 0) + 1
        patient += 1
        done += 1
        if progress is not None:
            progress(done, samples)
    real = 0
    for host in hosts:
        for z, box, type_code in (lesion.key_sample for lesion in host.real_lesions):
            nz = host.volume.shape[0]
            half = int(np.ceil(context_mm / host.slice_step_mm)) + 1
            lo, hi = max(0, z - half), min(nz, z + half + 1)
            series = f"{patient:06d}_01_01"
            _write_pngs(out / "Images_png" / series, host.volume.hu[lo:hi], lo)
            rows.append(_box_row(series, patient, z, box, type_code, host, 1))
            patient += 1
            real += 1
    merged = sum(_merge(Path(m), out, rows, merge_splits) for m in merge)
    write_dl_info(rows, out / "DL_info.csv")
    return {"samples": done, "lesions": int(sum(per_type.values())), "per_type": dict(sorted(per_type.items())),
            "real_lesion_samples": real, "merged_rows": merged, "rows": len(rows),
            **({"gas_pockets": gas_pocket_count} if gas_pockets > 0 else {})}


def draw_type_first(rng: np.random.Generator, maps: Sequence[TissueMaps], host_types: Sequence[set[int]],
                    host_weights: np.ndarray, slice_tries: int = 30) -> tuple[int, int, int] | None:
    """Draw ``(host index, key slice, type)`` type first: DeepLesion's mix of the types some host holds.

    The type comes from :func:`~lesionviewer.synthesis.statistics.type_weights` over the union of
    ``host_types`` (each host's :meth:`TissueMaps.available_types`); the host from those holding it,
    by ``host_weights``; the key slice at random among the host's slices with room for it (at least
    :data:`MIN_PLACEMENT_PIXELS` placement pixels), up to ``slice_tries`` tries. ``None`` when no
    slice was found (the caller draws again).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> hu = np.full((2, 60, 60), -1000, np.int16); hu[:, 5:55, 5:55] = 40
        >>> maps = [TissueMaps(Volume(hu, (2.0, 1.0, 1.0)))]
        >>> draws = [draw_type_first(np.random.default_rng(s), maps, [{2, 7}], np.ones(1)) for s in range(200)]
        >>> share = sum(d[2] == 2 for d in draws) / 200  # DeepLesion's 1173 abdomen : 339 soft tissue = 0.78
        >>> sorted({d[2] for d in draws}), 0.7 < share < 0.85
        ([2, 7], True)
    """
    union: set[int] = set().union(*host_types)
    if not union:
        raise ValueError("no lesion type can be placed in any host")
    codes, p = type_weights(union)
    type_code = int(rng.choice(codes, p=p))
    holders = [i for i, types in enumerate(host_types) if type_code in types]
    w = np.asarray([host_weights[i] for i in holders], float)
    h = holders[int(rng.choice(len(holders), p=w / w.sum()))]
    nz = maps[h].hu.shape[0]
    for _ in range(slice_tries):
        z = int(rng.integers(0, nz))
        if maps[h].placement(z, type_code).sum() >= MIN_PLACEMENT_PIXELS:
            return h, z, type_code
    return None


def _spacing(host: Host) -> tuple[float, float, float]:
    dz, dy, dx = host.volume.spacing
    return (dx, dy, host.slice_step_mm)


def _lesion_rows(series: str, patient: int, key: int, lesions, host: Host, split: int) -> list[dict[str, str]]:
    nz, ny, nx = host.volume.shape
    rows = []
    for les in lesions:
        m = les.slices[key]
        coords = [v for point in (*m.long_axis, *m.short_axis) for v in point]
        box = _clip_box(les.box(key), nx, ny)
        location = (les.centre_index[2] / nx, les.centre_index[1] / ny, les.centre_index[0] / max(nz, 1))
        rows.append(_row(series, patient, key, coords, box, (m.long_px, m.short_px), location, les.type_code, nz,
                         _spacing(host), (ny, nx), split))
    return rows


def _box_row(series: str, patient: int, z: int, box, type_code: int, host: Host, split: int) -> dict[str, str]:
    nz, ny, nx = host.volume.shape
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    coords = (x1, cy, x2, cy, cx, y1, cx, y2)
    return _row(series, patient, z, coords, _clip_box((x1, y1, x2, y2), nx, ny), (x2 - x1, y2 - y1),
                (cx / nx, cy / ny, z / max(nz, 1)), type_code, nz, _spacing(host), (ny, nx), split)


def _merge(source: Path, out: Path, rows: list[dict[str, str]], splits: Sequence[int] | None = None) -> int:
    """Hard-link (or copy) another DeepLesion-layout set's series into ``out`` and append its rows
    (only those of ``splits`` when given)."""
    table = source / "DL_info.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{table}: not found; --merge takes a folder with Images_png/ and DL_info.csv")
    with open(table, newline="", encoding="utf-8") as f:
        merged = list(csv.DictReader(f))
    if splits is not None:
        keep = {str(int(s)) for s in splits}
        merged = [row for row in merged if row["Train_Val_Test"].strip() in keep]
    for row in merged:
        series = row["File_name"].rsplit("_", 1)[0]
        target = out / "Images_png" / series
        if not target.exists():
            target.mkdir(parents=True)
            for png in (source / "Images_png" / series).iterdir():
                try:
                    os.link(png, target / png.name)
                except OSError:
                    (target / png.name).write_bytes(png.read_bytes())
        rows.append({k: row.get(k, "") for k in DL_INFO_COLUMNS})
    return len(merged)
