"""The one entry point for reading CT: ``load_volume(path)``, and ``find_series(folder)`` to choose first.

``load_volume`` takes a DICOM folder (the largest series in it is loaded), a single DICOM file
(a one-slice volume), a NIfTI / NRRD / MetaImage file, or a DeepLesion PNG series folder or PNG
slice. Whatever goes wrong ends in a ``LoadError`` whose message names the file and the problem.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_dicom_series(Volume(np.full((4, 8, 8), -1000, np.int16), (2.5, 0.7, 0.7)), folder)
    >>> vol = load_volume(folder)
    >>> vol.shape, vol.spacing, int(vol.hu.max())
    ((4, 8, 8), (2.5, 0.7, 0.7), -1000)
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.io.deeplesion_info import read_dl_info_cached
from lesionviewer.io.deeplesion_png import (
    find_dl_info,
    flat_series,
    is_deeplesion_folder,
    load_deeplesion_series,
    png_image_size,
)
from lesionviewer.io.dicom_header import read_frame_headers
from lesionviewer.io.dicom_loader import load_dicom_headers
from lesionviewer.io.dicom_series import FolderScan, list_files, scan_dicom_folder, skipped_note
from lesionviewer.io.errors import CorruptFileError, EmptyInputError, LoadError, NotRegularFileError
from lesionviewer.io.file_checks import is_regular_file, regular_file_size
from lesionviewer.io.itk_image import is_itk_image_path, load_itk_image
from lesionviewer.io.load_guard import guarded_read
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.series_info import SeriesInfo
from lesionviewer.io.series_split import split_uneven_series
from lesionviewer.io.volume import Volume


def load_volume(path: str | Path, *, progress: ProgressCallback | None = None, cancel=None) -> Volume:
    """Read the CT at ``path`` (folder or file, DICOM / NIfTI / NRRD / MetaImage / DeepLesion PNG) as a ``Volume``.

    A folder with several series loads the one with the most slices and says so in
    ``warnings``; use ``find_series`` to let the user choose. Optional hooks for a GUI:
    ``progress(done, total)`` (throttled; files scanned plus slices decoded) and ``cancel``
    (a callable returning True, or a ``threading.Event``) which stops the load with ``LoadCancelled``.

    Example:
        >>> import tempfile
        >>> load_volume(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.EmptyInputError: ...: the folder is empty
    """
    path = Path(path)
    tracker = LoadProgress(progress, cancel, source=str(path))
    return guarded_read(path, lambda: _load_path(path, tracker))


def _load_path(path: Path, tracker: LoadProgress) -> Volume:
    tracker.check_cancel()
    if path.is_dir():
        return _load_folder(path, tracker)
    if not path.exists():
        raise LoadError(path, "no such file or folder")
    return _load_file(path, tracker)


def _load_file(path: Path, tracker: LoadProgress) -> Volume:
    regular_file_size(path)  # a named pipe or a link to /dev/zero is refused before it is opened
    if path.name.upper() == "DICOMDIR":  # the index of a CD/DVD export: load the folder it indexes
        return _load_folder(path.parent, tracker)
    if is_itk_image_path(path):
        return load_itk_image(path)
    if path.suffix.lower() == ".png":
        return load_deeplesion_series(path.parent, files=[path], tracker=tracker)
    headers = read_frame_headers(path)
    # A multi-frame file may carry localizer frames beside the volume; keep the volume.
    headers = [h for h in headers if not h.is_localizer] or headers
    return load_dicom_headers(headers, source=path, tracker=tracker)


def _load_folder(folder: Path, tracker: LoadProgress) -> Volume:
    if is_deeplesion_folder(folder) and not _has_dicom_candidates(folder):
        return load_deeplesion_series(folder, tracker=tracker)
    scan = scan_dicom_folder(folder, tracker=tracker)
    if not scan.series:
        images = [p for p in list_files(folder) if is_itk_image_path(p)]
        if len(images) == 1:
            return load_itk_image(images[0])
        _raise_no_series(folder, scan)
    chosen = max(scan.series, key=lambda s: (s.num_slices, s.modality == "CT"))
    volume = load_dicom_headers(chosen.headers, source=chosen.folder, tracker=tracker)
    volume.warnings.extend(p for p in chosen.problems if p not in volume.warnings)
    if len(scan.series) > 1:
        others = ", ".join(s.label for s in scan.series if s is not chosen)
        volume.warnings.append(
            f"the folder holds {len(scan.series)} series; loaded {chosen.label}; also there: {others}"
        )
    return volume


def _has_dicom_candidates(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in ("", ".dcm", ".ima", ".dicom") for p in folder.iterdir())


def _raise_no_series(folder: Path, scan: FolderScan) -> None:
    if scan.num_files == 0 and scan.skipped:
        raise NotRegularFileError(folder, skipped_note(scan.skipped))
    if scan.num_files == 0:
        raise EmptyInputError(folder, "the folder is empty")
    if scan.errors:
        if len(scan.errors) == 1:
            raise scan.errors[0]
        first = scan.errors[0]
        raise type(first)(
            folder, f"none of its {len(scan.errors)} DICOM files could be read; the first: {first}"
        )
    png_series = [p for p in sorted(folder.rglob("*")) if p.is_dir() and is_deeplesion_folder(p)]
    if png_series:
        raise EmptyInputError(
            folder,
            f"no DICOM image in the folder, but {len(png_series)} DeepLesion PNG series in its sub-folders "
            f"(e.g. {png_series[0].name}); open one of them",
        )
    raise EmptyInputError(
        folder,
        f"no DICOM image in the folder ({scan.num_files} file{'s' if scan.num_files != 1 else ''}, none of them DICOM)",
    )


def find_series(
    folder: str | Path, *, progress: ProgressCallback | None = None, cancel=None, split_uneven: bool = False
) -> list[SeriesInfo]:
    """List every series below ``folder`` from headers only (fast): DICOM series, NIfTI/NRRD/MetaImage files, DeepLesion folders.

    Files that could not be read are named in each series' ``problems``; call ``SeriesInfo.load()`` to decode one.
    ``progress(done, total)`` counts files; ``cancel`` stops the scan with ``LoadCancelled``.
    A series whose slice step changes is one series (loaded with exact positions) unless
    ``split_uneven`` asks for each evenly spaced part on its own.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.io.volume import Volume
        >>> from lesionviewer.io.dicom_write import write_dicom_series
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_dicom_series(Volume(np.zeros((3, 4, 4), np.int16), (2.0, 1, 1)), folder + "/a", series_description="A")
        >>> _ = write_dicom_series(Volume(np.zeros((2, 4, 4), np.int16), (5.0, 1, 1)), folder + "/b", series_description="B")
        >>> [s.label for s in find_series(folder)]
        ['A (3 slices, 4 x 4, 2 mm)', 'B (2 slices, 4 x 4, 5 mm)']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(folder, "not a folder")
    try:
        found = list(scan_dicom_folder(folder, progress, cancel).series)
        for path in list_files(folder):
            if is_itk_image_path(path):
                found.append(_itk_series_info(path))
        for sub in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
            if is_deeplesion_folder(sub):
                found.extend(_deeplesion_series_infos(sub))
    except LoadError:
        raise
    except Exception as exc:
        raise CorruptFileError(folder, f"could not be scanned ({type(exc).__name__}: {exc})") from None
    return split_uneven_series(found) if split_uneven else found


def _itk_series_info(path: Path) -> SeriesInfo:
    import SimpleITK as sitk

    info = SeriesInfo(series_description=path.name, files=[str(path)], folder=str(path.parent), format="itk")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        info.problems.append(f"{path}: the header could not be read")
        return info
    size = reader.GetSize()
    spacing = reader.GetSpacing()
    if len(size) == 3:
        info.num_slices = int(size[2])
        info.image_size = (int(size[1]), int(size[0]))
        info.spacing = (float(spacing[2]), float(spacing[1]), float(spacing[0]))
    return info


def _deeplesion_series_infos(folder: Path) -> list[SeriesInfo]:
    numbered = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.stem.isdigit()
                       and is_regular_file(p)), key=lambda p: int(p.stem))
    infos = [_deeplesion_series_info(folder, folder.name, numbered)] if numbered else []
    infos.extend(_deeplesion_series_info(folder, key, files) for key, files in flat_series(folder).items())
    return infos


def _deeplesion_series_info(folder: Path, key: str, slices: list[Path]) -> SeriesInfo:
    info = SeriesInfo(
        series_description=f"DeepLesion {key}",
        series_uid=key,
        modality="CT",
        num_slices=len(slices),
        files=[str(p) for p in slices],
        folder=str(folder),
        format="deeplesion",
    )
    try:
        info.image_size = png_image_size(slices[0])
        table = find_dl_info(folder, key)
        records = [r for r in read_dl_info_cached(table) if r.series_key == key] if table else []
        if records:
            sx, sy, sz = records[0].spacing_mm
            info.spacing = (float(sz), float(sy), float(sx))
            info.patient_id = f"{records[0].patient_index:06d}"
            info.study_uid = f"{records[0].patient_index:06d}_{records[0].study_index:02d}"
    except LoadError as exc:  # the listing still shows the folder; loading it gives the full error
        info.problems.append(str(exc))
    return info
