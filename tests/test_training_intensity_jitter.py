"""HU jitter in training (lesionviewer.training.intensity_jitter): what moves, by how much, and what does not."""
import numpy as np
import pytest

from lesionviewer.training.config import ConfigError, TrainingConfig
from lesionviewer.training.intensity_jitter import IntensityJitter


def test_lung_and_air_keep_their_values_while_soft_tissue_and_bone_move_together():
    hu = np.array([[[-1000.0, -850.0, -400.0, -100.0, 40.0, 60.0, 140.0, 700.0]]])
    rng = np.random.default_rng(5)
    out = IntensityJitter(offset_hu=30.0, gain=0.2)(hu, rng)
    # the same draws by hand: gain, then offset (numpy's uniform, in that order)
    check = np.random.default_rng(5)
    g, o = check.uniform(0.8, 1.2), check.uniform(-30.0, 30.0)
    assert out[0, 0, :3].tolist() == [-1000.0, -850.0, -400.0]
    for i, v in zip(range(3, 8), (-100.0, 40.0, 60.0, 140.0, 700.0)):
        assert out[0, 0, i] == pytest.approx(40.0 + (v - 40.0) * g + o, abs=1e-3)


def test_a_lesion_keeps_the_sign_of_its_contrast_and_its_contrast_scales_with_the_gain():
    # a liver at 110 HU with a metastasis at 60 HU (-50) and a haemangioma at 160 HU (+50)
    hu = np.array([[[110.0, 60.0, 160.0]]])
    for seed in range(50):
        out = IntensityJitter(offset_hu=25.0, gain=0.15)(hu, np.random.default_rng(seed))[0, 0]
        dark, bright = out[1] - out[0], out[2] - out[0]
        assert -57.5 - 1e-3 <= dark <= -42.5 + 1e-3 and 42.5 - 1e-3 <= bright <= 57.5 + 1e-3
        assert dark == pytest.approx(-bright, abs=1e-3)


def test_the_blend_between_lung_and_soft_tissue_is_linear():
    hu = np.array([[[-250.0]]])  # half way through [-300, -200]
    out = IntensityJitter(offset_hu=40.0)(hu, np.random.default_rng(2))
    o = np.random.default_rng(2)
    o.uniform(1.0, 1.0)
    assert out[0, 0, 0] == pytest.approx(-250.0 + 0.5 * o.uniform(-40.0, 40.0), abs=1e-3)


def test_noise_standard_deviation_stays_within_the_setting_and_blur_lowers_it():
    flat = np.full((1, 128, 128), 50.0)
    sds = [float(IntensityJitter(noise_hu=12.0)(flat, np.random.default_rng(s)).std()) for s in range(20)]
    assert max(sds) <= 12.0 * 1.05 and max(sds) > 6.0  # drawn from [0, 12] HU
    noisy = flat + np.random.default_rng(0).normal(0, 20.0, flat.shape)
    blurred = IntensityJitter(blur=1.0)(noisy, np.random.default_rng(1))
    assert blurred.std() < 0.6 * noisy.std()  # a Gaussian of sigma >= 0.4 px cuts white noise


def test_nothing_is_drawn_or_changed_when_off_and_the_input_is_never_modified():
    hu = np.linspace(-1000, 1000, 24, dtype=np.float32).reshape(1, 4, 6)
    keep = hu.copy()
    rng = np.random.default_rng(0)
    out = IntensityJitter()(hu, rng)
    assert np.array_equal(out, hu) and rng.random() == np.random.default_rng(0).random()
    IntensityJitter(10.0, 0.1, 5.0, 1.0)(hu, np.random.default_rng(0))
    assert np.array_equal(hu, keep)


def test_the_dataset_jitters_training_samples_only_and_reproducibly(tmp_path):
    from lesionviewer.training.splits import build_split_datasets
    from lesionviewer.training.toy_data import write_toy_deeplesion

    root = write_toy_deeplesion(tmp_path, patients=4, size=32, slices=4)
    base = {"root": str(root), "num_slices": 3, "hflip": 0.0, "vflip": 0.0, "reverse_slices": 0.0}
    plain = build_split_datasets(TrainingConfig.from_dict({"data": base}), splits=("train", "val"))
    jitter = build_split_datasets(TrainingConfig.from_dict({"data": {**base, "intensity_offset_hu": 100.0}}),
                                  splits=("train", "val"))
    a, b = plain["train"][(1, 0)][0], jitter["train"][(1, 0)][0]
    assert not np.array_equal(a, b) and np.array_equal(b, jitter["train"][(1, 0)][0])
    assert not np.array_equal(b, jitter["train"][(2, 0)][0])  # another epoch, another draw
    assert np.array_equal(plain["val"][0][0], jitter["val"][0][0])  # evaluation is never jittered


@pytest.mark.parametrize("key, value", [("intensity_gain", 1.0), ("intensity_offset_hu", -1.0),
                                        ("intensity_noise_hu", 600.0), ("intensity_blur", 1.5)])
def test_out_of_range_settings_are_a_config_error_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=f"data.{key}"):
        TrainingConfig.from_dict({"data": {key: value}}).validate()
