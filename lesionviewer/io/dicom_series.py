"""Find the DICOM series in a folder tree from headers only, and group files into series.

Files are grouped by SeriesInstanceUID; where it is empty or missing (some anonymisers blank
it) they fall back to folder + FrameOfReferenceUID + SeriesNumber + SeriesDescription, so a
series never falls apart into one-slice series. Each group is then split by orientation and
ImageType, and localizers (scouts) are dropped, as 3D Slicer does.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_dicom_series(Volume(np.zeros((5, 4, 4), np.int16), (2.0, 1.0, 1.0)), folder, series_description="A")
    >>> [s.label for s in scan_dicom_folder(folder).series]
    ['A (5 slices, 4 x 4, 2 mm)']
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lesionviewer.io.dicom_header import SliceHeader, read_frame_headers
from lesionviewer.io.errors import LoadError, NotDicomError
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.series_info import SeriesInfo

# Names that are never image files, skipped without opening them.
_SKIP_NAMES = {"DICOMDIR", "Thumbs.db", ".DS_Store"}
_SKIP_SUFFIXES = {".md", ".txt", ".csv", ".json", ".xml", ".html", ".pdf", ".png", ".jpg", ".jpeg",
                  ".nii", ".gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".raw", ".zip", ".py"}


@dataclass
class FolderScan:
    """What a folder holds: its DICOM series, the files that failed (with reasons), and a count.

    Example:
        >>> FolderScan(folder="x").series
        []
    """

    folder: str
    series: list[SeriesInfo] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    not_dicom: list[str] = field(default_factory=list)
    num_files: int = 0


def list_files(folder: str | Path) -> list[Path]:
    """Every regular file below ``folder`` (hidden files and folders skipped), in a stable order.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "b").write_text("x"); (d / ".hidden").write_text("x")
        1
        1
        >>> [p.name for p in list_files(d)]
        ['b']
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                found.append(Path(root) / name)
    return found


def scan_dicom_folder(
    folder: str | Path,
    progress: ProgressCallback | None = None,
    cancel=None,
    *,
    tracker: LoadProgress | None = None,
) -> FolderScan:
    """Read every file's header below ``folder`` and group the images into series (no pixels read).

    ``progress(done, total)`` counts files; ``cancel`` (callable or Event) stops the scan with
    ``LoadCancelled``; a ``tracker`` shared with a following load replaces both.

    Example:
        >>> import tempfile
        >>> scan_dicom_folder(tempfile.mkdtemp()).num_files
        0
    """
    scan = FolderScan(folder=str(folder))
    headers: list[SliceHeader] = []
    files = list_files(folder)
    if tracker is None:
        tracker = LoadProgress(progress, cancel, total=len(files), source=str(folder))
    else:  # a load follows the scan: about one slice to decode per file
        tracker.set_total(tracker.done + 2 * len(files))
    for path in files:
        tracker.advance()
        scan.num_files += 1
        if path.name in _SKIP_NAMES or path.suffix.lower() in _SKIP_SUFFIXES:
            scan.not_dicom.append(str(path))
            continue
        try:
            headers.extend(read_frame_headers(path))
        except NotDicomError:
            scan.not_dicom.append(str(path))
        except LoadError as exc:
            scan.errors.append(exc)
    scan.series = group_into_series(headers)
    if scan.errors:
        note = _problem_note(scan.errors)
        for series in scan.series:
            series.problems.append(note)
    return scan


def _problem_note(errors: list[LoadError]) -> str:
    shown = "; ".join(str(e) for e in errors[:3])
    more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
    n = len(errors)
    return f"{n} file{'s' if n > 1 else ''} in the folder could not be read and {'were' if n > 1 else 'was'} left out: {shown}{more}"


def _series_key(h: SliceHeader) -> tuple:
    if h.series_uid:
        return ("uid", h.series_uid)
    # No SeriesInstanceUID: files of one acquisition still share folder, frame of reference and description.
    return ("folder", str(Path(h.path).parent), h.frame_of_reference_uid, h.series_number, h.series_description)


# Orientations closer than this (per direction-cosine component) are the same orientation.
ORIENTATION_TOLERANCE = 1e-3


def _same_orientation(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return a is b
    return max(abs(x - y) for x, y in zip(a, b)) <= ORIENTATION_TOLERANCE


def group_into_series(headers: list[SliceHeader]) -> list[SeriesInfo]:
    """Group slice headers into series: by series UID (or fallback), then orientation and ImageType; localizers dropped.

    Example:
        >>> from lesionviewer.io.dicom_header import SliceHeader
        >>> hs = [SliceHeader(f"d/{i}", "1.2.840.10008.1.2.1", 2, 2, position=(0.0, 0.0, float(i)),
        ...                   orientation=(1, 0, 0, 0, 1, 0)) for i in range(3)]
        >>> hs.append(SliceHeader("d/scout", "1.2.840.10008.1.2.1", 2, 2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")))
        >>> [s.num_slices for s in group_into_series(hs)]
        [3]
    """
    by_series: dict[tuple, list[SliceHeader]] = defaultdict(list)
    for h in headers:
        if not h.is_localizer:
            by_series[(_series_key(h), tuple(v.upper() for v in h.image_type))].append(h)
    groups: list[list[SliceHeader]] = []
    for members in by_series.values():
        # Split by orientation with a tolerance: scanners write direction cosines with rounding noise.
        clusters: list[list[SliceHeader]] = []
        for h in members:
            home = next((c for c in clusters if _same_orientation(c[0].orientation, h.orientation)), None)
            if home is None:
                clusters.append([h])
            else:
                home.append(h)
        groups.extend(clusters)
    series = [_describe(members) for members in groups]
    series.sort(key=lambda s: (s.patient_id, s.study_date, s.folder, s.series_number or 0, s.series_description))
    return series


def _describe(members: list[SliceHeader]) -> SeriesInfo:
    from lesionviewer.io.slice_stack import arrange_slices

    sizes = Counter((h.rows, h.columns) for h in members)
    size = sizes.most_common(1)[0][0]
    same_size = [h for h in members if (h.rows, h.columns) == size]
    first = same_size[0]
    try:
        stack = arrange_slices(same_size)
        ordered = [h for h in stack.slots if h is not None]
        spacing = stack.spacing
    except Exception:  # geometry is checked again, with a clear error, when the series is loaded
        ordered, spacing = same_size, None
    in_order = {h.path for h in ordered}
    # Every file of the series is listed: the ones in z order first, then duplicates and odd sizes.
    files = list(dict.fromkeys([h.path for h in ordered] + [h.path for h in members if h.path not in in_order]))
    return SeriesInfo(
        patient_name=first.patient_name,
        patient_id=first.patient_id,
        study_uid=first.study_uid,
        study_description=first.study_description,
        study_date=first.study_date,
        series_uid=first.series_uid,
        series_description=first.series_description,
        series_number=first.series_number,
        modality=first.modality,
        num_slices=len(ordered),  # what will load: one slice per position, the main image size
        spacing=spacing,
        image_size=size,
        orientation=first.orientation,
        files=files,
        folder=os.path.commonpath([str(Path(h.path).parent) for h in members]),
        format="dicom",
        headers=list(members),
    )
