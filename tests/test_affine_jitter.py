"""Pose and body-shape jitter: the boxes follow the lesions, draws are reproducible, off changes nothing."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.common.config_tree import ConfigError
from lesionviewer.training.affine_jitter import AffineJitter
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.key_slices import read_key_slices
from lesionviewer.training.splits import build_split_datasets
from lesionviewer.training.toy_data import write_toy_deeplesion


def _disc_stack(centre_xy, radii_xy, size=96):
    y, x = np.mgrid[0:size, 0:size] + 0.5
    inside = ((x - centre_xy[0]) / radii_xy[0]) ** 2 + ((y - centre_xy[1]) / radii_xy[1]) ** 2 <= 1
    stack = np.zeros((3, size, size), np.float32)
    stack[:, inside] = 200.0
    box = np.array([[centre_xy[0] - radii_xy[0], centre_xy[1] - radii_xy[1],
                     centre_xy[0] + radii_xy[0], centre_xy[1] + radii_xy[1]]], np.float32)
    return stack, box


@pytest.mark.parametrize("seed", range(6))
def test_the_new_box_wraps_the_moved_lesion_tightly(seed):
    stack, box = _disc_stack((60.0, 35.0), (12.0, 7.0))
    jitter = AffineJitter(probability=1.0, max_rotation_deg=40.0, scale_range=(0.8, 1.25))
    out, moved = jitter(stack, box, np.random.default_rng(seed))
    assert out is not stack
    ys, xs = np.nonzero(out[1] > 100)
    seen = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
    assert np.abs(moved[0] - seen).max() <= 1.5  # within interpolation of the lesion's own extent
    assert np.array_equal(out[0], out[2])  # every slice of the stack moves the same way


def test_a_rotated_box_does_not_grow_as_its_corners_would():
    stack, box = _disc_stack((48.0, 48.0), (10.0, 10.0))
    jitter = AffineJitter(probability=1.0, max_rotation_deg=45.0, scale_range=(1.0, 1.0))
    for seed in range(5):
        _, moved = jitter(stack, box, np.random.default_rng(seed))
        np.testing.assert_allclose(moved[0], box[0], atol=1e-3)  # a disc turned is the same disc


def test_a_draw_that_would_push_a_lesion_out_leaves_the_sample_alone():
    stack, box = _disc_stack((6.0, 6.0), (3.0, 3.0), size=40)
    out, moved = AffineJitter(probability=1.0, max_rotation_deg=0.0, scale_range=(2.5, 2.5))(
        stack, box, np.random.default_rng(0))
    assert out is stack and np.array_equal(moved, box)


def test_the_dataset_draws_the_same_jitter_for_the_same_sample_and_none_when_off(tmp_path):
    root = write_toy_deeplesion(tmp_path / "toy", patients=4, size=48, slices=5)
    common = {"root": str(root), "num_slices": 3, "hflip": 0.0, "vflip": 0.0, "reverse_slices": 0.0}
    on = TrainingConfig.from_dict({"data": {**common, "affine_probability": 1.0, "affine_rotation_deg": 30.0}})
    off = TrainingConfig.from_dict({"data": common})
    jittered, plain = build_split_datasets(on, ("train",))["train"], build_split_datasets(off, ("train",))["train"]
    first, again = jittered[(2, 0)], jittered[(2, 0)]
    assert np.array_equal(first[0].numpy(), again[0].numpy())
    assert np.array_equal(first[1]["boxes"].numpy(), again[1]["boxes"].numpy())
    unjittered = plain[(2, 0)]
    train_keys = [k for k in read_key_slices(root / "DL_info.csv") if k.split == "train"]
    np.testing.assert_allclose(unjittered[1]["boxes"].numpy(), np.asarray(train_keys[0].boxes, np.float32))
    assert not np.array_equal(first[0].numpy(), unjittered[0].numpy())


def test_out_of_range_settings_are_refused():
    with pytest.raises(ConfigError, match="data.affine_scale"):
        TrainingConfig.from_dict({"data": {"affine_scale": [1.2, 0.9]}}).validate()
    with pytest.raises(ConfigError, match="data.affine_probability"):
        TrainingConfig.from_dict({"data": {"affine_probability": 1.5}}).validate()
