"""Which patient direction each edge of a view faces (the A/P/R/L/S/I letters), and each view's plane.

Pure numpy (no Qt), so the geometry is tested on its own.

Example:
    >>> import numpy as np
    >>> edge_letters("axial", np.eye(3))
    {'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'}
"""
from __future__ import annotations

import numpy as np

PLANES = ("axial", "coronal", "sagittal")
_POSITIVE = ("L", "P", "S")  # LPS: +x is the patient's left, +y posterior, +z superior
_NEGATIVE = ("R", "A", "I")


def direction_letter(vector) -> str:
    """The patient direction (one letter) a unit vector in LPS points to most.

    Example:
        >>> direction_letter([0, -1, 0]), direction_letter([0.1, 0, 0.9])
        ('A', 'S')
    """
    vector = np.asarray(vector, dtype=float)
    axis = int(np.argmax(np.abs(vector)))
    return _POSITIVE[axis] if vector[axis] >= 0 else _NEGATIVE[axis]


def plane_axes(plane: str) -> tuple[int, int, int]:
    """``(row_axis, column_axis, fixed_axis)`` of a plane as volume array axes (0=z, 1=y, 2=x).

    Example:
        >>> plane_axes("coronal")
        (0, 2, 1)
    """
    return {"axial": (1, 2, 0), "coronal": (0, 2, 1), "sagittal": (0, 1, 2)}[plane]


def rows_point_down(plane: str, direction) -> bool:
    """Whether increasing row index is drawn downward on screen.

    Axial images are drawn as stored (row 0 at the top). Reformats put the patient's head at the
    top, so their rows go down only when the slice index runs from head to feet.

    Example:
        >>> import numpy as np
        >>> rows_point_down("coronal", np.eye(3)), rows_point_down("axial", np.eye(3))
        (False, True)
    """
    if plane == "axial":
        return True
    slice_vector = np.asarray(direction, dtype=float)[:, 2]
    return bool(slice_vector[2] < 0)


def edge_letters(plane: str, direction) -> dict[str, str]:
    """Letters for the left, right, top and bottom edges of ``plane`` drawn from a volume with
    ``direction`` (columns = patient vectors of the x, y, z array axes).

    Example:
        >>> import numpy as np
        >>> edge_letters("sagittal", np.eye(3))
        {'left': 'A', 'right': 'P', 'top': 'S', 'bottom': 'I'}
    """
    direction = np.asarray(direction, dtype=float)
    # array axis (0=z, 1=y, 2=x) -> its patient vector (direction columns are x, y, z)
    vector_of = {0: direction[:, 2], 1: direction[:, 1], 2: direction[:, 0]}
    row_axis, column_axis, _ = plane_axes(plane)
    right = vector_of[column_axis]
    down = vector_of[row_axis] if rows_point_down(plane, direction) else -vector_of[row_axis]
    return {"left": direction_letter(-right), "right": direction_letter(right),
            "top": direction_letter(-down), "bottom": direction_letter(down)}
