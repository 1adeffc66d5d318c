"""The detector factory: every architecture builds by name, runs, and has the reference's settings."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection.factory import ARCHITECTURES, build_detector

SMALL = dict(min_size=64, max_size=64)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_on_meta(arch: str, num_slices: int, **options):
    with torch.device("meta"):
        return build_detector(arch, num_slices, **options)


def test_mp3d63_has_the_reference_parameter_count_and_breakdown():
    model = build_on_meta("mp3d63", 9)
    # Reference (mmdetection, 1-class head): 45,156,437; torchvision's predictor adds
    # 4 * 1024 + 4 background regression outputs (4,100 parameters).
    assert count(model) == pytest.approx(45_156_437, rel=0.005)
    assert count(model) == 45_156_437 + 4_100
    assert count(model.backbone.to_2d) == 34_560
    assert count(model.backbone.body) + count(model.backbone.to_2d) == pytest.approx(27.32e6, abs=0.005e6)
    assert count(model.backbone.fpn) == pytest.approx(3.34e6, abs=0.005e6)
    assert count(model.rpn) == pytest.approx(0.59e6, abs=0.005e6)
    assert count(model.roi_heads) - 4_100 == pytest.approx(13.90e6, abs=0.005e6)


def test_detector_settings_follow_the_reference():
    model = build_on_meta("mp3d63", 9)
    gen = model.rpn.anchor_generator
    assert gen.sizes == ((16,), (32,), (64,), (128,), (256,))
    assert all(tuple(r) == (0.5, 1.0, 2.0) for r in gen.aspect_ratios)
    rpn = model.rpn
    assert (rpn.proposal_matcher.high_threshold, rpn.proposal_matcher.low_threshold) == (0.7, 0.3)
    assert (rpn.fg_bg_sampler.batch_size_per_image, rpn.fg_bg_sampler.positive_fraction) == (256, 0.5)
    assert rpn._pre_nms_top_n == dict(training=2000, testing=1000)
    assert rpn._post_nms_top_n == dict(training=1000, testing=1000)
    assert rpn.nms_thresh == 0.7
    roi = model.roi_heads
    assert roi.box_roi_pool.output_size == (7, 7) and roi.box_roi_pool.sampling_ratio == 0
    assert roi.box_coder.weights == (10.0, 10.0, 5.0, 5.0)
    assert roi.proposal_matcher.high_threshold == 0.5
    assert (roi.fg_bg_sampler.batch_size_per_image, roi.fg_bg_sampler.positive_fraction) == (512, 0.25)
    assert (roi.score_thresh, roi.nms_thresh, roi.detections_per_img) == (0.0, 0.5, 100)
    assert roi.box_predictor.bbox_pred.out_features == 8  # class-specific: 4 per class
    t = model.transform
    assert t.image_mean == [123.675] * 9 and t.image_std == [58.395] * 9
    assert t.min_size[-1] == 512 and set(t.min_size) == {448, 512, 576}
    assert t.size_divisible == 32


def test_unknown_architecture_and_option_are_clear_errors():
    with pytest.raises(ValueError, match="unknown architecture 'mp3d99'"):
        build_detector("mp3d99")
    with pytest.raises(ValueError, match="unknown option 'widht'"):
        build_detector("mp3d_small", 3, widht=4)
    with pytest.raises(ValueError, match="num_slices"):
        build_detector("mp3d_small", 0)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_architecture_builds_by_name_and_detects_on_a_small_cpu_input(arch):
    num_slices = 9 if arch == "fpn3dce" else 5
    tiny = dict(width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64)
    model = build_detector(arch, num_slices, **tiny, **SMALL).eval()
    with torch.inference_mode():
        out = model([torch.rand(num_slices, 64, 80) * 255])
    assert out[0]["boxes"].shape[1] == 4
    assert out[0]["boxes"].shape[0] == out[0]["scores"].shape[0] <= 100
    assert model.build_config["arch"] == arch and model.build_config["num_slices"] == num_slices


def test_training_resizes_to_a_random_scale_and_eval_to_512():
    model = build_on_meta("mp3d63", 3)
    model.transform.to("cpu")
    image = torch.zeros(3, 100, 100)
    model.transform.train()
    seen = {model.transform([image])[0].image_sizes[0][0] for _ in range(40)}
    assert seen == {448, 512, 576}
    model.transform.eval()
    assert model.transform([image])[0].image_sizes[0] == (512, 512)
