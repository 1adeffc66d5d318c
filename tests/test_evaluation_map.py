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


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


def test_an_excluded_lesion_that_is_missed_costs_nothing():
    # gt: A (counted) and B (excluded); one detection on A. Counting B, recall stops at 1/2:
    # precision 1 at the 51 recall points 0.00..0.50 of COCO's 101, 0 at the other 50 -> 51/101.
    det, gt = [np.array([A + [0.9]])], [np.array([A, B])]
    assert mean_average_precision(det, gt, exclude=[[False, True]]) == pytest.approx(1.0)
    assert mean_average_precision(det, gt) == pytest.approx(51 / 101)
    dataset, _ = to_coco(det, gt, exclude=[[False, True]])
    # pycocotools' evaluator replaces "ignore" by "iscrowd": only a crowd region is really ignored
    assert [(a["iscrowd"], a["ignore"]) for a in dataset["annotations"]] == [(0, 0), (1, 1)]


def test_a_detection_on_an_excluded_lesion_is_not_a_false_positive():
    # A counted, B excluded; the best-scored detection lies on B. Were it a false positive, A's detection
    # would come second at precision 1/2 and AP would be 0.5-ish; ignored, A is found at precision 1.
    det, gt = [np.array([B + [0.95], A + [0.9]])], [np.array([A, B])]
    assert mean_average_precision(det, gt, exclude=[[False, True]]) == pytest.approx(1.0)
    assert mean_average_precision([np.array([B + [0.95], A + [0.9]])], [np.array([A])]) == pytest.approx(0.5, abs=0.01)


def test_at_most_100_detections_per_image_count_by_default():
    # 100 better-scored false positives push the one true positive out (MP3D keeps 100 at test time)
    false_positives = [[50 + i, 50, 60 + i, 60, 0.9] for i in range(100)]
    det = [np.array(false_positives + [A + [0.1]], dtype=float)]
    assert mean_average_precision(det, [np.array([A])]) == 0.0
    assert mean_average_precision(det, [np.array([A])], max_detections=101) > 0.0


def test_iou_threshold_must_be_in_zero_one():
    assert mean_average_precision([np.array([A + [0.9]])], [np.array([A])], iou=1.0) == pytest.approx(1.0)
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"IoU threshold must be in \(0, 1\]"):
            mean_average_precision([np.array([A + [0.9]])], [np.array([A])], iou=bad)


def test_sub_pixel_lesions_are_scored_like_any_other():
    # COCO's default area ranges start at 0; a 0.5 x 0.5 box (area 0.25) is still a lesion
    tiny = [0.0, 0.0, 0.5, 0.5]
    assert mean_average_precision([np.array([tiny + [0.9]])], [np.array([tiny])]) == pytest.approx(1.0)


def test_pycocotools_progress_is_not_printed(capsys):
    mean_average_precision([np.array([A + [0.9]])], [np.array([A])])
    assert capsys.readouterr().out == ""


def test_malformed_inputs_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"^detections\[0\] must be a \(N, 5\) array"):
        to_coco([np.zeros((1, 4))], [np.array([A])])
    with pytest.raises(ValueError, match=r"^ground_truth\[0\] must be a \(N, 4\) array"):
        to_coco([np.array([A + [0.5]])], [np.zeros((1, 5))])
    with pytest.raises(ValueError, match=r"^exclude\[0\] has 1 flags for 2 ground-truth boxes"):
        to_coco([np.array([A + [0.5]])], [np.array([A, B])], exclude=[[True]])
