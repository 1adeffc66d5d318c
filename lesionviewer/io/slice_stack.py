"""Order the slices of one series in space and derive the volume's geometry, with plain warnings.

Slices are sorted by ImagePositionPatient projected on the slice normal (never by file name or
InstanceNumber), the slice step comes from those positions (never from SliceThickness), and the
usual real-world defects are found and explained: duplicate positions, missing slices (gaps that
are whole multiples of the step: kept as blank air slices so distances stay true), uneven spacing
and gantry tilt.

Example:
    >>> from lesionviewer.io.dicom_header import SliceHeader
    >>> def h(z): return SliceHeader(f"{z}.dcm", "1.2.840.10008.1.2.1", 4, 4, position=(0.0, 0.0, z),
    ...                              orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(0.5, 0.5))
    >>> stack = arrange_slices([h(4.0), h(0.0), h(2.0), h(8.0)])
    >>> stack.spacing, stack.missing
    ((2.0, 0.5, 0.5), [3])
    >>> stack.warnings
    ['1 slice is missing (after slice 3 of 5, the step of 2 mm jumps to 4 mm); it is shown as a blank (air) slice so distances stay true']
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lesionviewer.io.dicom_header import SliceHeader

# A gap counts as missing slices when it is within this fraction of a whole number of steps (OHIF's 20% rule).
GAP_TOLERANCE = 0.2
# Steps that differ from the typical step by more than this (mm, or fraction of the step) are "uneven".
UNEVEN_TOLERANCE_MM = 0.02
UNEVEN_TOLERANCE_FRACTION = 0.02
# Positions closer than this (mm) are the same position.
DUPLICATE_TOLERANCE_MM = 0.01
# A stacking direction further than this from the slice normal is gantry tilt.
TILT_TOLERANCE_DEG = 0.5
# Never build more than this many slots when filling gaps.
MAX_SLOTS = 5000


@dataclass
class SliceStack:
    """Slices in z order with the volume geometry; ``slots[i]`` is None for a missing (blank) slice.

    Example:
        >>> SliceStack(slots=[None], spacing=(1.0, 1.0, 1.0)).num_slices
        1
    """

    slots: list[SliceHeader | None]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    positions_mm: list[float] = field(default_factory=list)
    origins: list[tuple[float, float, float]] = field(default_factory=list)
    uneven: bool = False
    missing: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    tilt_degrees: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def num_slices(self) -> int:
        """Number of slots, blank ones included.

        Example:
            >>> SliceStack(slots=[None, None], spacing=(1.0, 1.0, 1.0)).num_slices
            2
        """
        return len(self.slots)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _mm(x: float) -> str:
    return f"{x:.3g}"


def _xyz(position) -> tuple[float, float, float]:
    # A slice position as three floats; callers pass only positions they know are there.
    if position is None:
        raise ValueError("a slice position is missing")
    x, y, z = (float(v) for v in position)
    return (x, y, z)


def arrange_slices(headers: list[SliceHeader]) -> SliceStack:
    """Sort one series' slices along the slice normal and work out spacing, origin, direction and warnings.

    All headers must share one orientation (the grouping step guarantees it).

    Example:
        >>> from lesionviewer.io.dicom_header import SliceHeader
        >>> hs = [SliceHeader(f"{z}", "1.2.840.10008.1.2.1", 2, 2, position=(0.0, 0.0, float(z)),
        ...                   orientation=(1, 0, 0, 0, 1, 0), pixel_spacing=(1.0, 1.0)) for z in (3, 1, 2)]
        >>> [h.path for h in arrange_slices(hs).slots]
        ['1', '2', '3']
    """
    if not headers:
        raise ValueError("a series needs at least one slice")
    first = headers[0]
    pixel_spacing = first.pixel_spacing or (1.0, 1.0)
    warnings: list[str] = []
    if first.pixel_spacing is None:
        warnings.append("the files give no pixel spacing; 1 mm per pixel is assumed, so sizes in mm are unknown")

    if first.orientation is None or any(h.position is None for h in headers):
        return _arrange_without_positions(headers, pixel_spacing, warnings)

    row = _unit(np.asarray(first.orientation[:3], float))
    col = _unit(np.asarray(first.orientation[3:], float))
    normal = _unit(np.cross(row, col))
    order = sorted(headers, key=lambda h: (float(np.dot(_xyz(h.position), normal)), h.instance_number or 0, h.path, h.frame))
    proj = [float(np.dot(_xyz(h.position), normal)) for h in order]

    # Duplicate positions: keep the first file at each position.
    kept: list[SliceHeader] = [order[0]]
    kept_proj = [proj[0]]
    duplicates: list[str] = []
    for h, p in zip(order[1:], proj[1:]):
        if abs(p - kept_proj[-1]) <= DUPLICATE_TOLERANCE_MM:
            duplicates.append(h.path)
        else:
            kept.append(h)
            kept_proj.append(p)
    if duplicates:
        n = len(duplicates)
        warnings.append(
            f"{n} file{'s' if n > 1 else ''} repeat{'' if n > 1 else 's'} the position of another slice "
            f"(two acquisitions or copies?); one slice per position was kept"
        )

    tilt = max((abs(h.gantry_tilt) for h in kept), default=0.0)
    if len(kept) == 1:
        step = first.spacing_between_slices or first.slice_thickness or 1.0
        stack = SliceStack(
            slots=list[SliceHeader | None](kept),
            spacing=(float(step), float(pixel_spacing[0]), float(pixel_spacing[1])),
            origin=_xyz(kept[0].position),
            direction=np.column_stack([row, col, normal]),
            positions_mm=kept_proj,
            origins=[_xyz(kept[0].position)],
            duplicates=duplicates,
            tilt_degrees=tilt,
            warnings=warnings,
        )
        if tilt > TILT_TOLERANCE_DEG:
            stack.warnings.append(f"the gantry was tilted by {tilt:.1f} degrees (from the header)")
        return stack

    diffs = np.diff(kept_proj)
    step = float(np.median(diffs))
    ratios = np.rint(diffs / step)
    fill_gaps = float(np.sum(ratios[ratios >= 2])) + len(kept) <= MAX_SLOTS
    slots: list[SliceHeader | None] = [kept[0]]
    positions = [kept_proj[0]]
    origins = [_xyz(kept[0].position)]
    missing: list[int] = []
    gap_notes: list[str] = []
    uneven: list[float] = []
    for i, d in enumerate(diffs):
        ratio = d / step
        k = int(round(ratio))
        if fill_gaps and k >= 2 and abs(ratio - k) <= GAP_TOLERANCE:
            below = np.asarray(kept[i].position, float)
            above = np.asarray(kept[i + 1].position, float)
            for j in range(1, k):
                missing.append(len(slots))
                slots.append(None)
                positions.append(kept_proj[i] + j * d / k)
                origins.append(_xyz(below + (above - below) * (j / k)))
            gap_notes.append(f"after slice {len(slots) - k + 1} of {{total}}, the step of {_mm(step)} mm jumps to {_mm(d)} mm")
        elif abs(d - step) > max(UNEVEN_TOLERANCE_MM, UNEVEN_TOLERANCE_FRACTION * step):
            uneven.append(float(d))
        slots.append(kept[i + 1])
        positions.append(kept_proj[i + 1])
        origins.append(_xyz(kept[i + 1].position))
    total = len(slots)
    if missing:
        n = len(missing)
        where = "; ".join(note.format(total=total) for note in gap_notes[:3])
        extra = len(gap_notes) - 3
        more = f" and {extra} more gap{'s' if extra > 1 else ''}" if extra > 0 else ""
        warnings.append(
            f"{n} slice{'s are' if n > 1 else ' is'} missing ({where}{more}); "
            f"{'they are' if n > 1 else 'it is'} shown as {'blank (air) slices' if n > 1 else 'a blank (air) slice'} "
            f"so distances stay true"
        )
    # The stacking direction is where the slices really are; with gantry tilt it leaves the normal.
    # The step is the average one, so the first and last slices sit exactly where their files say.
    travel = np.asarray(kept[-1].position, float) - np.asarray(kept[0].position, float)
    z_spacing = float(np.linalg.norm(travel)) / (total - 1)
    if uneven:
        slot_steps = np.diff(positions)
        warnings.append(
            f"uneven slice spacing: the steps between slices are {spacing_summary(slot_steps)}; the series is "
            f"loaded as one volume and every slice keeps its exact position (the {_mm(z_spacing)} mm shown is "
            f"the average step; split the series at the spacing changes to see each part evenly spaced)"
        )
    slice_dir = _unit(travel)
    angle = math.degrees(math.acos(min(1.0, abs(float(np.dot(slice_dir, normal))))))
    if angle > TILT_TOLERANCE_DEG:
        warnings.append(
            f"the gantry was tilted by {angle:.1f} degrees: the slices are sheared, not stacked straight; "
            f"positions in mm are exact but reformatted (coronal/sagittal) views look slanted"
        )
    elif tilt > TILT_TOLERANCE_DEG:
        warnings.append(
            f"the header records a gantry tilt of {tilt:.1f} degrees, but the slice positions are stacked "
            f"straight (the scanner has corrected it)"
        )
    tilt = max(tilt, angle)
    return SliceStack(
        slots=slots,
        spacing=(z_spacing, float(pixel_spacing[0]), float(pixel_spacing[1])),
        origin=_xyz(kept[0].position),
        direction=np.column_stack([row, col, slice_dir]),
        positions_mm=positions,
        origins=origins,
        uneven=bool(uneven),
        missing=missing,
        duplicates=duplicates,
        tilt_degrees=tilt,
        warnings=warnings,
    )


def spacing_summary(steps) -> str:
    """The distinct slice steps (mm) with how often each occurs, smallest first, in words.

    Steps within the uneven tolerance of each other count as one.

    Example:
        >>> spacing_summary([4.22, 4.22, 4.221, 7.38, 7.38])
        '4.22 mm (3 times) and 7.38 mm (2 times)'
    """
    values = sorted(abs(float(v)) for v in steps)
    groups: list[list[float]] = []
    for v in values:
        if groups and abs(v - groups[-1][0]) <= max(UNEVEN_TOLERANCE_MM, UNEVEN_TOLERANCE_FRACTION * groups[-1][0]):
            groups[-1].append(v)
        else:
            groups.append([v])
    words = [f"{_mm(float(np.median(g)))} mm ({len(g)} time{'s' if len(g) > 1 else ''})" for g in groups]
    if len(words) > 4:
        words = words[:3] + [f"{len(words) - 3} other values up to {_mm(values[-1])} mm"]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _step_source(header: SliceHeader) -> str:
    """Which header field the step of a series without positions comes from (the order used above it).

    Example:
        >>> from types import SimpleNamespace
        >>> _step_source(SimpleNamespace(spacing_between_slices=3.0, slice_thickness=5.0))
        'SpacingBetweenSlices'
        >>> _step_source(SimpleNamespace(spacing_between_slices=None, slice_thickness=None))
        'an assumed 1 mm'
    """
    if header.spacing_between_slices:
        return "SpacingBetweenSlices"
    return "SliceThickness" if header.slice_thickness else "an assumed 1 mm"


def _arrange_without_positions(
    headers: list[SliceHeader], pixel_spacing: tuple[float, float], warnings: list[str]
) -> SliceStack:
    order = sorted(headers, key=lambda h: (h.instance_number if h.instance_number is not None else 0, h.path, h.frame))
    first = order[0]
    step = first.spacing_between_slices or first.slice_thickness or 1.0
    if len(order) > 1:
        # positions alone cannot be ordered: without ImageOrientationPatient there is no normal to sort along
        given = ("no slice positions" if any(h.position is None for h in headers)
                 else "slice positions but no orientation (ImageOrientationPatient) to sort them along")
        warnings.append(
            f"the files give {given}; slices are ordered by InstanceNumber and spaced by "
            f"{_step_source(first)} ({_mm(step)} mm), which may be wrong"
        )
    direction = np.eye(3)
    if first.orientation is not None:
        row = _unit(np.asarray(first.orientation[:3], float))
        col = _unit(np.asarray(first.orientation[3:], float))
        direction = np.column_stack([row, col, _unit(np.cross(row, col))])
    origin = _xyz(first.position) if first.position is not None else (0.0, 0.0, 0.0)
    return SliceStack(
        slots=list[SliceHeader | None](order),
        spacing=(float(step), float(pixel_spacing[0]), float(pixel_spacing[1])),
        origin=origin,
        direction=direction,
        positions_mm=[i * float(step) for i in range(len(order))],
        warnings=warnings,
    )
