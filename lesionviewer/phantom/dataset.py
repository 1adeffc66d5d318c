"""Generating a whole synthetic dataset: N patients in the DeepLesion or the DICOM layout, in parallel.

Patient ``i`` (1-based) is generated from the seed ``(seed, i)``, so a dataset is the same
whatever the number of worker processes, and patient 7 of a 10-patient set equals patient 7
of a 1000-patient set. Each patient also gets a ground-truth JSON under ``ground_truth/``.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from lesionviewer.phantom.config import PhantomConfig
    >>> with tempfile.TemporaryDirectory() as d:
    ...     summary = generate_dataset(d, 2, config=PhantomConfig.preset("small").with_(num_slices=6))
    ...     names = sorted(p.name for p in Path(d).iterdir())
    >>> names
    ['DL_info.csv', 'Images_png', 'ground_truth']
    >>> summary["patients"], summary["lesions"] >= summary["key_slices"] > 0
    (2, True)
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from pathlib import Path
from typing import Callable

from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.deeplesion_writer import (
    assign_splits,
    dl_info_rows,
    series_folder_name,
    write_dl_info,
    write_series_pngs,
)
from lesionviewer.phantom.dicom_writer import write_dicom_series
from lesionviewer.phantom.generator import generate_patient
from lesionviewer.phantom.ground_truth import write_ground_truth

LAYOUTS = ("deeplesion", "dicom")


def dicom_folder_name(patient_index: int) -> str:
    """Folder of a patient's DICOM series in the ``dicom`` layout.

    Example:
        >>> dicom_folder_name(3)
        'PHANTOM-000003'
    """
    return f"PHANTOM-{patient_index:06d}"


def make_patient(root: str | Path, patient_index: int, seed: int, config: PhantomConfig, layout: str, split: int) -> dict:
    """Generate and write one patient; returns its DL_info rows (DeepLesion layout) and counts.

    Example:
        >>> import tempfile
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> with tempfile.TemporaryDirectory() as d:
        ...     out = make_patient(d, 1, 0, PhantomConfig.preset("small").with_(num_slices=4), "dicom", 1)
        >>> out["slices"]
        4
    """
    root = Path(root)
    case = generate_patient((int(seed), int(patient_index)), config)
    rows: list[dict[str, str]] = []
    if layout == "deeplesion":
        write_series_pngs(case, root, patient_index)
        rows = dl_info_rows(case, patient_index, split)
        truth_name = series_folder_name(patient_index) + ".json"
    elif layout == "dicom":
        write_dicom_series(case, root / dicom_folder_name(patient_index), patient_index)
        truth_name = dicom_folder_name(patient_index) + ".json"
    else:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    write_ground_truth(case, root / "ground_truth" / truth_name, patient_index)
    key_slices = len({lesion.key_slice for lesion in case.lesions})
    return {"patient": patient_index, "rows": rows, "lesions": len(case.lesions), "key_slices": key_slices, "slices": case.volume.num_slices}


def _make_patient_args(args: tuple) -> dict:
    return make_patient(*args)


def generate_dataset(
    root: str | Path,
    num_patients: int,
    layout: str = "deeplesion",
    seed: int = 0,
    config: PhantomConfig | None = None,
    workers: int = 1,
    first_patient_index: int = 1,
    progress: Callable[[int, int], None] | None = None,
    only_splits: tuple[int, ...] | None = None,
) -> dict:
    """Write ``num_patients`` phantoms under ``root``; returns counts and the wall time.

    ``progress(done, total)`` is called after each patient. With ``workers > 1`` patients are
    generated in separate processes; the output is byte-identical either way. ``only_splits``
    (DeepLesion codes: 1 train, 2 val, 3 test) writes only the patients of those splits, exactly
    as the whole dataset would hold them (to rebuild a held-out split without the rest).

    Example:
        >>> import tempfile
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> with tempfile.TemporaryDirectory() as d:
        ...     generate_dataset(d, 1, layout="dicom", config=PhantomConfig.preset("small").with_(num_slices=3))["slices"]
        3
        >>> with tempfile.TemporaryDirectory() as d:
        ...     generate_dataset(d, 20, config=PhantomConfig.preset("small").with_(num_slices=3), only_splits=(3,))["patients"]
        3
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if num_patients < 1:
        raise ValueError(f"num_patients must be at least 1, got {num_patients}")
    cfg = (config or PhantomConfig.preset("small")).validated()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    splits = assign_splits(num_patients, seed)
    jobs = [(str(root), first_patient_index + i, seed, cfg, layout, splits[i]) for i in range(num_patients)
            if only_splits is None or splits[i] in only_splits]
    if not jobs:
        raise ValueError(f"no patient of {num_patients} falls in splits {only_splits}")
    start = time.perf_counter()
    results: list[dict] = []
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            results.append(make_patient(*job))
            if progress:
                progress(len(results), len(jobs))
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for result in pool.map(_make_patient_args, jobs):
                results.append(result)
                if progress:
                    progress(len(results), len(jobs))
    if layout == "deeplesion":
        write_dl_info([row for r in results for row in r["rows"]], root / "DL_info.csv")
    return {
        "patients": len(jobs),
        "lesions": sum(r["lesions"] for r in results),
        "key_slices": sum(r["key_slices"] for r in results),
        "slices": sum(r["slices"] for r in results),
        "seconds": time.perf_counter() - start,
    }
