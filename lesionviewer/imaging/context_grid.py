"""Context grids: the series resampled along z at the context interval, shared by many context stacks.

The context stack of centre slice ``c`` samples the positions ``z_c + j * interval`` (see
:mod:`lesionviewer.imaging.context`). Centres whose positions differ by a whole number of intervals
sample the same lattice of positions, so one resampled series serves all of them: stack ``c`` is
``num_slices`` consecutive lattice points. A :class:`ContextGrid` is that lattice for one group of
centres; :func:`context_grids` splits the requested centres into such groups (one group when the
slice spacing equals the interval or is a multiple of it; ``k`` groups when ``k`` slices make a whole
number of intervals, e.g. 4 for 0.625 mm slices at 2.5 mm).

Lattice points are interpolated exactly as the context stack's neighbours are (the two nearest
slices by position, the edge slice beyond the series), so a window of the grid equals the
context stack of its centre (to float rounding; centres are grouped when their phases agree within
``PHASE_TOLERANCE_MM``).

Example:
    >>> import numpy as np
    >>> [g.centres.tolist() for g in context_grids(1.25, 6, range(6), interval_mm=2.5)]
    [[0, 2, 4], [1, 3, 5]]
    >>> grid = context_grids(5.0, 4, [1, 2], interval_mm=2.5)[0]
    >>> grid.centre_index.tolist()  # lattice index of each centre: two lattice points per slice
    [2, 4]
    >>> lo, hi, w = grid.sample_points(range(1, 4))
    >>> lo.tolist(), hi.tolist(), w.tolist()
    ([0, 1, 1], [1, 1, 2], [0.5, 0.0, 0.5])
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from lesionviewer.imaging.context import along_index_positions, interpolation_points, slice_positions

#: Centres whose lattices are offset by less than this (mm) share one grid.
PHASE_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class ContextGrid:
    """A lattice ``origin + k * interval`` (positions along increasing slice index, mm) for some centres.

    ``centres`` are source slice indices; ``centre_index[i]`` is the lattice index of
    ``centres[i]``, so its context stack of ``D`` slices is lattice indices
    ``centre_index[i] - D // 2 .. centre_index[i] + D - 1 - D // 2``. Lattice index 0 is the series'
    first slice of this lattice and ``last_index`` its last one (whichever centres were asked for).

    Example:
        >>> g = ContextGrid(np.array([0.0, 2.0, 4.0]), 0.0, 2.0, np.array([1]), np.array([1]), 2)
        >>> g.sample_points([0, 1, 2, 3])[0].tolist()  # past the last slice: the edge slice
        [0, 1, 2, 2]
    """

    along_index: np.ndarray
    origin_mm: float
    interval_mm: float
    centres: np.ndarray
    centre_index: np.ndarray
    last_index: int = 0

    def sample_points(self, lattice_indices: Iterable[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lower, upper, weight)`` source slices of the given lattice points (any integers).

        Example:
            >>> context_grids(2.0, 3, [0], 2.0)[0].sample_points([-1, 0, 5])[0].tolist()
            [0, 0, 2]
        """
        k = np.asarray(list(lattice_indices), dtype=np.float64)
        return interpolation_points(self.along_index, self.origin_mm + k * self.interval_mm)


def _phase_keys(along: np.ndarray, interval_mm: float, tolerance_mm: float) -> np.ndarray:
    # each slice's offset from the lattice through slice 0, in units of the tolerance
    steps = (along - along[0]) / interval_mm
    phase_mm = (steps - np.round(steps)) * interval_mm  # in [-interval/2, interval/2]
    keys = np.round(phase_mm / tolerance_mm).astype(np.int64)
    # the phases +interval/2 and -interval/2 are the same lattice
    half = np.abs(keys) * tolerance_mm >= interval_mm / 2 - tolerance_mm / 2
    keys[half] = -np.abs(keys[half])
    return keys


def context_grids(positions_or_spacing, num_slices_in_volume: int, centres: Iterable[int],
                  interval_mm: float, tolerance_mm: float = PHASE_TOLERANCE_MM) -> list[ContextGrid]:
    """Group ``centres`` by the lattice their context stacks sample; one :class:`ContextGrid` each.

    Groups come in the order of their first centre in ``centres``; within a group, centres keep
    their given order.

    Example:
        >>> [g.centres.tolist() for g in context_grids([0.0, 1.0, 2.5, 5.0], 4, [3, 0, 1, 2], 2.5)]
        [[3, 0, 2], [1]]
    """
    positions = slice_positions(positions_or_spacing, num_slices_in_volume)
    interval_mm = float(interval_mm)
    if not np.isfinite(interval_mm) or interval_mm <= 0:
        raise ValueError(f"the context interval must be a positive number of mm; got {interval_mm}")
    along = along_index_positions(positions)
    keys = _phase_keys(along, interval_mm, tolerance_mm)
    groups: dict[int, list[int]] = {}
    for value in centres:
        c = int(value)
        if not 0 <= c < positions.size:
            raise IndexError(f"centre slice {c} is outside 0..{positions.size - 1}")
        groups.setdefault(int(keys[c]), []).append(c)
    grids = []
    for key, members in groups.items():
        # the lattice starts at the series' first slice of this phase, whichever centres were asked
        # for, so a centre's place in the lattice (and in volume mode's chunks) never depends on them
        on_lattice = np.flatnonzero(keys == key)
        origin = float(along[on_lattice[0]])
        index = np.round((along[members] - origin) / interval_mm).astype(np.int64)
        last = int(np.round((along[on_lattice[-1]] - origin) / interval_mm))
        grids.append(ContextGrid(along, origin, interval_mm, np.asarray(members, dtype=np.int64), index, last))
    return grids
