"""Average precision of single-class ("lesion") detections through pycocotools.

The data are converted to COCO dictionaries in memory; COCO's 101-point interpolated precision at
one IoU threshold is averaged. Boxes are continuous ``[x1, y1, x2, y2]`` (pycocotools' convention).

Example:
    >>> import numpy as np
    >>> round(mean_average_precision([np.array([[0, 0, 10, 10, 0.9]])], [np.array([[0, 0, 10, 10]])]), 6)
    1.0
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from lesionviewer.evaluation.boxes import as_box_list, as_detection_list, as_flag_list

LESION_CATEGORY = {"id": 1, "name": "lesion"}


def to_coco(detections: Sequence, ground_truth: Sequence, exclude: Sequence | None = None) -> tuple[dict, list[dict]]:
    """COCO ground-truth dataset and result list for per-image detections and boxes (image ids 1..N).

    Excluded boxes become COCO crowd regions (``"iscrowd": 1``, also marked ``"ignore": 1``): they are
    not counted, and a detection lying on one (its intersection over the detection's own area reaching
    the IoU threshold, COCO's rule for crowds) is not a false positive. ``iscrowd`` is the flag
    pycocotools honours: its evaluator overwrites ``ignore`` with it.

    Example:
        >>> import numpy as np
        >>> dataset, results = to_coco([np.array([[1, 2, 4, 6, 0.5]])], [np.array([[1, 2, 4, 6]])])
        >>> dataset["annotations"][0]["bbox"], results[0]["bbox"], results[0]["score"]
        ([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0], 0.5)
    """
    dets = as_detection_list(detections, "detections")
    gts = as_box_list(ground_truth, "ground_truth")
    if len(dets) != len(gts):
        raise ValueError(f"detections cover {len(dets)} images but ground_truth covers {len(gts)}")
    flags = as_flag_list(exclude, gts, "exclude")
    images: list[dict] = []
    annotations: list[dict] = []
    results: list[dict] = []
    for index, (det, gt, ignore) in enumerate(zip(dets, gts, flags), start=1):
        images.append({"id": index})
        for box, ignored in zip(gt, ignore):
            width, height = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": 1,
                                "bbox": [float(box[0]), float(box[1]), width, height],
                                "area": width * height, "iscrowd": int(ignored), "ignore": int(ignored)})
        for row in det:
            results.append({"image_id": index, "category_id": 1, "score": float(row[4]),
                            "bbox": [float(row[0]), float(row[1]), float(row[2] - row[0]), float(row[3] - row[1])]})
    dataset = {"images": images, "annotations": annotations, "categories": [dict(LESION_CATEGORY)]}
    return dataset, results


def mean_average_precision(detections: Sequence, ground_truth: Sequence, iou: float = 0.5, *,
                           max_detections: int = 100, exclude: Sequence | None = None) -> float:
    """COCO-style AP at IoU ``iou`` for one class, over all images (mAP@0.5 by default).

    At most ``max_detections`` best-scored boxes per image count (MP3D keeps 100 at test time).
    Returns 0.0 when there are no detections and NaN when there is no ground truth.

    Example:
        >>> import numpy as np
        >>> gt = [np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10]])]
        >>> det = [np.array([[0, 0, 10, 10, 0.9]]), np.array([[50, 50, 60, 60, 0.8], [0, 0, 10, 10, 0.1]])]
        >>> round(mean_average_precision(det, gt), 4)
        0.835
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not 0 < iou <= 1:
        raise ValueError(f"the IoU threshold must be in (0, 1]; got {iou}")
    dataset, results = to_coco(detections, ground_truth, exclude)
    if not any(not a["ignore"] for a in dataset["annotations"]):
        return float("nan")
    if not results:
        return 0.0
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):  # pycocotools prints progress lines
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.params.iouThrs = np.array([float(iou)])
        evaluator.params.maxDets = [int(max_detections)]
        evaluator.params.areaRng = [[0.0, 1e12]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, 0, 0, 0]  # [iou, recall, class, area, maxDets]
    valid = precision > -1
    return float(precision[valid].mean()) if valid.any() else 0.0
