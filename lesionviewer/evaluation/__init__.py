"""lesionviewer.evaluation: FROC by the DeepLesion rule, mAP through pycocotools, breakdowns, plots.

Example:
    >>> import numpy as np
    >>> result = froc([np.array([[0, 0, 10, 10, 0.9]])], [np.array([[0, 0, 10, 10]])])
    >>> result.mean_sensitivity
    1.0
"""
from lesionviewer.evaluation.boxes import box_iou
from lesionviewer.evaluation.breakdown import (
    LESION_TYPES,
    SIZE_EDGES_MM,
    diameters_px_to_mm,
    sensitivity_by_group,
    sensitivity_by_lesion_type,
    sensitivity_by_size,
    size_bucket,
)
from lesionviewer.evaluation.froc import DEFAULT_FPS, MEAN_RANGE, FROCResult, froc
from lesionviewer.evaluation.map import mean_average_precision, to_coco
from lesionviewer.evaluation.plots import plot_froc

__all__ = [
    "DEFAULT_FPS", "FROCResult", "LESION_TYPES", "MEAN_RANGE", "SIZE_EDGES_MM", "box_iou", "diameters_px_to_mm",
    "froc", "mean_average_precision", "plot_froc", "sensitivity_by_group", "sensitivity_by_lesion_type",
    "sensitivity_by_size", "size_bucket", "to_coco",
]
