"""Test-time flipping (lesionviewer.detection.flip_fusion) and where it is switched on: the model card,
the engine (``Detector.detect`` and ``predict_stacks``), the trainer's evaluation and its export.

Expected values are worked by hand: a box found on the mirrored image maps back by x -> width - x; a pair
becomes the score-weighted mean box with the mean score; a box one pass alone found keeps half its score.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from lesionviewer.detection import Detector
from lesionviewer.detection.flip_fusion import PAIR_IOU, fuse_passes, fuse_two_passes, unflip_boxes
from lesionviewer.detection.model_card import ModelCard, ModelCardError
from lesionviewer.io import Volume
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.evaluate import predict


def detections(boxes, scores):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor(scores, dtype=torch.float32)}


# --- the fusion ---

def test_three_passes_group_by_the_fused_box_and_score_by_the_sum_over_three():
    first = detections([[0, 0, 10, 10]], [0.6])
    second = detections([[2, 0, 12, 10]], [0.2])
    # against the group's fused box (0.5, 0, 10.5, 10) this box overlaps 19/21 = 0.905; one box per pass
    # joins a group, so its twin starts a group of its own
    third = detections([[1, 0, 11, 10], [1, 0, 11, 10]], [0.4, 0.3])
    fused = fuse_passes([first, second, third])
    # x0 of the group: (0 x 0.6 + 2 x 0.2 + 1 x 0.4) / 1.2
    expected = [[0.8 / 1.2, 0.0, 10 + 0.8 / 1.2, 10.0], [1.0, 0.0, 11.0, 10.0]]
    assert np.allclose(fused["boxes"].numpy(), expected, atol=1e-5)
    assert fused["scores"].tolist() == pytest.approx([(0.6 + 0.2 + 0.4) / 3, 0.3 / 3])


def test_three_passes_scored_zero_average_their_boxes_plainly_and_no_pass_is_an_error():
    zero = [detections([[0, 0, 10, 10]], [0.0]), detections([[1, 0, 11, 10]], [0.0]),
            detections([[2, 0, 12, 10]], [0.0])]
    assert fuse_passes(zero)["boxes"].tolist() == [[1.0, 0.0, 11.0, 10.0]]
    with pytest.raises(ValueError, match="at least one pass"):
        fuse_passes([])


def test_unflipping_maps_x_to_width_minus_x_and_twice_is_the_identity():
    boxes = torch.tensor([[0.0, 5.0, 10.0, 8.0], [30.5, 1.0, 64.0, 2.0]])
    assert unflip_boxes(boxes, 64).tolist() == [[54.0, 5.0, 64.0, 8.0], [0.0, 1.0, 33.5, 2.0]]
    assert torch.equal(unflip_boxes(unflip_boxes(boxes, 64), 64), boxes)
    assert boxes.tolist()[0] == [0.0, 5.0, 10.0, 8.0]  # the input is not changed


def test_a_pair_is_the_score_weighted_mean_box_with_the_mean_score():
    # IoU of (0,0,10,10) and (2,0,12,10): overlap 8 x 10 = 80, union 120, 0.67 >= 0.55
    fused = fuse_two_passes(detections([[0, 0, 10, 10]], [0.6]), detections([[2, 0, 12, 10]], [0.2]))
    # x1 = (0 x 0.6 + 2 x 0.2) / 0.8 = 0.5; x2 = (10 x 0.6 + 12 x 0.2) / 0.8 = 10.5
    assert fused["boxes"].tolist() == [[0.5, 0.0, 10.5, 10.0]]
    assert fused["scores"].tolist() == pytest.approx([0.4])
    assert fused["labels"].tolist() == [1]
    assert fused["boxes"].dtype == fused["scores"].dtype == torch.float32


def test_a_pair_scored_zero_by_both_passes_is_their_plain_mean():
    fused = fuse_two_passes(detections([[0, 0, 10, 10]], [0.0]), detections([[2, 0, 12, 10]], [0.0]))
    assert fused["boxes"].tolist() == [[1.0, 0.0, 11.0, 10.0]] and fused["scores"].tolist() == [0.0]


def test_a_box_only_one_pass_found_keeps_half_its_score():
    fused = fuse_two_passes(detections([[0, 0, 10, 10]], [0.9]), detections([[50, 50, 60, 60]], [0.5]))
    assert fused["boxes"].tolist() == [[0, 0, 10, 10], [50, 50, 60, 60]]
    assert fused["scores"].tolist() == pytest.approx([0.45, 0.25])


def test_boxes_pair_from_an_overlap_of_0_55_and_not_below():
    assert PAIR_IOU == 0.55
    # (0,0,10,10) against (0,0,10,h): IoU = 10h / 100
    at = fuse_two_passes(detections([[0, 0, 10, 10]], [0.8]), detections([[0, 0, 10, 5.5]], [0.8]))
    assert at["scores"].tolist() == pytest.approx([0.8])
    below = fuse_two_passes(detections([[0, 0, 10, 10]], [0.8]), detections([[0, 0, 10, 5.4]], [0.8]))
    assert below["scores"].tolist() == pytest.approx([0.4, 0.4])
    assert fuse_two_passes(detections([[0, 0, 10, 10]], [0.8]), detections([[0, 0, 10, 5.4]], [0.8]),
                           iou=0.5)["scores"].tolist() == pytest.approx([0.8])


def test_each_box_pairs_once_and_the_pairing_maximises_the_total_overlap():
    # first: A1 (0,0,10,10), A2 (3,0,13,10); second: B1 (2,0,12,10), B2 (5,0,15,10)
    # IoU A1-B1 = 80/120 = 0.667, A1-B2 = 50/150 = 0.333, A2-B1 = 90/110 = 0.818, A2-B2 = 80/120 = 0.667
    # taking the best pair first (A2-B1) leaves A1-B2 below 0.55: one pair; A1-B1 + A2-B2 gives two
    first = detections([[0, 0, 10, 10], [3, 0, 13, 10]], [0.9, 0.8])
    second = detections([[2, 0, 12, 10], [5, 0, 15, 10]], [0.9, 0.8])
    fused = fuse_two_passes(first, second)
    assert fused["scores"].tolist() == pytest.approx([0.9, 0.8])
    assert fused["boxes"].tolist() == [[1.0, 0.0, 11.0, 10.0], [4.0, 0.0, 14.0, 10.0]]


def test_fused_boxes_are_sorted_cut_by_nms_and_limited():
    # two unpaired boxes, IoU (0,0,10,10)-(0,0,10,5) = 0.5 < 0.55, so both stay unless NMS at 0.3 removes one
    first = detections([[0, 0, 10, 10], [40, 40, 50, 50]], [0.5, 0.9])
    second = detections([[0, 0, 10, 5]], [0.6])
    fused = fuse_two_passes(first, second)
    assert fused["scores"].tolist() == pytest.approx([0.45, 0.3, 0.25])
    cut = fuse_two_passes(first, second, nms_iou=0.3)
    assert cut["scores"].tolist() == pytest.approx([0.45, 0.3])
    assert cut["boxes"].tolist() == [[40, 40, 50, 50], [0, 0, 10, 5]]
    assert fuse_two_passes(first, second, limit=1)["scores"].tolist() == pytest.approx([0.45])


def test_nothing_from_either_pass_is_nothing():
    empty = detections([], [])
    fused = fuse_two_passes(empty, empty, nms_iou=0.5, limit=10)
    assert tuple(fused["boxes"].shape) == (0, 4) and fused["scores"].numel() == 0 and fused["labels"].numel() == 0


# --- the model card ---

def test_the_card_switch_defaults_off_and_must_be_a_boolean():
    assert ModelCard("m", "mp3d_small", 3, 2.5).test_time_flip is False
    assert ModelCard("m", "mp3d_small", 3, 2.5, test_time_flip=True).to_dict()["test_time_flip"] is True
    with pytest.raises(ModelCardError, match="test_time_flip must be true or false"):
        ModelCard("m", "mp3d_small", 3, 2.5, test_time_flip="yes")


# --- the engine, with a stub network whose output follows the image ---

class _PassThrough(nn.Module):
    def forward(self, x):
        return OrderedDict([("0", x)])


class _NoProposals(nn.Module):
    def forward(self, images, features, targets=None):
        return [torch.zeros(0, 4)] * len(images.image_sizes), {}


class _ColumnAndCorner(nn.Module):
    """A 'lesion' box on the brightest column of the image (it follows the image when mirrored) and a
    'false positive' always in the image's top-left corner (it does not)."""

    def forward(self, features, proposals, image_sizes, targets=None):
        x = features["0"]
        out = []
        for b, (h, w) in enumerate(image_sizes):
            column = float(x[b, :, :h, :w].sum(dim=(0, 1)).argmax())
            out.append({"boxes": torch.tensor([[column - 2.0, 10.0, column + 3.0, 20.0], [0.0, 0.0, 8.0, 8.0]]),
                        "scores": torch.tensor([0.9, 0.6]), "labels": torch.ones(2, dtype=torch.int64)})
        return out, {}


def stub_detector(**options):
    transform = GeneralizedRCNNTransform(64, 64, [0.0] * 3, [1.0] * 3)
    model = GeneralizedRCNN(_PassThrough(), _NoProposals(), _ColumnAndCorner(), transform).eval()
    card = dict(name="stub", architecture="stub", num_slices=3, slice_interval_mm=1.0, input_min_size=64,
                input_max_size=64, pixel_mean=0.0, pixel_std=1.0, **options.pop("card", {}))
    return Detector(model, card, device="cpu", **options)


def bright_column_volume():
    hu = np.full((3, 64, 64), -1000, np.int16)
    hu[:, :, 10] = 300  # the brightest column: x = 10 (pixel centre 10.5)
    return Volume(hu, (1.0, 1.0, 1.0))


def boxes_and_scores(findings):
    return [(list(f.box_px), round(f.score, 4)) for f in findings]


def test_without_flipping_the_engine_keeps_both_boxes_as_found():
    found = stub_detector().detect(bright_column_volume(), slices=[1])
    assert boxes_and_scores(found) == [([8.0, 10.0, 13.0, 20.0], 0.9), ([0.0, 0.0, 8.0, 8.0], 0.6)]


def test_flipping_keeps_what_follows_the_image_and_halves_what_does_not():
    # mirrored, the bright column is x = 53: box (51, 10, 56, 20) maps back to (64 - 56, 10, 64 - 51, 20)
    # = (8, 10, 13, 20), the same box: a pair, score (0.9 + 0.9) / 2. The corner box (0, 0, 8, 8) maps back
    # to (56, 0, 64, 8): no partner on either side, so each keeps 0.6 / 2.
    for options in ({"flip": True}, {"card": {"test_time_flip": True}}):
        detector = stub_detector(**options)
        assert detector.flip is True
        found = detector.detect(bright_column_volume(), slices=[1])
        assert boxes_and_scores(found) == [([8.0, 10.0, 13.0, 20.0], 0.9), ([0.0, 0.0, 8.0, 8.0], 0.3),
                                           ([56.0, 0.0, 64.0, 8.0], 0.3)]


def test_the_constructor_overrides_the_card():
    assert stub_detector(flip=False, card={"test_time_flip": True}).flip is False


def test_predict_stacks_flips_the_same_way():
    stacks = np.full((2, 3, 64, 64), -1000.0, np.float32)
    stacks[0, :, :, 10] = 300.0
    stacks[1, :, :, 40] = 300.0
    out = stub_detector(flip=True).predict_stacks(stacks)
    assert out[0]["boxes"].tolist() == [[8.0, 10.0, 13.0, 20.0], [0.0, 0.0, 8.0, 8.0], [56.0, 0.0, 64.0, 8.0]]
    assert out[0]["scores"].tolist() == pytest.approx([0.9, 0.3, 0.3])
    assert out[1]["boxes"].tolist()[0] == [38.0, 10.0, 43.0, 20.0]


# --- the trainer's evaluation and export ---

def test_the_trainers_prediction_flips_when_the_config_says_so():
    transform = GeneralizedRCNNTransform(64, 64, [0.0] * 3, [1.0] * 3)
    model = GeneralizedRCNN(_PassThrough(), _NoProposals(), _ColumnAndCorner(), transform).eval()
    image = torch.zeros((3, 64, 64))
    image[:, :, 10] = 1.0
    items = [(image, {})]
    plain = predict(model, items, batch_size=1)
    assert plain[0].tolist() == [[8.0, 10.0, 13.0, 20.0, pytest.approx(0.9)], [0.0, 0.0, 8.0, 8.0, pytest.approx(0.6)]]
    cfg = TrainingConfig()
    cfg.eval.test_time_flip = True
    flipped = predict(model, items, batch_size=1, cfg=cfg)
    assert flipped[0][:, :4].tolist() == [[8.0, 10.0, 13.0, 20.0], [0.0, 0.0, 8.0, 8.0], [56.0, 0.0, 64.0, 8.0]]
    assert flipped[0][:, 4].tolist() == pytest.approx([0.9, 0.3, 0.3])
    assert predict(model, items, batch_size=1, cfg=cfg, flip=False)[0].shape == (2, 5)
