"""The radiologist's own measurements: a ruler (one segment) or RECIST (long and short axis).

Points are ``(x, y)`` in the continuous pixel frame (column, row; pixel i spans [i, i+1)) of one axial slice, as
``Finding.box_px``. Lengths are in millimetres, from the volume's in-plane pixel spacing.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> vol = Volume(np.zeros((4, 32, 32), np.int16), spacing=(2.0, 0.5, 0.5))
    >>> m = Measurement.ruler(vol, 2, (0, 0), (6, 8))
    >>> m.kind, m.long_axis_mm, m.z_mm
    ('ruler', 5.0, 4.0)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any

Point = tuple[float, float]

KINDS = ("ruler", "recist")


def _length_mm(volume: Any, p1: Point, p2: Point) -> float:
    row_mm, col_mm = volume.spacing[1], volume.spacing[2]
    return math.hypot((p2[0] - p1[0]) * col_mm, (p2[1] - p1[1]) * row_mm)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _number_or_nan(v: Any) -> float:
    # A position the review file saved as null (unknown geometry) reads back as NaN.
    return math.nan if v is None else float(v)


def _point(p: Any) -> Point:
    x, y = p
    return (float(x), float(y))


@dataclass(frozen=True)
class Measurement:
    """A ruler (``points`` = 2, one length) or RECIST (``points`` = long p1, p2, short p1, p2).

    ``id`` is empty until the session assigns one (``M1``, ``M2``, ...). ``center_mm`` is the
    patient (LPS) position of the long axis' midpoint (NaN where the series' position is unknown;
    saved as null). Lengths and points must be finite (``ValueError`` otherwise).

    Example:
        >>> m = Measurement("ruler", 0, ((0.0, 0.0), (3.0, 4.0)), (5.0,))
        >>> Measurement.from_dict(m.to_dict()) == m
        True
        >>> Measurement("ruler", 0, ((0.0, 0.0), (3.0, 4.0)), (float("nan"),))
        Traceback (most recent call last):
        ...
        ValueError: a ruler measurement needs finite, non-negative lengths in mm, got nan (is the series' pixel spacing unknown?)
    """

    kind: str
    slice_index: int
    points: tuple[Point, ...]
    lengths_mm: tuple[float, ...]
    z_mm: float = 0.0
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    note: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        expected = {"ruler": (2, 1), "recist": (4, 2)}.get(self.kind)
        if expected is None:
            raise ValueError(f"measurement kind must be one of {KINDS}, got {self.kind!r}")
        if (len(self.points), len(self.lengths_mm)) != expected:
            raise ValueError(
                f"a {self.kind} measurement has {expected[0]} points and {expected[1]} lengths, "
                f"got {len(self.points)} and {len(self.lengths_mm)}"
            )
        # Refused at entry, with the reason, so that no NaN ever reaches the review file or an export.
        for length in self.lengths_mm:
            if not _is_number(length) or not math.isfinite(length) or length < 0:
                raise ValueError(
                    f"a {self.kind} measurement needs finite, non-negative lengths in mm, got {length!r} "
                    "(is the series' pixel spacing unknown?)"
                )
        for point in self.points:
            if not all(_is_number(c) and math.isfinite(c) for c in point):
                raise ValueError(f"a {self.kind} measurement's points must be finite pixel positions, got {point!r}")

    @classmethod
    def ruler(cls, volume: Any, slice_index: int, p1: Point, p2: Point, note: str = "") -> "Measurement":
        """A straight-line distance between two points on slice ``slice_index`` of ``volume``.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> vol = Volume(np.zeros((1, 8, 8), np.int16), spacing=(1.0, 2.0, 1.0))
            >>> Measurement.ruler(vol, 0, (1, 1), (1, 4)).lengths_mm
            (6.0,)
        """
        p1, p2 = _point(p1), _point(p2)
        return cls(
            kind="ruler",
            slice_index=int(slice_index),
            points=(p1, p2),
            lengths_mm=(_length_mm(volume, p1, p2),),
            **_position(volume, slice_index, p1, p2),
            note=note,
        )

    @classmethod
    def recist(
        cls,
        volume: Any,
        slice_index: int,
        long_axis: tuple[Point, Point],
        short_axis: tuple[Point, Point],
        note: str = "",
    ) -> "Measurement":
        """RECIST bidirectional measurement: the longest diameter and the longest perpendicular one.

        The two segments are given as drawn; if the "short" one is longer they are swapped so that
        ``long_axis_mm >= short_axis_mm`` always holds.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> vol = Volume(np.zeros((1, 32, 32), np.int16), spacing=(1.0, 0.5, 0.5))
            >>> m = Measurement.recist(vol, 0, ((0, 10), (20, 10)), ((10, 5), (10, 15)))
            >>> m.long_axis_mm, m.short_axis_mm
            (10.0, 5.0)
        """
        a = (_point(long_axis[0]), _point(long_axis[1]))
        b = (_point(short_axis[0]), _point(short_axis[1]))
        la, lb = _length_mm(volume, *a), _length_mm(volume, *b)
        if lb > la:
            a, b, la, lb = b, a, lb, la
        return cls(
            kind="recist",
            slice_index=int(slice_index),
            points=(a[0], a[1], b[0], b[1]),
            lengths_mm=(la, lb),
            **_position(volume, slice_index, a[0], a[1]),
            note=note,
        )

    @property
    def long_axis_mm(self) -> float:
        """The ruler's length, or RECIST's long axis, in mm.

        Example:
            >>> Measurement("ruler", 0, ((0, 0), (1, 0)), (0.7,)).long_axis_mm
            0.7
        """
        return self.lengths_mm[0]

    @property
    def short_axis_mm(self) -> float | None:
        """RECIST's short axis in mm; ``None`` for a ruler.

        Example:
            >>> Measurement("ruler", 0, ((0, 0), (1, 0)), (0.7,)).short_axis_mm is None
            True
        """
        return self.lengths_mm[1] if self.kind == "recist" else None

    def with_id(self, new_id: str) -> "Measurement":
        """A copy carrying ``new_id``.

        Example:
            >>> Measurement("ruler", 0, ((0, 0), (1, 0)), (1.0,)).with_id("M3").id
            'M3'
        """
        return replace(self, id=new_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> Measurement("ruler", 2, ((0, 0), (1, 0)), (1.0,)).to_dict()["points"]
            [[0, 0], [1, 0]]
        """
        return {
            "id": self.id,
            "kind": self.kind,
            "slice_index": self.slice_index,
            "points": [list(p) for p in self.points],
            "lengths_mm": list(self.lengths_mm),
            "z_mm": self.z_mm,
            "center_mm": list(self.center_mm),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Measurement":
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``ValueError``/``TypeError`` on bad data.

        Example:
            >>> Measurement.from_dict({"kind": "ruler", "slice_index": 0, "points": [[0, 0], [3, 4]],
            ...                        "lengths_mm": [5.0]}).long_axis_mm
            5.0
        """
        note = data.get("note", "")
        if not isinstance(note, str):
            raise TypeError("measurement note must be text")
        return cls(
            kind=str(data["kind"]),
            slice_index=int(data["slice_index"]),
            points=tuple(_point(p) for p in data["points"]),
            lengths_mm=tuple(float(v) for v in data["lengths_mm"]),
            z_mm=_number_or_nan(data.get("z_mm", 0.0)),
            center_mm=tuple(_number_or_nan(v) for v in data.get("center_mm", (0.0, 0.0, 0.0))),  # type: ignore[arg-type]
            note=note,
            id=str(data.get("id", "")),
        )


def _position(volume: Any, slice_index: int, p1: Point, p2: Point) -> dict[str, Any]:
    mid_x, mid_y = (p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2
    centre = volume.pixel_point_to_patient(slice_index, mid_y, mid_x)
    return {"z_mm": float(centre[2]), "center_mm": (float(centre[0]), float(centre[1]), float(centre[2]))}
