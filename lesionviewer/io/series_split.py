"""Split a series at its slice-spacing changes, on request only.

A series whose slice step changes part-way (e.g. a head CT at 4.22 mm through the skull base,
then 7.38 mm) loads as one volume with every slice at its exact position; that is the default.
A user who wants each evenly spaced part on its own asks for it here; each part is a
``SeriesInfo`` whose ``note`` says which part it is and at what step, so the parts never look alike.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> from lesionviewer.io.load import find_series
    >>> folder = tempfile.mkdtemp()
    >>> origins = [[0, 0, z] for z in (0, 2, 4, 6, 11, 16, 21)]
    >>> vol = Volume(np.zeros((7, 4, 4), np.int16), (3.5, 1, 1), slice_origins=origins)
    >>> _ = write_dicom_series(vol, folder, series_description="Head")
    >>> [info] = find_series(folder)
    >>> info.label
    'Head (7 slices, 4 x 4, uneven 2 to 5 mm)'
    >>> [part.label for part in split_at_spacing_changes(info)]
    ['Head (4 slices, 4 x 4, 2 mm) [part 1 of 2, slices 1-4 at 2 mm]', 'Head (3 slices, 4 x 4, 5 mm) [part 2 of 2, slices 5-7 at 5 mm]']
"""
from __future__ import annotations

from lesionviewer.io.dicom_series import describe_series
from lesionviewer.io.image_sizes import of_commonest_size
from lesionviewer.io.series_info import SeriesInfo
from lesionviewer.io.slice_stack import (
    UNEVEN_TOLERANCE_FRACTION,
    UNEVEN_TOLERANCE_MM,
    arrange_slices,
)


def _same_step(a: float, b: float) -> bool:
    return abs(a - b) <= max(UNEVEN_TOLERANCE_MM, UNEVEN_TOLERANCE_FRACTION * min(a, b))


def split_at_spacing_changes(info: SeriesInfo) -> list[SeriesInfo]:
    """The evenly spaced runs of a DICOM series as separate series (``[info]`` when it is even or not DICOM).

    A run keeps going while the step stays the same; the step that changes it starts the next run.
    Runs of one slice are kept (a lone slice between two spacings is a part of its own).

    Example:
        >>> split_at_spacing_changes(SeriesInfo(format="itk", num_slices=3))[0].num_slices
        3
    """
    if info.format != "dicom" or not info.spacing_range or len(info.headers) < 3:
        return [info]
    stack = arrange_slices(of_commonest_size(info.headers))
    slots = [(h, p) for h, p in zip(stack.slots, stack.positions_mm) if h is not None]
    runs: list[list[tuple]] = [[slots[0]]]
    run_step: float | None = None
    for item in slots[1:]:
        step = item[1] - runs[-1][-1][1]
        if run_step is None or _same_step(step, run_step):
            runs[-1].append(item)
            run_step = step if run_step is None else run_step
        else:
            runs.append([item])
            run_step = None
    if len(runs) == 1:
        return [info]
    parts = []
    first = 1
    for number, run in enumerate(runs, start=1):
        part = describe_series([h for h, _ in run])
        step = (run[-1][1] - run[0][1]) / (len(run) - 1) if len(run) > 1 else None
        at = f" at {step:.3g} mm" if step else ""
        where = f"slice {first}" if len(run) == 1 else f"slices {first}-{first + len(run) - 1}"
        part.note = f"part {number} of {len(runs)}, {where}{at}"
        if info.note:
            part.note = f"{info.note}; {part.note}"
        part.problems = list(info.problems)
        parts.append(part)
        first += len(run)
    return parts


def split_uneven_series(series: list[SeriesInfo]) -> list[SeriesInfo]:
    """``series`` with every unevenly spaced DICOM series replaced by its evenly spaced parts.

    Example:
        >>> split_uneven_series([SeriesInfo(num_slices=2)])[0].num_slices
        2
    """
    out: list[SeriesInfo] = []
    for info in series:
        out.extend(split_at_spacing_changes(info))
    return out
