"""How the viewer reads a study: the library's loader, run by the background worker.

The GUI never decodes images itself; it calls ``lesionviewer.io.load_volume`` (and
``find_series`` for folders) and shows their ``LoadError`` messages. This file only adapts those
calls to the worker (progress, cancel) and tells which paths the viewer can open.
"""
from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lesionviewer.io import LoadError, Volume
from lesionviewer_app.worker import JobCancelled, JobContext

#: File endings offered in File > Open (DICOM files often have none).
OPEN_FILE_FILTER = ("CT images (*.dcm *.DCM *.ima *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd);;"
                    "All files (*)")


def library_loader() -> Callable[..., Volume]:
    """``lesionviewer.io.load_volume``, looked up when needed (a clear error where it is missing)."""
    from lesionviewer import io

    loader = getattr(io, "load_volume", None)
    if loader is None:
        def missing(path, **_):
            raise LoadError(path, "this build of LesionViewer has no image loader (lesionviewer.io.load_volume)")
        return missing
    return loader


def library_series_finder() -> Callable[[Path], list[Any]] | None:
    """``lesionviewer.io.find_series`` where the library has it, else None."""
    from lesionviewer import io

    return getattr(io, "find_series", None)


def call_in_job(fn: Callable[..., Any], context: JobContext, *args: Any) -> Any:
    """Call a library loading function inside a worker job, passing ``progress`` and ``cancel``
    where it takes them; the library's "load cancelled" becomes the worker's cancel."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        parameters = {}
    kwargs: dict[str, Any] = {}
    if "progress" in parameters:
        kwargs["progress"] = context.progress
    if "cancel" in parameters:
        kwargs["cancel"] = context.cancel_event
    context.progress(0, 0)  # busy indicator until the loader reports
    try:
        result = fn(*args, **kwargs)
    except LoadError as error:
        if type(error).__name__ == "LoadCancelled" or context.is_cancelled():
            raise JobCancelled() from None
        raise
    context.raise_if_cancelled()
    return result


def load_in_job(loader: Callable[..., Volume], path: str | Path, context: JobContext) -> Volume:
    """Run ``loader(path)`` inside a worker job (see :func:`call_in_job`)."""
    return call_in_job(loader, context, Path(path))


def series_description(volume: Volume) -> str:
    """The series description from the header, or the file name it came from."""
    meta = volume.meta
    for name in ("SeriesDescription", "series_description"):
        if meta.get(name):
            return str(meta[name])
    source = meta.get("source_path") or meta.get("path") or ""
    return Path(str(source)).name if source else "Series"


def patient_name(volume: Volume) -> str:
    """The patient name from the header ("" when there is none)."""
    for name in ("PatientName", "patient_name"):
        if volume.meta.get(name):
            return str(volume.meta[name])
    return ""


@dataclass
class SlicePreview:
    """The middle slice of a series, decoded alone, shown while the rest is decoded.

    ``volume`` is a one-slice ``Volume`` with the series' in-plane geometry and header window;
    ``index`` is its place among the ``count`` slices of the whole series.
    """

    volume: Volume
    index: int
    count: int


def series_preview(series: Any) -> SlicePreview | None:
    """Decode only the middle slice of a DICOM series found by ``find_series`` (None where there is
    nothing worth previewing: other formats, a single image, or headers the library cannot arrange).

    It goes through the library's own one-series path (``load_dicom_headers`` with one header),
    so the preview is exactly the slice the full load will show first.
    """
    headers = list(getattr(series, "headers", None) or [])
    if getattr(series, "format", "dicom") != "dicom" or len(headers) < 2:
        return None
    try:
        from lesionviewer.io.dicom_loader import load_dicom_headers
        from lesionviewer.io.slice_stack import arrange_slices

        sizes = Counter((h.rows, h.columns) for h in headers)
        main_size = sizes.most_common(1)[0][0]
        # the loader keeps only the commonest image size, so the preview index matches its volume
        stack = arrange_slices([h for h in headers if (h.rows, h.columns) == main_size])
        middle = stack.num_slices // 2
        index = min((i for i, h in enumerate(stack.slots) if h is not None), key=lambda i: abs(i - middle))
        volume = load_dicom_headers([stack.slots[index]], source=getattr(series, "folder", None))
    except Exception:  # noqa: BLE001 - a preview is a nicety; the full load reports real problems
        return None
    volume.meta.setdefault("SeriesDescription", getattr(series, "series_description", ""))
    return SlicePreview(volume, index, stack.num_slices)


def load_series_in_job(series: Any, context: JobContext) -> Volume:
    """Load ``series`` (a ``SeriesInfo``) in a worker job, handing its middle slice to the GUI first
    (``context.partial(SlicePreview)``) so the radiologist sees the study while the rest decodes."""
    preview = series_preview(series)
    context.raise_if_cancelled()
    if preview is not None:
        context.partial(preview)
    return call_in_job(series.load, context)
