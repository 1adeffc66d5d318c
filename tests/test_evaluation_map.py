"""mAP@0.5 through pycocotools: hand-computed values and degenerate inputs.

(The independent cross-check against MONAI's COCO re-implementation is in
test_evaluation_monai_crosscheck.py.)
"""
import numpy as np
import pytest

from lesionviewer.evaluation import mean_average_precision, to_coco

A, B = [0, 0, 10, 10], [20, 20, 30, 30]


def test_perfect_detections_give_one():
    assert mean_average_precision([np.array([A + [0.9]]), np.array([B + [0.8]])],
                                  [np.array([A]), np.array([B])]) == pytest.approx(1.0)


def test_hand_computed_101_point_ap():
    # ranked: TP (.9), FP (.8), TP (.1) over 2 lesions: precision envelope 1 up to recall .5, then 2/3.
    # COCO samples recall 0, .01, ..., 1: 51 points at precision 1, 50 at 2/3.
    det = [np.array([A + [0.9]]), np.array([[50, 50, 60, 60, 0.8], A + [0.1]])]
    expected = (51 * 1.0 + 50 * 2 / 3) / 101
    assert mean_average_precision(det, [np.array([A]), np.array([A])]) == pytest.approx(expected, abs=1e-9)


def test_iou_threshold_is_respected():
    det = [np.array([[0, 0, 10, 6, 0.9]])]  # IoU 0.6 with A
    assert mean_average_precision(det, [np.array([A])], iou=0.5) == pytest.approx(1.0)
    assert mean_average_precision(det, [np.array([A])], iou=0.7) == 0.0


def test_false_positives_on_images_without_lesions_lower_ap():
    gt = [np.array([A]), np.zeros((0, 4))]
    clean = mean_average_precision([np.array([A + [0.5]]), np.zeros((0, 5))], gt)
    noisy = mean_average_precision([np.array([A + [0.5]]), np.array([B + [0.9]])], gt)
    assert clean == pytest.approx(1.0) and noisy == pytest.approx(0.5, abs=0.01)


def test_max_detections_keeps_the_best_per_image():
    det = [np.array([[50, 50, 60, 60, 0.9], A + [0.1]])]
    assert mean_average_precision(det, [np.array([A])], max_detections=1) == 0.0
    assert mean_average_precision(det, [np.array([A])], max_detections=2) == pytest.approx(0.5, abs=0.01)


def test_excluded_lesions_neither_count_nor_punish():
    det = [np.array([A + [0.9], B + [0.95]])]
    gt = [np.array([A, B])]
    assert mean_average_precision(det, gt, exclude=[[False, True]]) == pytest.approx(1.0)


def test_no_detections_and_no_lesions():
    assert mean_average_precision([np.zeros((0, 5))], [np.array([A])]) == 0.0
    assert np.isnan(mean_average_precision([np.array([A + [0.5]])], [np.zeros((0, 4))]))


def test_coco_conversion_uses_xywh_and_one_based_ids():
    dataset, results = to_coco([np.array([[1, 2, 11, 22, 0.5]])], [np.array([[1, 2, 11, 22]])])
    assert dataset["images"] == [{"id": 1}]
    assert dataset["annotations"][0]["bbox"] == [1, 2, 10, 20] and dataset["annotations"][0]["area"] == 200
    assert dataset["categories"] == [{"id": 1, "name": "lesion"}]
    assert results == [{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [1, 2, 10, 20]}]


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 images"):
        mean_average_precision([np.zeros((0, 5))] * 2, [np.zeros((0, 4))])
