"""Sensitivity broken down by lesion type and by size, at the overall operating points.

The FP rate is a property of the whole test set, so each requested rate picks one score threshold from
the overall FROC curve; a group's sensitivity is the share of its boxes hit at that threshold.

Example:
    >>> import numpy as np
    >>> from lesionviewer.evaluation.froc import froc
    >>> result = froc([np.array([[0, 0, 4, 4, 0.9]])], [np.array([[0, 0, 4, 4], [8, 8, 20, 20]])], fps=(1,))
    >>> table = sensitivity_by_lesion_type(result, [[4, 5]], fps=(1,))
    >>> table["liver"]["sensitivity"], table["lung"]["sensitivity"]
    ({'1': 1.0}, {'1': 0.0})
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lesionviewer.evaluation.froc import DEFAULT_FPS, FROCResult

#: DeepLesion's Coarse_lesion_type codes (-1: not labelled, as in most of its test split).
LESION_TYPES = {1: "bone", 2: "abdomen", 3: "mediastinum", 4: "liver", 5: "lung", 6: "kidney",
                7: "soft tissue", 8: "pelvis", -1: "unknown"}
#: Long-diameter bucket edges in mm: < 10, 10 to < 30, >= 30.
SIZE_EDGES_MM = (10.0, 30.0)


def sensitivity_by_group(result: FROCResult, groups: Sequence, fps: Sequence[float] = DEFAULT_FPS) -> dict:
    """Per group label: ``{"num_lesions": n, "sensitivity": {"rate": value}}``, groups in sorted order.

    ``groups`` has one label per ground-truth box, per image, like the ground truth given to ``froc``.
    Excluded boxes are left out. A group's sensitivity is NaN where the rate is not defined.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.evaluation.froc import froc
        >>> r = froc([np.array([[0, 0, 4, 4, 0.9]])], [np.array([[0, 0, 4, 4], [8, 8, 9, 9]])], fps=(2,))
        >>> sensitivity_by_group(r, [["a", "b"]], fps=(2,))
        {'a': {'num_lesions': 1, 'sensitivity': {'2': 1.0}}, 'b': {'num_lesions': 1, 'sensitivity': {'2': 0.0}}}
    """
    if len(groups) != len(result.lesion_hit_point):
        raise ValueError(f"groups cover {len(groups)} images but the FROC result has {len(result.lesion_hit_point)}")
    labels = []
    for i, (g, hits) in enumerate(zip(groups, result.lesion_hit_point)):
        g = np.asarray(g, dtype=object).reshape(-1)
        if g.size != len(hits):
            raise ValueError(f"groups[{i}] has {g.size} labels for {len(hits)} ground-truth boxes")
        labels.append(g)
    counted = np.concatenate([c for c in result.lesion_counted]) if labels else np.zeros(0, bool)
    flat = np.concatenate(labels)[counted] if labels else np.zeros(0, object)
    table: dict = {}
    detected = {f: np.concatenate(result.detected_at(f))[counted] for f in fps}
    nan_rates = {f for f in fps if result.operating_point(f) == -1}
    for label in sorted(set(flat.tolist()), key=lambda x: (str(type(x)), x)):
        members = flat == label
        table[label] = {
            "num_lesions": int(members.sum()),
            "sensitivity": {f"{f:g}": (float("nan") if f in nan_rates else float(detected[f][members].mean()))
                            for f in fps},
        }
    return table


def sensitivity_by_lesion_type(result: FROCResult, lesion_types: Sequence, fps: Sequence[float] = DEFAULT_FPS) -> dict:
    """:func:`sensitivity_by_group` keyed by DeepLesion's coarse type names (``LESION_TYPES``).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.evaluation.froc import froc
        >>> r = froc([np.zeros((0, 5))], [np.array([[0, 0, 4, 4]])], fps=(1,))
        >>> sensitivity_by_lesion_type(r, [[-1]], fps=(1,))["unknown"]["num_lesions"]
        1
    """
    named = [[LESION_TYPES.get(int(t), f"type {int(t)}") for t in np.asarray(types).reshape(-1)]
             for types in lesion_types]
    return sensitivity_by_group(result, named, fps)


def size_bucket(long_diameter_mm: float, edges_mm: Sequence[float] = SIZE_EDGES_MM) -> str:
    """The size label of a lesion: ``"<10 mm"``, ``"10-30 mm"`` (10 inclusive, 30 exclusive) or ``">=30 mm"``.

    Example:
        >>> [size_bucket(d) for d in (9.9, 10.0, 29.9, 30.0)]
        ['<10 mm', '10-30 mm', '10-30 mm', '>=30 mm']
    """
    edges = [float(e) for e in edges_mm]
    if not edges or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"size edges must be increasing; got {list(edges_mm)}")
    d = float(long_diameter_mm)
    if d < edges[0]:
        return f"<{edges[0]:g} mm"
    for low, high in zip(edges, edges[1:]):
        if low <= d < high:
            return f"{low:g}-{high:g} mm"
    return f">={edges[-1]:g} mm"


def sensitivity_by_size(result: FROCResult, long_diameters_mm: Sequence, fps: Sequence[float] = DEFAULT_FPS,
                        edges_mm: Sequence[float] = SIZE_EDGES_MM) -> dict:
    """:func:`sensitivity_by_group` with boxes bucketed by long diameter in mm (see :func:`size_bucket`).

    For DeepLesion, long diameter in mm = ``Lesion_diameters_Pixel_[0] * Spacing_mm_px_[0]``
    (:func:`diameters_px_to_mm`).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.evaluation.froc import froc
        >>> r = froc([np.array([[0, 0, 4, 4, 0.9]])], [np.array([[0, 0, 4, 4], [8, 8, 9, 9]])], fps=(1,))
        >>> {k: v["sensitivity"]["1"] for k, v in sensitivity_by_size(r, [[5.0, 42.0]], fps=(1,)).items()}
        {'<10 mm': 1.0, '>=30 mm': 0.0}
    """
    labels = [[size_bucket(d, edges_mm) for d in np.asarray(sizes, dtype=float).reshape(-1)]
              for sizes in long_diameters_mm]
    return sensitivity_by_group(result, labels, fps)


def diameters_px_to_mm(diameters_px, pixel_spacing_mm: float) -> np.ndarray:
    """RECIST diameters in pixels -> mm with the in-plane pixel spacing (square pixels, as in DeepLesion).

    Example:
        >>> diameters_px_to_mm([[25.0, 10.0]], 0.8).tolist()
        [[20.0, 8.0]]
    """
    spacing = float(pixel_spacing_mm)
    if not spacing > 0:
        raise ValueError(f"pixel spacing must be positive; got {pixel_spacing_mm}")
    return np.asarray(diameters_px, dtype=np.float64) * spacing
