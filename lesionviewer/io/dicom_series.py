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
import stat
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from lesionviewer.io.dicom_header import SliceHeader, read_frame_headers
from lesionviewer.io.errors import LoadError, NotDicomError
from lesionviewer.io.file_checks import file_kind
from lesionviewer.io.image_sizes import of_commonest_size
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
    skipped: list[str] = field(default_factory=list)
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
    return list_entries(folder)[0]


def list_entries(folder: str | Path) -> tuple[list[Path], list[str]]:
    """``(regular files, skipped)`` below ``folder``: ``skipped`` describes each pipe, device, socket or broken link.

    Nothing is opened: ``os.stat`` tells a named pipe or a link to ``/dev/zero`` from a file.

    Example:
        >>> import tempfile, pathlib, os
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.dcm").write_bytes(b"x"); os.mkfifo(d / "pipe")
        1
        >>> files, skipped = list_entries(d)
        >>> [p.name for p in files], [s.split("/")[-1] for s in skipped]
        (['a.dcm'], ['pipe (a named pipe)'])
    """
    found: list[Path] = []
    skipped: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            try:
                mode = os.stat(path).st_mode
            except OSError:
                skipped.append(f"{path} (a broken link or unreadable entry)")
                continue
            if stat.S_ISREG(mode):
                found.append(path)
            elif not stat.S_ISDIR(mode):  # a link to a folder is not descended into, nor reported
                link = f" via a link to {os.path.realpath(path)}" if path.is_symlink() else ""
                skipped.append(f"{path} ({file_kind(mode)}{link})")
    return found, skipped


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
    files, scan.skipped = list_entries(folder)
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
    notes = [_problem_note(scan.errors)] if scan.errors else []
    if scan.skipped:
        notes.append(skipped_note(scan.skipped))
    for series in scan.series:
        series.problems.extend(notes)
    return scan


def skipped_note(skipped: list[str]) -> str:
    """The warning for entries that are not regular files (never opened).

    Example:
        >>> skipped_note(["d/p (a named pipe)"])
        '1 entry in the folder is not a regular file and was not read: d/p (a named pipe)'
    """
    n = len(skipped)
    shown = "; ".join(skipped[:3]) + (f"; and {n - 3} more" if n > 3 else "")
    return (f"{n} entr{'ies' if n > 1 else 'y'} in the folder {'are' if n > 1 else 'is'} not a regular file "
            f"and {'were' if n > 1 else 'was'} not read: {shown}")


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
    groups: list[tuple[list[SliceHeader], tuple]] = []
    for (_key, image_type), members in by_series.items():
        # Split by orientation with a tolerance: scanners write direction cosines with rounding noise.
        clusters: list[list[SliceHeader]] = []
        for h in members:
            home = next((c for c in clusters if _same_orientation(c[0].orientation, h.orientation)), None)
            if home is None:
                clusters.append([h])
            else:
                home.append(h)
        groups.extend((c, image_type) for c in clusters)
    # One series key seen under several image types or orientations: each part says what sets it apart.
    parts: dict[tuple, list[tuple[list[SliceHeader], tuple]]] = defaultdict(list)
    for members, image_type in groups:
        parts[_series_key(members[0])].append((members, image_type))
    series = []
    for _key, key_parts in parts.items():
        several_types = len({t for _, t in key_parts}) > 1
        several_orientations = len(key_parts) > len({t for _, t in key_parts})
        for number, (members, image_type) in enumerate(key_parts, start=1):
            info = describe_series(members)
            if len(key_parts) > 1:
                why = []
                if several_orientations:
                    why.append(f"orientation {_orientation_words(members[0].orientation)}")
                if several_types:
                    why.append(f"image type {chr(92).join(image_type) or 'none'}")
                info.note = f"part {number} of {len(key_parts)} of one series: {', '.join(why)}"
            series.append(info)
    series.sort(key=lambda s: (s.patient_id, s.study_date, s.folder, s.series_number or 0, s.series_description))
    return series


def _orientation_words(orientation: tuple | None) -> str:
    if orientation is None:
        return "unknown"
    return "(" + ", ".join(f"{v:.3g}" for v in orientation) + ")"


def describe_series(members: list[SliceHeader]) -> SeriesInfo:
    """The ``SeriesInfo`` of one series' headers: identifiers from its first image of the main size, geometry
    from the slices as the loader will arrange them.

    Example:
        >>> from lesionviewer.io.slice_header import SliceHeader
        >>> h = [SliceHeader(f"{k}.dcm", "", 4, 4, position=(0, 0, 2.0 * k), orientation=(1, 0, 0, 0, 1, 0),
        ...                  series_uid="1.2") for k in range(3)]
        >>> info = describe_series(h)
        >>> info.series_uid, info.num_slices, info.spacing[0]
        ('1.2', 3, 2.0)
    """
    from lesionviewer.io.slice_stack import arrange_slices

    same_size = of_commonest_size(members)
    first = same_size[0]
    spacing_range = None
    try:
        stack = arrange_slices(same_size)
        ordered = [h for h in stack.slots if h is not None]
        spacing = stack.spacing
        if stack.uneven:
            steps = [b - a for a, b in zip(stack.positions_mm, stack.positions_mm[1:])]
            spacing_range = (float(min(steps)), float(max(steps)))
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
        image_size=(first.rows, first.columns),
        orientation=first.orientation,
        files=files,
        folder=os.path.commonpath([str(Path(h.path).parent) for h in members]),
        format="dicom",
        headers=list(members),
        spacing_range=spacing_range,
    )
