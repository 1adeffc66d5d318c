"""A lesion the detector found on one axial slice, in pixels and in patient millimetres.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> vol = Volume(np.zeros((5, 64, 64), np.int16), spacing=(2.0, 0.5, 0.5))
    >>> f = Finding.from_pixel_box(vol, 3, (10, 20, 30, 30), score=0.9, model_name="demo")
    >>> f.width_mm, f.height_mm, f.z_mm
    (10.0, 5.0, 6.0)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One detection: slice index, box (x1, y1, x2, y2) in pixels and in patient mm, sizes, score.

    ``box_px`` is in the continuous pixel frame (pixel column ``i`` covers ``[i, i + 1)``), as
    torchvision's boxes and the image display use it.
    ``box_mm`` holds the patient (LPS) x/y of the box corners ``(x1, y1, x2, y2)`` for an axial
    slice; ``center_mm`` is the patient position of the box centre; ``z_mm`` is the slice's
    patient z. Long and short axes are estimated from the box as an inscribed ellipse's
    axes (the box's longer and shorter side), which is how DeepLesion boxes relate to RECIST.

    Example:
        >>> f = Finding(slice_index=0, box_px=(0, 0, 4, 2), score=0.5, model_name="m")
        >>> f.long_axis_mm, f.short_axis_mm
        (0.0, 0.0)
    """

    slice_index: int
    box_px: tuple[float, float, float, float]
    score: float
    model_name: str
    box_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    center_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    z_mm: float = 0.0
    width_mm: float = 0.0
    height_mm: float = 0.0
    long_axis_mm: float = 0.0
    short_axis_mm: float = 0.0

    @classmethod
    def from_pixel_box(cls, volume: Any, slice_index: int, box_px, score: float, model_name: str) -> "Finding":
        """Build a finding from a pixel box on ``volume``'s slice, filling in every millimetre field.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> vol = Volume(np.zeros((2, 8, 8), np.int16), (5.0, 1.0, 1.0), origin=(-4, -4, 100))
            >>> Finding.from_pixel_box(vol, 1, (0, 0, 4, 2), 0.7, "m").center_mm
            (-2.5, -3.5, 105.0)
        """
        x1, y1, x2, y2 = (float(v) for v in box_px)
        corner1 = volume.pixel_point_to_patient(slice_index, y1, x1)
        corner2 = volume.pixel_point_to_patient(slice_index, y2, x2)
        centre = volume.pixel_point_to_patient(slice_index, (y1 + y2) / 2, (x1 + x2) / 2)
        width = abs(x2 - x1) * volume.spacing[2]
        height = abs(y2 - y1) * volume.spacing[1]
        return cls(
            slice_index=int(slice_index),
            box_px=(x1, y1, x2, y2),
            score=float(score),
            model_name=model_name,
            box_mm=(float(corner1[0]), float(corner1[1]), float(corner2[0]), float(corner2[1])),
            center_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
            z_mm=float(centre[2]),
            width_mm=float(width),
            height_mm=float(height),
            long_axis_mm=float(max(width, height)),
            short_axis_mm=float(min(width, height)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every field.

        Example:
            >>> Finding(0, (1, 2, 3, 4), 0.5, "m").to_dict()["box_px"]
            [1, 2, 3, 4]
        """
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        """Inverse of :meth:`to_dict`.

        Example:
            >>> f = Finding(0, (1, 2, 3, 4), 0.5, "m")
            >>> Finding.from_dict(f.to_dict()) == f
            True
        """
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields)
