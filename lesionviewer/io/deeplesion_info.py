"""The DeepLesion annotation table (DL_info.csv): every one of its 18 columns parsed into typed fields.

One row is one lesion on one key slice. Pixel coordinates are zero-based (x = column, y = row: the
table's one-based MATLAB values minus 1, as the peers read them) on
the key slice ``Images_png/<patient>_<study>_<series>/<slice>.png``; PNG values are HU + 32768.

Example:
    >>> import io
    >>> text = (",".join(DL_INFO_COLUMNS) + "\\n" +
    ...         '000002_01_01_162.png,2,1,1,162,"238.3, 261.2, 235.9, 268.6, 240.4, 265.7, 234.2, 262.9",'
    ...         '"229.2, 256.2, 245.4, 273.6","7.76, 6.77","0.44, 0.57, 0.61",2,0,"156, 168",'
    ...         '"0.859375, 0.859375, 5","512, 512","-175, 275",F,51,2\\n')
    >>> [rec] = parse_dl_info(io.StringIO(text))
    >>> rec.series_key, rec.key_slice_index, rec.split_name, rec.lesion_type_name
    ('000002_01_01', 162, 'val', 'abdomen')
    >>> [round(v, 1) for v in rec.bounding_box]
    [228.2, 255.2, 244.4, 272.6]
"""
from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Iterable

from lesionviewer.io.errors import CorruptFileError, LoadError
from lesionviewer.io.file_checks import regular_file_size

DL_INFO_COLUMNS = (
    "File_name",
    "Patient_index",
    "Study_index",
    "Series_ID",
    "Key_slice_index",
    "Measurement_coordinates",
    "Bounding_boxes",
    "Lesion_diameters_Pixel_",
    "Normalized_lesion_location",
    "Coarse_lesion_type",
    "Possibly_noisy",
    "Slice_range",
    "Spacing_mm_px_",
    "Image_size",
    "DICOM_windows",
    "Patient_gender",
    "Patient_age",
    "Train_Val_Test",
)

# Coarse_lesion_type codes; -1 marks the (unlabelled) training rows.
LESION_TYPES = {
    -1: "unknown",
    1: "bone",
    2: "abdomen",
    3: "mediastinum",
    4: "liver",
    5: "lung",
    6: "kidney",
    7: "soft tissue",
    8: "pelvis",
}
# The full DL_info.csv (32,735 rows) is 10 MB; a table much larger than that is not one.
MAX_TABLE_BYTES = 256 * 1024**2
SPLITS = {1: "train", 2: "val", 3: "test"}


@dataclass(frozen=True, slots=True)
class DeepLesionRecord:
    """One row of DL_info.csv (one lesion on one key slice).

    Geometry is in zero-based pixels of the key slice: ``bounding_box`` is (x1, y1, x2, y2);
    ``measurement_coordinates`` holds the RECIST long axis (x1, y1, x2, y2) then the short axis;
    ``spacing_mm`` is (x, y, z) as stored: pixel spacing then the slice interval;
    ``dicom_window`` is the (low, high) HU window of the original DICOM; ``age`` is NaN when unknown.

    Example:
        >>> rec = DeepLesionRecord("000001_02_03_017.png", 1, 2, 3, 17, (0,) * 8, (10, 10, 30, 20), (20, 10),
        ...                        (0.5, 0.5, 0.5), 4, False, (10, 20), (0.8, 0.8, 5.0), (512, 512), (-175, 275), "M", 60.0, 1)
        >>> rec.png_path, rec.long_diameter_mm
        ('000001_02_03/017.png', 16.0)
    """

    file_name: str
    patient_index: int
    study_index: int
    series_id: int
    key_slice_index: int
    measurement_coordinates: tuple[float, ...]
    bounding_box: tuple[float, float, float, float]
    lesion_diameters_px: tuple[float, float]
    normalized_location: tuple[float, float, float]
    lesion_type: int
    possibly_noisy: bool
    slice_range: tuple[int, int]
    spacing_mm: tuple[float, float, float]
    image_size: tuple[int, int]
    dicom_window: tuple[float, float]
    gender: str
    age: float
    split: int

    @property
    def series_key(self) -> str:
        """The series folder name, ``<patient>_<study>_<series>`` (6, 2 and 2 digits).

        Example:
            >>> _example().series_key
            '000001_02_03'
        """
        return f"{self.patient_index:06d}_{self.study_index:02d}_{self.series_id:02d}"

    @property
    def png_path(self) -> str:
        """Path of the key slice below ``Images_png``: ``<series_key>/<slice>.png``.

        Example:
            >>> _example().png_path
            '000001_02_03/017.png'
        """
        return f"{self.series_key}/{self.key_slice_index:03d}.png"

    @property
    def pixel_spacing_mm(self) -> float:
        """In-plane pixel spacing in mm.

        Example:
            >>> _example().pixel_spacing_mm
            0.8
        """
        return float(self.spacing_mm[0])

    @property
    def slice_interval_mm(self) -> float:
        """Distance between neighbouring slices in mm.

        Example:
            >>> _example().slice_interval_mm
            5.0
        """
        return float(self.spacing_mm[2])

    @property
    def long_diameter_mm(self) -> float:
        """RECIST long axis in mm.

        Example:
            >>> _example().long_diameter_mm
            16.0
        """
        return self.lesion_diameters_px[0] * self.spacing_mm[0]

    @property
    def short_diameter_mm(self) -> float:
        """RECIST short axis in mm.

        Example:
            >>> _example().short_diameter_mm
            8.0
        """
        return self.lesion_diameters_px[1] * self.spacing_mm[0]

    @property
    def split_name(self) -> str:
        """"train", "val" or "test" (Train_Val_Test 1, 2, 3).

        Example:
            >>> _example().split_name
            'train'
        """
        return SPLITS.get(self.split, f"split {self.split}")

    @property
    def lesion_type_name(self) -> str:
        """The coarse lesion type in words ("liver", "lung", ... or "unknown").

        Example:
            >>> _example().lesion_type_name
            'liver'
        """
        return LESION_TYPES.get(self.lesion_type, f"type {self.lesion_type}")


def _example() -> DeepLesionRecord:
    return DeepLesionRecord("000001_02_03_017.png", 1, 2, 3, 17, (0.0,) * 8, (10.0, 10.0, 30.0, 20.0), (20.0, 10.0),
                            (0.5, 0.5, 0.5), 4, False, (10, 20), (0.8, 0.8, 5.0), (512, 512), (-175.0, 275.0),
                            "M", 60.0, 1)


def _floats(text: str, count: int, column: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split(","))
    if len(values) != count:
        raise ValueError(f"{column} has {len(values)} numbers, expected {count}")
    return values


def _ints(text: str, count: int, column: str) -> tuple[int, ...]:
    return tuple(int(round(v)) for v in _floats(text, count, column))


def _age(text: str) -> float:
    text = text.strip()
    if not text or text.lower() == "nan":
        return math.nan
    return float(text)


def parse_dl_info(stream: IO[str], source: str = "DL_info.csv") -> list[DeepLesionRecord]:
    """Parse DL_info.csv text from an open stream; ``source`` names it in error messages.

    Columns are found by their header names, so their order does not matter; a missing column or
    a malformed value raises ``CorruptFileError`` naming the file, the line and the column.

    Example:
        >>> import io
        >>> parse_dl_info(io.StringIO("File_name,Patient_index\\n"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.CorruptFileError: DL_info.csv: not a DeepLesion DL_info.csv table (missing columns: Study_index, ...)
    """
    try:
        return _parse_rows(csv.reader(stream), source)
    except csv.Error as exc:
        raise CorruptFileError(source, f"not a readable CSV table ({exc})") from None


def _parse_rows(reader, source: str) -> list[DeepLesionRecord]:
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CorruptFileError(source, "the table is empty (no header line)") from None
    missing = [c for c in DL_INFO_COLUMNS if c not in header]
    if missing:
        raise CorruptFileError(source, f"not a DeepLesion DL_info.csv table (missing columns: {', '.join(missing)})")
    idx = [header.index(c) for c in DL_INFO_COLUMNS]
    width = max(idx) + 1
    records = []
    for line_number, row in enumerate(reader, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < width:
            raise CorruptFileError(source, f"line {line_number}: {len(row)} fields, expected {len(header)}")
        f = [row[i] for i in idx]
        column = DL_INFO_COLUMNS[0]
        try:
            column = "Patient_index"
            patient, study, series, key = int(f[1]), int(f[2]), int(f[3]), int(f[4])
            column = "Measurement_coordinates"
            # The table's pixel coordinates are MATLAB's, one-based; ours are zero-based, as the
            # peers' loaders (3DCE, MULAN, MP3D) make them by subtracting 1.
            recist = tuple(v - 1.0 for v in _floats(f[5], 8, column))
            column = "Bounding_boxes"
            box = tuple(v - 1.0 for v in _floats(f[6], 4, column))
            column = "Lesion_diameters_Pixel_"
            diameters = _floats(f[7], 2, column)
            column = "Normalized_lesion_location"
            location = _floats(f[8], 3, column)
            column = "Coarse_lesion_type"
            lesion_type = int(f[9])
            column = "Possibly_noisy"
            noisy = bool(int(f[10]))
            column = "Slice_range"
            slice_range = _ints(f[11], 2, column)
            column = "Spacing_mm_px_"
            spacing = _floats(f[12], 3, column)
            column = "Image_size"
            size = _ints(f[13], 2, column)
            column = "DICOM_windows"
            window = _floats(f[14], 2, column)
            column = "Patient_age"
            age = _age(f[16])
            column = "Train_Val_Test"
            split = int(f[17])
        except ValueError as exc:
            raise CorruptFileError(source, f"line {line_number}, column {column}: {exc}") from None
        records.append(
            DeepLesionRecord(
                file_name=f[0].strip(),
                patient_index=patient,
                study_index=study,
                series_id=series,
                key_slice_index=key,
                measurement_coordinates=recist,
                bounding_box=box,  # type: ignore[arg-type]
                lesion_diameters_px=diameters,  # type: ignore[arg-type]
                normalized_location=location,  # type: ignore[arg-type]
                lesion_type=lesion_type,
                possibly_noisy=noisy,
                slice_range=slice_range,  # type: ignore[arg-type]
                spacing_mm=spacing,  # type: ignore[arg-type]
                image_size=size,  # type: ignore[arg-type]
                dicom_window=window,  # type: ignore[arg-type]
                gender=f[15].strip().upper(),
                age=age,
                split=split,
            )
        )
    return records


def read_dl_info(path: str | Path) -> list[DeepLesionRecord]:
    """Read a DL_info.csv file (the full table or a split of it) into ``DeepLesionRecord`` rows.

    Example:
        >>> read_dl_info("/nonexistent/DL_info.csv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: /nonexistent/DL_info.csv: could not be read (...)
    """
    path = Path(path)
    try:
        if os.path.exists(path):  # a missing file keeps its plain "could not be read" below
            regular_file_size(path, limit=MAX_TABLE_BYTES, what="DL_info table")
        with open(path, newline="", encoding="utf-8-sig") as stream:
            return parse_dl_info(stream, source=str(path))
    except UnicodeDecodeError:
        raise CorruptFileError(path, "not a text table (it is not UTF-8 text)") from None
    except OSError as exc:
        raise LoadError(path, f"could not be read ({exc.strerror or exc})") from None


def read_dl_info_cached(path: str | Path) -> tuple[DeepLesionRecord, ...]:
    """Like ``read_dl_info`` but parsed once per file version (path, size and modification time).

    Example:
        >>> import tempfile
        >>> from lesionviewer.training.toy_data import write_toy_deeplesion
        >>> table = write_toy_deeplesion(tempfile.mkdtemp(), patients=2, size=16, slices=4) / "DL_info.csv"
        >>> first = read_dl_info_cached(table)
        >>> read_dl_info_cached(table) is first, list(first) == read_dl_info(table)  # parsed once
        (True, True)
        >>> _ = table.write_text(table.read_text().splitlines(keepends=True)[0])  # now the header only
        >>> len(first), len(read_dl_info_cached(table))  # a changed file is parsed again
        (2, 0)
    """
    stat = os.stat(path)
    return _cached(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _cached(path: str, size: int, mtime_ns: int) -> tuple[DeepLesionRecord, ...]:
    return tuple(read_dl_info(path))


def records_by_series(records: Iterable[DeepLesionRecord]) -> dict[str, list[DeepLesionRecord]]:
    """Group rows by their series folder name (``<patient>_<study>_<series>``).

    Example:
        >>> rec = _example()
        >>> list(records_by_series([rec, rec]).items())[0][0]
        '000001_02_03'
    """
    grouped: dict[str, list[DeepLesionRecord]] = defaultdict(list)
    for rec in records:
        grouped[rec.series_key].append(rec)
    return dict(grouped)
