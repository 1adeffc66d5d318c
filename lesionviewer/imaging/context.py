"""Context stacks: N slices centred on a slice, at a fixed physical interval.

The DeepLesion convention (3DCE, MULAN, A3D, MP3D): the neighbours of key slice ``k`` sit at
``z_k + j * interval_mm`` for ``j = -(N//2) .. N - 1 - N//2``; each is linearly interpolated between the
two stored slices nearest by position, and a position beyond the series takes the edge slice.

Even ``N`` is allowed: the centre slice is stack index ``N // 2`` (the index MP3D's centre-slice
ablation reads) and the extra slice lies on the low-index side.

Positions are given either per slice (mm along the slice normal, strictly monotonic, increasing or
decreasing) or as one uniform spacing. Stack index 0 is always on the side of source slice 0.

Example:
    >>> import numpy as np
    >>> volume = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 1, 1))  # value = index
    >>> context_stack(volume, 2.0, center_index=1, num_slices=5, interval_mm=1.0)[:, 0, 0].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lesionviewer.imaging.slice_source import SliceSource, as_slice_source


def slice_positions(positions_or_spacing, num_slices: int) -> np.ndarray:
    """Per-slice positions (mm, float64) from a sequence of positions or one uniform spacing.

    A sequence must have one finite value per slice and be strictly monotonic (duplicates or a
    zigzag make "the two nearest slices" meaningless).

    Example:
        >>> slice_positions(2.5, 3).tolist()
        [0.0, 2.5, 5.0]
        >>> slice_positions([10, 7, 4], 3).tolist()
        [10.0, 7.0, 4.0]
    """
    if num_slices < 1:
        raise ValueError(f"a volume needs at least one slice; got {num_slices}")
    values = np.asarray(positions_or_spacing, dtype=np.float64)
    if values.ndim == 0:
        spacing = float(values)
        if not np.isfinite(spacing) or spacing <= 0:
            raise ValueError(f"slice spacing must be a positive number of mm; got {spacing}")
        return np.arange(num_slices, dtype=np.float64) * spacing
    values = values.reshape(-1)
    if values.size != num_slices:
        raise ValueError(f"got {values.size} slice positions for {num_slices} slices")
    if not np.all(np.isfinite(values)):
        raise ValueError("slice positions must be finite numbers")
    if num_slices > 1:
        steps = np.diff(values)
        if not (np.all(steps > 0) or np.all(steps < 0)):
            raise ValueError("slice positions must be strictly increasing or strictly decreasing "
                             "(duplicate or unsorted positions)")
    return values


def context_sample_points(positions_or_spacing, num_slices_in_volume: int, center_index: int,
                          num_slices: int, interval_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each stack slice comes from: ``(lower, upper, weight)`` with value = ``(1-w)*lower + w*upper``.

    ``lower`` and ``upper`` are source slice indices (int64, shape ``(num_slices,)``), ``weight`` the
    float64 share of ``upper``. Use it to load only the slices a stack needs.

    Example:
        >>> lo, hi, w = context_sample_points(2.0, 5, center_index=0, num_slices=3, interval_mm=3.0)
        >>> lo.tolist(), hi.tolist(), w.tolist()
        ([0, 0, 1], [0, 0, 2], [0.0, 0.0, 0.5])
    """
    positions = slice_positions(positions_or_spacing, num_slices_in_volume)
    n_source = positions.size
    center_index = int(center_index)
    if not 0 <= center_index < n_source:
        raise IndexError(f"centre slice {center_index} is outside 0..{n_source - 1}")
    if num_slices < 1:
        raise ValueError(f"a context stack needs at least one slice; got num_slices={num_slices}")
    interval_mm = float(interval_mm)
    if not np.isfinite(interval_mm) or interval_mm <= 0:
        raise ValueError(f"the context interval must be a positive number of mm; got {interval_mm}")
    along_index = along_index_positions(positions)
    offsets = (np.arange(num_slices) - num_slices // 2) * interval_mm
    return interpolation_points(along_index, along_index[center_index] + offsets)


def along_index_positions(positions: np.ndarray) -> np.ndarray:
    """Positions made increasing with the slice index (decreasing ones change sign), so that
    ``np.interp`` applies; the context offsets are added to these.

    Example:
        >>> along_index_positions(np.array([10.0, 7.0, 4.0])).tolist()
        [-10.0, -7.0, -4.0]
    """
    return positions if positions.size < 2 or positions[1] > positions[0] else -positions


def interpolation_points(along_index: np.ndarray, targets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(lower, upper, weight)`` of each target position (same units as ``along_index``, which
    increases with the slice index); a target beyond the series takes the edge slice.

    Example:
        >>> lo, hi, w = interpolation_points(np.array([0.0, 2.0, 4.0]), [-1.0, 1.0, 4.0])
        >>> lo.tolist(), hi.tolist(), w.tolist()
        ([0, 0, 2], [0, 1, 2], [0.0, 0.5, 0.0])
    """
    n_source = along_index.size
    targets = np.asarray(targets, dtype=np.float64)
    if n_source == 1:
        zeros = np.zeros(targets.shape, dtype=np.int64)
        return zeros, zeros.copy(), np.zeros(targets.shape)
    # np.interp clamps outside [first, last], which is exactly "repeat the edge slice".
    fractional = np.interp(targets, along_index, np.arange(n_source, dtype=np.float64))
    lower = np.floor(fractional).astype(np.int64)
    lower = np.minimum(lower, n_source - 1)
    weight = fractional - lower
    upper = np.minimum(lower + 1, n_source - 1)
    # A weight within rounding of 0 means "exactly on slice lower": do not ask for the next slice.
    on_slice = weight < 1e-9
    weight[on_slice] = 0.0
    upper[on_slice] = lower[on_slice]
    return lower, upper, weight


def context_stack(volume_hu, slice_positions_mm, center_index: int, num_slices: int,
                  interval_mm: float) -> np.ndarray:
    """The ``(num_slices, H, W)`` float32 context stack centred on slice ``center_index``.

    ``volume_hu`` is a ``(Z, H, W)`` array (numpy or torch) or a :class:`SliceSource`;
    ``slice_positions_mm`` is a sequence of ``Z`` positions or one uniform spacing in mm.
    Values stay in the volume's units (HU): window or :func:`clip_and_scale_mp3d` afterwards.

    Example:
        >>> import numpy as np
        >>> volume = np.stack([np.full((2, 2), z) for z in (0.0, 1.0, 5.0)])  # value = position
        >>> context_stack(volume, [0.0, 1.0, 5.0], 1, 3, 2.0)[:, 0, 0].tolist()
        [0.0, 1.0, 3.0]
    """
    source = as_slice_source(volume_hu)
    lower, upper, weight = context_sample_points(slice_positions_mm, source.num_slices, center_index,
                                                 num_slices, interval_mm)
    cache: dict[int, np.ndarray] = {}
    for index in np.unique(np.concatenate([lower, upper])).tolist():
        cache[index] = np.asarray(source.read(index), dtype=np.float32)
    return _blend(cache, lower, upper, weight)


class ContextStacker:
    """Context stacks for many centre slices of one series, reading each source slice once.

    Consecutive centres share most of their source slices; the stacker keeps the slices the previous
    call used and reads only the new ones (``reads`` counts source reads). Not thread-safe: give each
    worker its own stacker.

    Example:
        >>> import numpy as np
        >>> volume = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 2, 2))
        >>> stacker = ContextStacker(volume, 1.0, num_slices=3, interval_mm=1.0)
        >>> batch = stacker.stacks([4, 5, 6])
        >>> batch.shape, batch[:, :, 0, 0].tolist(), stacker.reads
        ((3, 3, 2, 2), [[3.0, 4.0, 5.0], [4.0, 5.0, 6.0], [5.0, 6.0, 7.0]], 5)
        >>> _ = stacker.stacks([7, 8]); stacker.reads  # 6..7 were kept, only 8 and 9 are new
        7
    """

    def __init__(self, source, slice_positions_mm, num_slices: int, interval_mm: float) -> None:
        self.source: SliceSource = as_slice_source(source)
        self.positions = slice_positions(slice_positions_mm, self.source.num_slices)
        self.num_slices = int(num_slices)
        self.interval_mm = float(interval_mm)
        self.reads = 0
        self._cache: dict[int, np.ndarray] = {}

    def sample_points(self, center_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`context_sample_points` for one centre of this series.

        Example:
            >>> import numpy as np
            >>> ContextStacker(np.zeros((3, 1, 1)), 1.0, 3, 1.0).sample_points(0)[0].tolist()
            [0, 0, 1]
        """
        return context_sample_points(self.positions, self.positions.size, center_index,
                                     self.num_slices, self.interval_mm)

    def stack(self, center_index: int) -> np.ndarray:
        """One ``(num_slices, H, W)`` float32 stack.

        Example:
            >>> import numpy as np
            >>> ContextStacker(np.zeros((3, 4, 5)), 1.0, 7, 2.0).stack(1).shape
            (7, 4, 5)
        """
        return self.stacks([center_index])[0]

    def stacks(self, center_indices: Iterable[int]) -> np.ndarray:
        """``(B, num_slices, H, W)`` float32 stacks for the given centres, in the given order.

        Example:
            >>> import numpy as np
            >>> ContextStacker(np.zeros((3, 4, 5)), 1.0, 3, 1.0).stacks(range(3)).shape
            (3, 3, 4, 5)
        """
        centers = [int(c) for c in center_indices]
        if not centers:
            raise ValueError("stacks() needs at least one centre slice")
        points = [self.sample_points(c) for c in centers]
        needed = set()
        for lower, upper, _ in points:
            needed.update(lower.tolist())
            needed.update(upper.tolist())
        cache = {i: self._cache[i] for i in needed if i in self._cache}
        for index in sorted(needed - cache.keys()):
            cache[index] = np.asarray(self.source.read(index), dtype=np.float32)
            self.reads += 1
        self._cache = cache  # keep exactly what this call used: the next run of centres overlaps it
        first = cache[int(points[0][0][0])]
        out = np.empty((len(centers), self.num_slices) + first.shape, dtype=np.float32)
        for row, p in zip(out, points):
            _blend(cache, *p, out=row)
        return out

    def clear(self) -> None:
        """Forget the kept slices (e.g. to free memory between series).

        Example:
            >>> import numpy as np
            >>> s = ContextStacker(np.zeros((2, 1, 1)), 1.0, 1, 1.0)
            >>> _ = s.stack(0); _ = s.stack(0); s.reads  # the second call reuses the kept slice
            1
            >>> s.clear(); _ = s.stack(0); s.reads  # forgotten: read again
            2
        """
        self._cache = {}


def _blend(slices: dict[int, np.ndarray], lower: Sequence[int] | np.ndarray, upper: Sequence[int] | np.ndarray,
           weight: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    first = slices[int(lower[0])]
    if out is None:
        out = np.empty((len(lower),) + first.shape, dtype=np.float32)
    for j, (lo, hi, w) in enumerate(zip(lower, upper, weight)):
        a = slices[int(lo)]
        if a.shape != first.shape:
            raise ValueError(f"source slice {lo} has shape {a.shape}, slice {lower[0]} has {first.shape}")
        if w == 0.0:
            out[j] = a
        else:
            b = slices[int(hi)]
            if b.shape != first.shape:
                raise ValueError(f"source slice {hi} has shape {b.shape}, slice {lower[0]} has {first.shape}")
            # a + w*(b-a) rather than (1-w)*a + w*b: exact at w == 1 and one multiply fewer.
            np.subtract(b, a, out=out[j])
            out[j] *= np.float32(w)
            out[j] += a
    return out
