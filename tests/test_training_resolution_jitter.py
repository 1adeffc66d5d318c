"""Coarse-scan jitter in training (lesionviewer.training.resolution_jitter): sizes, boxes, means and limits."""
import numpy as np
import pytest

from lesionviewer.training.config import ConfigError, TrainingConfig
from lesionviewer.training.resolution_jitter import ResolutionJitter


def test_a_one_mm_image_averaged_to_two_mm_pixels_holds_the_means_of_two_by_two_blocks():
    stack = np.arange(2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8)
    out, boxes, pixel_mm = ResolutionJitter(1.0, (2.0, 2.0))(stack, np.zeros((0, 4)), 1.0,
                                                             np.random.default_rng(0))
    assert out.shape == (2, 3, 4) and pixel_mm == 2.0 and boxes.shape == (0, 4)
    # slice 1 holds 48 + 8 * row + column; the block of rows 2-3 and columns 4-5 averages 48 + 8 * 2.5 + 4.5
    assert out[1, 1, 2] == pytest.approx(48 + 20 + 4.5)
    assert out.mean() == pytest.approx(stack.mean())  # area averaging keeps the mean


def test_boxes_follow_the_stack_and_keep_their_size_in_mm():
    stack = np.zeros((1, 100, 120), np.float32)
    box = np.array([[20.0, 30.0, 60.0, 70.0]])  # 40 x 40 px at 0.8 mm = 32 mm
    out, boxes, pixel_mm = ResolutionJitter(1.0, (2.4, 2.4))(stack, box, 0.8, np.random.default_rng(1))
    assert out.shape == (1, 33, 40)  # 100 * 0.8 / 2.4 = 33.3 -> 33 rows; 120 * 0.8 / 2.4 = 40 columns
    assert pixel_mm == pytest.approx(2.4)  # 120 columns of 0.8 mm in 40 columns
    assert boxes[0].tolist() == pytest.approx([20 / 3, 30 * 33 / 100, 60 / 3, 70 * 33 / 100])
    assert (boxes[0, 2] - boxes[0, 0]) * pixel_mm == pytest.approx(32.0)


def test_a_small_lesion_caps_the_coarse_pixel_so_it_stays_four_pixels_long():
    stack = np.zeros((1, 64, 64), np.float32)
    box = np.array([[10.0, 10.0, 18.0, 22.0]])  # 8 x 12 px at 1 mm: the shorter side is 8 mm
    _, boxes, pixel_mm = ResolutionJitter(1.0, (3.0, 3.0))(stack, box, 1.0, np.random.default_rng(0))
    assert pixel_mm == pytest.approx(2.0)  # 8 mm / 4 px, not 3 mm
    assert boxes[0, 2] - boxes[0, 0] == pytest.approx(4.0)


def test_nothing_changes_when_the_pixels_are_already_coarse_or_the_lesion_is_too_small():
    stack = np.ones((1, 40, 40), np.float32)
    jitter = ResolutionJitter(1.0, (2.0, 3.0))
    out, _, mm = jitter(stack, np.zeros((0, 4)), 3.9, np.random.default_rng(0))  # a phantom's pixels
    assert out is stack and mm == 3.9
    out, boxes, mm = jitter(stack, np.array([[0.0, 0.0, 3.0, 3.0]]), 1.0, np.random.default_rng(0))  # 3 mm / 4 px
    assert out is stack and mm == 1.0 and boxes.tolist() == [[0.0, 0.0, 3.0, 3.0]]


def test_the_probability_is_honoured_and_nothing_is_drawn_when_off():
    stack = np.zeros((1, 32, 32), np.float32)
    changed = sum(ResolutionJitter(0.3, (2.0, 2.0))(stack, np.zeros((0, 4)), 1.0,
                                                   np.random.default_rng(s))[0] is not stack for s in range(400))
    assert 90 <= changed <= 150  # 120 expected; binomial sd 9.2
    rng = np.random.default_rng(0)
    out, _, _ = ResolutionJitter()(stack, np.zeros((0, 4)), 1.0, rng)
    assert out is stack and rng.random() == np.random.default_rng(0).random()


def test_the_dataset_coarsens_training_samples_only_reproducibly_and_old_runs_draw_as_before(tmp_path):
    from lesionviewer.training.splits import build_split_datasets
    from lesionviewer.training.toy_data import write_toy_deeplesion

    root = write_toy_deeplesion(tmp_path, patients=4, size=32, slices=4)
    base = {"root": str(root), "num_slices": 3, "hflip": 0.5, "vflip": 0.5, "reverse_slices": 0.0}
    plain = build_split_datasets(TrainingConfig.from_dict({"data": base}), splits=("train", "val"))
    coarse_cfg = {**base, "coarse_probability": 1.0, "coarse_pixel_mm": [20.0, 20.0]}  # capped by the lesion
    coarse = build_split_datasets(TrainingConfig.from_dict({"data": coarse_cfg}), splits=("train", "val"))
    a, b = plain["train"][(1, 0)], coarse["train"][(1, 0)]
    assert b[0].shape[-1] < a[0].shape[-1]  # averaged down
    again = coarse["train"][(1, 0)]
    assert np.array_equal(b[0], again[0]) and np.array_equal(b[1]["boxes"], again[1]["boxes"])
    assert np.array_equal(plain["val"][0][0], coarse["val"][0][0])  # evaluation is never coarsened
    off = build_split_datasets(TrainingConfig.from_dict({"data": {**base, "coarse_probability": 0.0}}),
                               splits=("train",))
    assert np.array_equal(off["train"][(1, 0)][0], a[0])  # the flips drew what they drew before


@pytest.mark.parametrize("key, value", [("coarse_probability", 1.5), ("coarse_pixel_mm", [3.0, 2.0]),
                                        ("coarse_pixel_mm", [0.0, 2.0]), ("coarse_pixel_mm", [2.0])])
def test_out_of_range_settings_are_a_config_error_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data.{key}"):
        TrainingConfig.from_dict({"data": {key: value}}).validate()
