"""How the viewer reads a study: the library's loader, run by the background worker.

The GUI never decodes images itself; it calls ``lesionviewer.io.load_volume`` (and
``find_series`` for folders) and shows their ``LoadError`` messages. This file only adapts those
calls to the worker (progress, cancel) and tells which paths the viewer can open.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from lesionviewer.io import LoadCancelled, LoadError, SeriesInfo, Volume, find_series, load_volume
from lesionviewer.io.series_preview import SlicePreview, middle_slice_preview
from lesionviewer_app.worker import JobCancelled, JobContext

__all__ = [
    "OPEN_FILE_FILTER", "SlicePreview", "call_in_job", "library_loader", "library_series_finder", "load_in_job",
    "load_series_in_job", "patient_name", "series_description", "series_preview",
]

#: File endings offered in File > Open (DICOM files often have none).
OPEN_FILE_FILTER = ("CT images (*.dcm *.DCM *.ima *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;"
                    "All files (*)")

#: What the viewer calls to read a path: ``loader(path, progress=..., cancel=...)`` (``load_volume``'s form).
Loader = Callable[..., Volume]


def library_loader() -> Loader:
    """``lesionviewer.io.load_volume``: the loader the viewer uses unless a test gives it another.

    Example:
        >>> library_loader().__name__
        'load_volume'
    """
    return load_volume


def library_series_finder() -> Callable[..., list[SeriesInfo]]:
    """``lesionviewer.io.find_series``: lists the series of a folder, headers only.

    Example:
        >>> library_series_finder().__name__
        'find_series'
    """
    return find_series


def call_in_job(fn: Callable[..., Any], context: JobContext, *args: Any) -> Any:
    """Call a library loading function inside a worker job as ``fn(*args, progress=..., cancel=...)``;
    the library's "load cancelled" becomes the worker's cancel.

    Example:
        >>> import threading
        >>> from types import SimpleNamespace
        >>> job = SimpleNamespace(progress=lambda done, total: None, cancel_event=threading.Event(),
        ...                       is_cancelled=lambda: False, raise_if_cancelled=lambda: None)
        >>> call_in_job(lambda path, progress, cancel: f"read {path}", job, "ct/")
        'read ct/'
    """
    context.progress(0, 0)  # busy indicator until the loader reports
    try:
        result = fn(*args, progress=context.progress, cancel=context.cancel_event)
    except LoadError as error:
        if isinstance(error, LoadCancelled) or context.is_cancelled():
            raise JobCancelled() from None
        raise
    context.raise_if_cancelled()
    return result


def load_in_job(loader: Loader, path: str | Path, context: JobContext) -> Volume:
    """Run ``loader(path)`` inside a worker job (see :func:`call_in_job`)."""
    return call_in_job(loader, context, Path(path))


def series_description(volume: Volume) -> str:
    """The series description from the header, or the file name it came from.

    Example:
        >>> import numpy as np
        >>> series_description(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1), meta={"path": "/ct/chest.nii"}))
        'chest.nii'
    """
    if volume.identity.description:
        return volume.identity.description
    source = volume.meta.get("source_path") or volume.meta.get("path") or ""
    return Path(str(source)).name if source else "Series"


def patient_name(volume: Volume) -> str:
    """The patient name from the header ("" when there is none).

    Example:
        >>> import numpy as np
        >>> patient_name(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1), meta={"PatientName": "DOE^J"}))
        'DOE^J'
    """
    return volume.identity.patient_name


def series_preview(series: SeriesInfo) -> SlicePreview | None:
    """The middle slice of ``series`` decoded alone (``lesionviewer.io.series_preview``), or None."""
    return middle_slice_preview(series)


def load_series_in_job(series: SeriesInfo, context: JobContext) -> Volume:
    """Load ``series`` (a ``SeriesInfo``) in a worker job, handing its middle slice to the GUI first
    (``context.partial(SlicePreview)``) so the radiologist sees the study while the rest decodes."""
    preview = series_preview(series)
    context.raise_if_cancelled()
    if preview is not None:
        context.partial(preview)
    return call_in_job(series.load, context)
