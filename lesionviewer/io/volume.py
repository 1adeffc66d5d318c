"""The in-memory CT volume every part of LesionViewer passes around.

Conventions (the same as SimpleITK's, so conversions are direct):

* ``hu`` is indexed ``[z, y, x]`` (slice, row, column) and holds Hounsfield units as int16.
* ``spacing`` is ``(z, y, x)`` in millimetres: slice step, row step, column step.
* ``origin`` is the patient (DICOM LPS) position ``(x, y, z)`` in mm of the centre of voxel ``[0, 0, 0]``.
* ``direction`` is a 3x3 matrix whose *columns* are the patient-space unit vectors of the array's
  column, row and slice axes, in that order (ITK's direction matrix).
* ``slice_origins`` is None for evenly spaced slices (slice ``k`` starts at ``origin + k * spacing[0]``
  along the slice axis). A series whose slices are unevenly spaced keeps each slice's exact position
  there instead: an ``(N, 3)`` array of the patient position of voxel ``[k, 0, 0]``; ``spacing[0]`` is
  then the average step, and every conversion below uses the exact positions.
* ``identity`` (:class:`SeriesIdentity`) says what the series is (study, series, frame of reference,
  modality, description, each slice's file position); ``meta`` holds only free-form extras of the
  loader. A volume built by hand with UIDs in ``meta`` gets them read into ``identity``.
* Every coordinate conversion takes its arguments in the array's order ``(z, y, x)``.

Example:
    >>> import numpy as np
    >>> v = Volume(hu=np.zeros((3, 4, 5), np.int16), spacing=(2.5, 0.8, 0.8))
    >>> v.shape
    (3, 4, 5)
    >>> v.index_to_patient(1, 0, 0).tolist()
    [0.0, 0.0, 2.5]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesionviewer.io.series_identity import SeriesIdentity


@dataclass
class Volume:
    """A CT series as an int16 HU array with its patient geometry, metadata and loader warnings.

    Example:
        >>> import numpy as np
        >>> v = Volume(hu=np.full((2, 2, 2), -1000, np.int16), spacing=(1.0, 0.5, 0.5))
        >>> v.num_slices, v.warnings
        (2, [])
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    slice_origins: np.ndarray | None = None
    identity: SeriesIdentity = field(default_factory=SeriesIdentity)

    def __post_init__(self) -> None:
        if self.identity.is_empty() and self.meta:
            self.identity = SeriesIdentity.from_meta(self.meta)
        if self.hu.ndim != 3:
            raise ValueError(f"a volume is 3-D (z, y, x); got an array of shape {self.hu.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]
        self.origin = tuple(float(o) for o in self.origin)  # type: ignore[assignment]
        self.direction = np.asarray(self.direction, dtype=float).reshape(3, 3)
        if self.slice_origins is not None:
            origins = np.asarray(self.slice_origins, dtype=float)
            if origins.shape != (self.hu.shape[0], 3) or not np.all(np.isfinite(origins)):
                raise ValueError(
                    f"slice_origins must hold one finite (x, y, z) position per slice ({self.hu.shape[0]}); "
                    f"got an array of shape {origins.shape}"
                )
            self.slice_origins = origins

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(z, y, x)`` size of the array.

        Example:
            >>> import numpy as np
            >>> Volume(np.zeros((1, 2, 3), np.int16), (1, 1, 1)).shape
            (1, 2, 3)
        """
        return tuple(self.hu.shape)  # type: ignore[return-value]

    @property
    def num_slices(self) -> int:
        """Number of axial slices.

        Example:
            >>> import numpy as np
            >>> Volume(np.zeros((7, 2, 2), np.int16), (1, 1, 1)).num_slices
            7
        """
        return int(self.hu.shape[0])

    def index_to_patient(self, z: float, y: float, x: float) -> np.ndarray:
        """Patient (LPS) position in mm of the voxel index ``(z, y, x)`` (fractional indices allowed).

        Example:
            >>> import numpy as np
            >>> v = Volume(np.zeros((2, 2, 2), np.int16), (3.0, 0.5, 0.5), origin=(10, 20, 30))
            >>> v.index_to_patient(1, 2, 4).tolist()
            [12.0, 21.0, 33.0]
        """
        if self.slice_origins is None:
            steps = np.array([x * self.spacing[2], y * self.spacing[1], z * self.spacing[0]], dtype=float)
            return np.asarray(self.origin, dtype=float) + self.direction @ steps
        in_plane = self.direction[:, 0] * (x * self.spacing[2]) + self.direction[:, 1] * (y * self.spacing[1])
        return self.slice_origin(z) + in_plane

    def slice_origin(self, z: float) -> np.ndarray:
        """Patient position in mm of voxel ``[z, 0, 0]``: exact for each slice, linear between and beyond them.

        Example:
            >>> import numpy as np
            >>> v = Volume(np.zeros((3, 2, 2), np.int16), (3.0, 1, 1),
            ...            slice_origins=np.array([[0, 0, 0], [0, 0, 2], [0, 0, 7]]))
            >>> v.slice_origin(2).tolist(), v.slice_origin(1.5).tolist(), v.slice_origin(3).tolist()
            ([0.0, 0.0, 7.0], [0.0, 0.0, 4.5], [0.0, 0.0, 12.0])
        """
        if self.slice_origins is None:
            return np.asarray(self.origin, dtype=float) + self.direction[:, 2] * (float(z) * self.spacing[0])
        origins = self.slice_origins
        if len(origins) == 1:
            return origins[0] + self.direction[:, 2] * (float(z) * self.spacing[0])
        k = int(min(max(np.floor(z), 0), len(origins) - 2))
        t = float(z) - k
        return origins[k] + t * (origins[k + 1] - origins[k])

    def pixel_point_to_patient(self, z: float, y: float, x: float) -> np.ndarray:
        """Patient (LPS) position in mm of the point ``(y, x)`` of slice ``z`` in the pixel frame.

        The pixel frame is the continuous one that torchvision boxes and image displays use:
        pixel column ``i`` covers ``[i, i + 1)``, so its centre is at ``i + 0.5`` (voxel index ``i``).

        Example:
            >>> import numpy as np
            >>> v = Volume(np.zeros((2, 4, 4), np.int16), (3.0, 0.5, 0.5), origin=(10, 20, 30))
            >>> v.pixel_point_to_patient(1, 0.5, 2.5).tolist()
            [11.0, 20.0, 33.0]
        """
        return self.index_to_patient(z, y - 0.5, x - 0.5)

    def pixel_to_patient(self, slice_index: float, x: float, y: float) -> np.ndarray:
        """Deprecated older name: ``pixel_point_to_patient(slice_index, y, x)``, with x before y.

        Kept for callers not yet moved to the one ``(z, y, x)`` order; new code calls ``pixel_point_to_patient``.

        Example:
            >>> import numpy as np
            >>> v = Volume(np.zeros((2, 4, 4), np.int16), (3.0, 0.5, 0.5), origin=(10, 20, 30))
            >>> v.pixel_to_patient(1, 2.5, 0.5).tolist()
            [11.0, 20.0, 33.0]
        """
        return self.pixel_point_to_patient(slice_index, y, x)

    def patient_to_index(self, point: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Fractional voxel index ``(z, y, x)`` of a patient (LPS) position in mm.

        Example:
            >>> import numpy as np
            >>> v = Volume(np.zeros((2, 2, 2), np.int16), (3.0, 0.5, 0.5), origin=(10, 20, 30))
            >>> v.patient_to_index((12.0, 21.0, 33.0)).tolist()
            [1.0, 2.0, 4.0]
            >>> u = Volume(np.zeros((3, 2, 2), np.int16), (3.5, 0.5, 0.5), slice_origins=[[0, 0, 0], [0, 0, 2], [0, 0, 7]])
            >>> u.patient_to_index((1.0, 0.5, 4.5)).tolist()
            [1.5, 1.0, 2.0]
        """
        point = np.asarray(point, dtype=float)
        if self.slice_origins is None or len(self.slice_origins) == 1:
            offset = point - np.asarray(self.origin if self.slice_origins is None else self.slice_origins[0], float)
            steps = np.linalg.solve(self.direction, offset)
            return np.array([steps[2] / self.spacing[0], steps[1] / self.spacing[1], steps[0] / self.spacing[2]])
        # Which slice plane the point lies in: its height along the slice normal against each slice's.
        normal = np.cross(self.direction[:, 0], self.direction[:, 1])
        normal /= np.linalg.norm(normal)
        heights = self.slice_origins @ normal
        sign = 1.0 if heights[-1] >= heights[0] else -1.0
        heights = heights * sign
        h = float(point @ normal) * sign
        if h <= heights[0]:
            z = (h - heights[0]) / (heights[1] - heights[0])
        elif h >= heights[-1]:
            z = len(heights) - 1 + (h - heights[-1]) / (heights[-1] - heights[-2])
        else:
            z = float(np.interp(h, heights, np.arange(len(heights), dtype=float)))
        offset = point - self.slice_origin(z)
        axes = self.direction[:, :2]
        x, y = np.linalg.lstsq(axes, offset, rcond=None)[0]
        return np.array([z, y / self.spacing[1], x / self.spacing[2]])
