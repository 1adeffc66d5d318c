"""Turn the headers of one DICOM series into a ``Volume``: check, arrange, then decode in parallel.

The output int16 array is allocated once and every slice is decoded straight into its place, in
parallel (``parallel_decode``), so peak memory stays close to the volume itself.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> from lesionviewer.io.dicom_header import read_slice_header
    >>> files = write_dicom_series(Volume(np.full((3, 4, 4), 50, np.int16), (2.0, 1.0, 1.0)), tempfile.mkdtemp())
    >>> vol = load_dicom_headers([read_slice_header(f) for f in files])
    >>> vol.shape, int(vol.hu.mean()), vol.spacing
    ((3, 4, 4), 50, (2.0, 1.0, 1.0))
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lesionviewer.io.dicom_header import SliceHeader
from lesionviewer.io.errors import EmptyInputError, ImplausibleImageError, InconsistentSeriesError
from lesionviewer.io.parallel_decode import decode_slices
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.series_identity import SeriesIdentity
from lesionviewer.io.slice_stack import arrange_slices
from lesionviewer.io.volume import Volume

# Refuse volumes larger than this before allocating (a 2000-slice 1024 x 1024 CT is 4 GiB).
MAX_VOLUME_BYTES = 8 * 1024**3
# HU given to slices that are missing from the series.
BLANK_HU = -1024
# A series still loads when at most this fraction of its slices fail to decode (they become blank).
MAX_FAILED_FRACTION = 0.1


def load_dicom_headers(
    headers: list[SliceHeader],
    source: str | Path | None = None,
    progress: ProgressCallback | None = None,
    cancel=None,
    *,
    tracker: LoadProgress | None = None,
) -> Volume:
    """Load one series (its slice headers, any order) into a ``Volume`` with HU, geometry, meta and warnings.

    ``source`` names the series in error messages (default: the folder of the first file).
    ``progress(done, total)`` counts decoded slices; ``cancel`` (callable or Event) stops the
    load with ``LoadCancelled``; a ``tracker`` shared with a preceding scan replaces both.

    Example:
        >>> load_dicom_headers([])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.EmptyInputError: series: no DICOM image to load
    """
    if not headers:
        raise EmptyInputError(source or "series", "no DICOM image to load")
    source = str(source) if source else str(Path(headers[0].path).parent)
    warnings: list[str] = []

    sizes = Counter((h.rows, h.columns) for h in headers)
    if len(sizes) > 1:
        (size, count), *_ = sizes.most_common()
        listing = ", ".join(f"{n} of {r} x {c}" for (r, c), n in sizes.most_common())
        if count * 2 <= len(headers):
            raise InconsistentSeriesError(
                source, f"the series mixes image sizes ({listing}) and no size is held by most slices"
            )
        warnings.append(
            f"the series mixes image sizes ({listing}); the {count} slices of {size[0]} x {size[1]} were "
            f"loaded and the other {len(headers) - count} left out"
        )
        headers = [h for h in headers if (h.rows, h.columns) == size]

    ignored = Counter(v for h in headers for v in h.ignored_values)
    if ignored:
        listing = "; ".join(f"{value} in {n} file{'s' if n > 1 else ''}" for value, n in ignored.most_common(4))
        warnings.append(f"impossible header values were ignored (read as absent): {listing}")
    stack = arrange_slices(headers)
    warnings.extend(stack.warnings)
    rows, columns = headers[0].rows, headers[0].columns
    nbytes = stack.num_slices * rows * columns * 2
    if nbytes > MAX_VOLUME_BYTES:
        raise ImplausibleImageError(
            source,
            f"the series would need {nbytes / 1024**3:.1f} GiB ({stack.num_slices} slices of {rows} x {columns}); "
            f"refused (limit {MAX_VOLUME_BYTES / 1024**3:.0f} GiB)",
        )

    if tracker is None:
        tracker = LoadProgress(progress, cancel, source=source)
    tracker.set_total(tracker.done + stack.num_slices - len(stack.missing))
    tracker.check_cancel()
    hu = np.empty((stack.num_slices, rows, columns), dtype=np.int16)
    for i in stack.missing:
        hu[i] = BLANK_HU
    failures = decode_slices(stack.slots, hu, tracker)
    if failures:
        if len(failures) > MAX_FAILED_FRACTION * len(headers) or len(failures) == len(headers):
            raise failures[0][1]
        for i, _ in failures:
            hu[i] = BLANK_HU
        shown = "; ".join(str(e) for _, e in failures[:3])
        warnings.append(
            f"{len(failures)} slice{'s' if len(failures) > 1 else ''} could not be decoded and "
            f"{'are' if len(failures) > 1 else 'is'} shown blank: {shown}"
        )

    first = headers[0]
    ordered = [h for h in stack.slots if h is not None]
    positions = [h.position if h is not None and h.position else None for h in stack.slots]
    meta = {
        "format": "dicom",
        "source": source,
        "PatientName": first.patient_name,
        "PatientID": first.patient_id,
        "StudyInstanceUID": first.study_uid,
        "SeriesInstanceUID": first.series_uid,
        "StudyDescription": first.study_description,
        "SeriesDescription": first.series_description,
        "SeriesNumber": first.series_number,
        "StudyDate": first.study_date,
        "Modality": first.modality,
        "FrameOfReferenceUID": first.frame_of_reference_uid,
        "window_center": first.window_center,
        "window_width": first.window_width,
        "transfer_syntax": sorted({h.transfer_syntax for h in ordered}),
        "slice_thickness": first.slice_thickness,
        "slice_positions_mm": [float(p) for p in stack.positions_mm],
        "image_positions": [list(p) if p is not None else None for p in positions],
        "source_files": [h.path if h is not None else None for h in stack.slots],
        "instance_numbers": [h.instance_number if h is not None else None for h in stack.slots],
        "source_frames": [h.frame if h is not None else None for h in stack.slots],
        "missing_slices": list(stack.missing),
        "failed_slices": [i for i, _ in failures],
        "gantry_tilt_degrees": stack.tilt_degrees,
    }
    identity = SeriesIdentity(
        study_uid=first.study_uid, series_uid=first.series_uid, frame_of_reference_uid=first.frame_of_reference_uid,
        modality=first.modality, description=first.series_description, patient_id=first.patient_id,
        patient_name=first.patient_name, positions=tuple(positions),
    )
    return Volume(
        hu=hu, spacing=stack.spacing, origin=stack.origin, direction=stack.direction, meta=meta, warnings=warnings,
        slice_origins=np.asarray(stack.origins, float) if stack.uneven else None, identity=identity,
    )
