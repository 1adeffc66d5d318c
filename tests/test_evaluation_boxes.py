"""Box IoU and the input checks of the evaluation code, against values worked by hand.

Written from the survivors of a mutation run (docs/testing.md): empty and single boxes, boxes
apart in one direction only, sub-pixel boxes, asymmetric boxes, torch tensors and 1-D rows.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lesionviewer.evaluation.boxes import as_box_list, as_detection_list, as_flag_list, box_iou


def test_asymmetric_boxes():
    # a = [0, 5, 10, 15], b = [2, 6, 12, 20]: overlap x 2..10 (8) by y 6..15 (9) = 72;
    # areas 10 x 10 = 100 and 10 x 14 = 140; union 168 -> IoU 72 / 168 = 3 / 7
    assert box_iou([[0, 5, 10, 15]], [[2, 6, 12, 20]])[0, 0] == pytest.approx(3 / 7)
    assert box_iou([[2, 6, 12, 20]], [[0, 5, 10, 15]])[0, 0] == pytest.approx(3 / 7)


@pytest.mark.parametrize("other", [[20, 0, 30, 10], [0, 20, 10, 30], [20, 20, 30, 30], [10, 0, 20, 10]])
def test_boxes_apart_in_either_direction_do_not_overlap(other):
    # side by side, one above the other, diagonal, and touching at x = 10: no shared area
    assert box_iou([[0, 0, 10, 10]], [other]).tolist() == [[0.0]]


def test_sub_pixel_boxes():
    # identical 0.5 x 0.5 boxes: IoU 1; [0, 0, 0.5, 0.5] vs [0.25, 0, 0.75, 0.5]: 0.125 / 0.375 = 1/3
    assert box_iou([[0, 0, 0.5, 0.5]], [[0, 0, 0.5, 0.5]])[0, 0] == pytest.approx(1.0)
    assert box_iou([[0, 0, 0.5, 0.5]], [[0.25, 0, 0.75, 0.5]])[0, 0] == pytest.approx(1 / 3)


def test_two_empty_boxes_have_iou_zero():
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]]).tolist() == [[0.0]]


def test_empty_lists_and_single_rows():
    assert box_iou([], [[0, 0, 1, 1]]).shape == (0, 1)
    assert box_iou([[0, 0, 1, 1], [0, 0, 2, 2]], []).shape == (2, 0)
    # a single 1-D box and detection rows with a score column (ignored)
    assert box_iou([0, 0, 10, 10], [[5, 0, 15, 10, 0.9]])[0, 0] == pytest.approx(50 / 150)
    assert box_iou([[5, 0, 15, 10]], [0, 0, 10, 10])[0, 0] == pytest.approx(50 / 150)


def test_integer_boxes_give_float_iou():
    iou = box_iou(np.array([[0, 0, 3, 3]], np.int64), np.array([[1, 0, 4, 3]], np.int64))
    assert iou.dtype == np.float64 and iou[0, 0] == pytest.approx(6 / 12)


def test_detection_and_box_lists_are_float64_rows():
    dets = as_detection_list([[0, 0, 1, 1, 1], []])
    assert [d.dtype for d in dets] == [np.float64, np.float64] and [d.shape for d in dets] == [(1, 5), (0, 5)]
    assert as_box_list([[0, 0, 2, 3]])[0].tolist() == [[0.0, 0.0, 2.0, 3.0]]


def test_tensors_that_require_grad_are_accepted():
    scores = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.5]], requires_grad=True)  # a model's output in training
    assert as_detection_list([scores])[0].tolist() == [[0.0, 0.0, 1.0, 1.0, 0.5]]


def test_bad_rows_are_named_with_their_image():
    with pytest.raises(ValueError, match=r"^detections\[1\] must be a \(N, 5\) array; got shape \(2, 4\)"):
        as_detection_list([[], np.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"^ground_truth\[0\] contains NaN or infinite values"):
        as_box_list([[0, 0, np.nan, 1]])


def test_flags_are_booleans_one_per_box():
    flags = as_flag_list([[[1], [0]]], [np.zeros((2, 4))], "exclude")
    assert flags[0].dtype == bool and flags[0].tolist() == [True, False]
    with pytest.raises(ValueError, match=r"^exclude has 2 images but ground_truth has 1$"):
        as_flag_list([[1], [0]], [np.zeros((1, 4))], "exclude")
