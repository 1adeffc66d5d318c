"""Writing phantoms in the DeepLesion layout: ``Images_png/<patient>_<study>_<series>/<slice>.png`` and ``DL_info.csv``.

The CSV matches the official file field by field: the 18 columns in order, comma lists in
quotes with ", " between numbers, numbers printed with 6 significant digits (C's ``%g``, as the
real file), MATLAB's 1-based pixel coordinates and slice numbers, ``Bounding_boxes`` = the extent
of the four RECIST end points grown by 5 pixels (what the real rows hold; readers subtract 1),
``Spacing_mm_px_`` as (x, y, z), and one row per lesion on its key slice.

Example:
    >>> fmt_numbers([233.5374, 95.02041, 5.0])
    '233.537, 95.0204, 5'
    >>> DL_INFO_COLUMNS[:3]
    ('File_name', 'Patient_index', 'Study_index')
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from PIL import Image

from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS
from lesionviewer.util.atomic import atomic_write_text

if TYPE_CHECKING:
    from lesionviewer.phantom.generator import PhantomCase, PhantomLesion
    from lesionviewer.phantom.recist import SliceMeasurement

PNG_OFFSET = 32768
LUNG_WINDOW = (-1500.0, 500.0)
SOFT_TISSUE_WINDOW = (-175.0, 275.0)


def fmt_number(value: float) -> str:
    """One number as DeepLesion prints it: 6 significant digits, no trailing zeros.

    Example:
        >>> fmt_number(0.48828125), fmt_number(5.0), fmt_number(-1e-9)
        ('0.488281', '5', '0')
    """
    value = float(value)
    if abs(value) < 5e-7:
        return "0"
    return f"{value:g}"


def fmt_numbers(values: Iterable[float]) -> str:
    """Numbers joined by ``", "`` (the csv module adds the quotes).

    Example:
        >>> fmt_numbers([1, 2.5])
        '1, 2.5'
    """
    return ", ".join(fmt_number(v) for v in values)


def series_folder_name(patient_index: int, study: int = 1, series: int = 1) -> str:
    """``000001_01_01`` style folder name.

    Example:
        >>> series_folder_name(12, 3, 1)
        '000012_03_01'
    """
    return f"{patient_index:06d}_{study:02d}_{series:02d}"


def slice_file_name(slice_index: int) -> str:
    """PNG name of a 0-based slice: DeepLesion numbers slices from 1 (``Key_slice_index`` = file number).

    Example:
        >>> slice_file_name(0), slice_file_name(108)
        ('001.png', '109.png')
    """
    return f"{slice_index + 1:03d}.png"


def assign_splits(num_patients: int, seed: int = 0) -> list[int]:
    """Train/val/test (1/2/3) per patient, 70/15/15 as DeepLesion, shuffled by ``seed``; every split used once there are 3 patients.

    Example:
        >>> s = assign_splits(20, seed=1)
        >>> s.count(1), s.count(2), s.count(3)
        (14, 3, 3)
    """
    n_val = int(round(0.15 * num_patients))
    n_test = int(round(0.15 * num_patients))
    if num_patients >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    labels = [3] * n_test + [2] * n_val
    labels = [1] * (num_patients - len(labels)) + labels
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 20180703])).permutation(num_patients)
    return [labels[int(i)] for i in np.argsort(order)]


def write_series_pngs(case, root: str | Path, patient_index: int, study: int = 1, series: int = 1, compress_level: int = 3) -> Path:
    """Write every slice of ``case`` as a 16-bit PNG (HU + 32768) under ``root/Images_png/``; returns the folder.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> case = generate_patient(1, PhantomConfig.preset("small").with_(num_slices=2))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     folder = write_series_pngs(case, d, 1)
        ...     hu = np.asarray(Image.open(folder / "001.png")).astype(np.int32) - 32768
        >>> folder.name, bool((hu == case.volume.hu[0]).all())
        ('000001_01_01', True)
    """
    folder = Path(root) / "Images_png" / series_folder_name(patient_index, study, series)
    folder.mkdir(parents=True, exist_ok=True)
    if case.volume.num_slices > 999:
        raise ValueError(f"DeepLesion slice names have 3 digits; this series has {case.volume.num_slices} slices")
    stored = (case.volume.hu.astype(np.int32) + PNG_OFFSET).astype(np.uint16)
    for k in range(case.volume.num_slices):
        buffer = io.BytesIO()
        Image.fromarray(stored[k]).save(buffer, format="PNG", compress_level=compress_level)
        (folder / slice_file_name(k)).write_bytes(buffer.getvalue())
    return folder


def lesion_window(type_code: int) -> tuple[float, float]:
    """The DICOM window DeepLesion lists for a lesion type: lung window for lung lesions, soft tissue otherwise.

    Example:
        >>> lesion_window(5), lesion_window(4)
        ((-1500.0, 500.0), (-175.0, 275.0))
    """
    return LUNG_WINDOW if type_code == 5 else SOFT_TISSUE_WINDOW


def annotated_cross_sections(case: PhantomCase) -> list[tuple[int, PhantomLesion, SliceMeasurement]]:
    """``(slice, lesion, measurement)`` for each ``DL_info.csv`` row of ``case``, in row order.

    One per lesion on its own key slice (DeepLesion's rule); with the config's
    ``annotate_all_visible``, also every other lesion crossing one of those key slices whose
    cross-section there is at least ``annotate_min_mm`` long (so no visible lesion on an annotated
    slice is left unmarked).

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> case = generate_patient(1, PhantomConfig.preset("small"))
        >>> len(annotated_cross_sections(case)) == len(case.lesions)
        True
    """
    items = [(lesion.key_slice, lesion, lesion.key) for lesion in case.lesions]
    if case.config.annotate_all_visible:
        keys = {lesion.key_slice for lesion in case.lesions}
        for lesion in case.lesions:
            for k in sorted(keys - {lesion.key_slice}):
                m = lesion.slices.get(k)
                if m is not None and m.long_px * min(case.volume.spacing[1:]) >= case.config.annotate_min_mm:
                    items.append((k, lesion, m))
    return sorted(items, key=lambda item: (item[0], item[2].box))


def dl_info_rows(case, patient_index: int, split: int, study: int = 1, series: int = 1, box_padding: float | None = None) -> list[dict[str, str]]:
    """The ``DL_info.csv`` rows of ``case`` (one per lesion, on its key slice) as dicts of formatted strings.

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> case = generate_patient(4, PhantomConfig.preset("small"))
        >>> row = dl_info_rows(case, 7, 1)[0]
        >>> row["File_name"].startswith("000007_01_01_"), row["Slice_range"]
        (True, '1, 24')
    """
    vol = case.volume
    dz, dy, dx = vol.spacing
    padding = case.config.box_padding_px if box_padding is None else box_padding
    rows = []
    for key, lesion, m in annotated_cross_sections(case):
        # DeepLesion is MATLAB-made: pixel and slice coordinates start at 1
        coords = [v + 1.0 for point in (*m.long_axis, *m.short_axis) for v in point]
        box = [v + 1.0 for v in m.recist_box(padding)]
        rows.append(
            {
                "File_name": f"{series_folder_name(patient_index, study, series)}_{key + 1:03d}.png",
                "Patient_index": str(patient_index),
                "Study_index": str(study),
                "Series_ID": str(series),
                "Key_slice_index": str(key + 1),
                "Measurement_coordinates": fmt_numbers(coords),
                "Bounding_boxes": fmt_numbers(box),
                "Lesion_diameters_Pixel_": fmt_numbers((m.long_px, m.short_px)),
                "Normalized_lesion_location": fmt_numbers(lesion.normalized_location),
                "Coarse_lesion_type": str(lesion.type_code),
                "Possibly_noisy": "0",
                "Slice_range": fmt_numbers((1, vol.num_slices)),
                "Spacing_mm_px_": fmt_numbers((dx, dy, dz)),
                "Image_size": fmt_numbers((vol.shape[1], vol.shape[2])),
                "DICOM_windows": fmt_numbers(lesion_window(lesion.type_code)),
                "Patient_gender": case.patient["sex"],
                "Patient_age": str(int(case.patient["age"])),
                "Train_Val_Test": str(int(split)),
            }
        )
    return rows


def format_dl_info(rows: Iterable[dict[str, str]]) -> str:
    """The whole CSV text: header, then rows; quoting only where a field has a comma, ``\\n`` line ends.

    Example:
        >>> format_dl_info([]).strip() == ",".join(DL_INFO_COLUMNS)
        True
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DL_INFO_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def write_dl_info(rows: Iterable[dict[str, str]], path: str | Path) -> Path:
    """Write ``DL_info.csv`` atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_dl_info([], pathlib.Path(tempfile.mkdtemp()) / "DL_info.csv")
        >>> p.read_text().startswith("File_name,Patient_index")
        True
    """
    path = Path(path)
    atomic_write_text(path, format_dl_info(rows))
    return path


def write_deeplesion(cases, root: str | Path, first_patient_index: int = 1, split_seed: int = 0) -> Path:
    """Write ``cases`` (patients ``first_patient_index``, ...) as a DeepLesion tree under ``root``; returns the CSV path.

    Example:
        >>> import tempfile, csv
        >>> from pathlib import Path
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> cases = [generate_patient(s, PhantomConfig.preset("small").with_(num_slices=6)) for s in (1, 2)]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     csv_path = write_deeplesion(cases, d)
        ...     rows = list(csv.DictReader(open(csv_path, newline="")))
        ...     names = sorted(p.name for p in (Path(d) / "Images_png").iterdir())
        >>> names, len(rows) == sum(len(c.lesions) for c in cases)
        (['000001_01_01', '000002_01_01'], True)
    """
    cases = list(cases)
    splits = assign_splits(len(cases), split_seed)
    rows = []
    for offset, (case, split) in enumerate(zip(cases, splits)):
        patient = first_patient_index + offset
        write_series_pngs(case, root, patient)
        rows.extend(dl_info_rows(case, patient, split))
    return write_dl_info(rows, Path(root) / "DL_info.csv")
