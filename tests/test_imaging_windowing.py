"""HU windowing for display and the MP3D input scaling."""
import numpy as np
import pytest
import torch

from lesionviewer.imaging import MP3D_MEAN, MP3D_STD, clip_and_scale_mp3d, normalize_mp3d, window


@pytest.mark.parametrize("hu, expected", [
    (-1000, 0), (-160, 0), (240, 255), (3000, 255), (40, 128), (-60, 64),
])
def test_soft_tissue_window_maps_ends_and_middle(hu, expected):
    # width 400 level 40 shows -160..240: -60 is a quarter of the way -> 63.75 -> 64
    assert window(np.array([hu]), 400, 40)[0] == expected


def test_float_output_is_unit_interval_float32():
    out = window(np.array([-160, -60, 240], np.int16), 400, 40, out="float")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.25, 1.0])


def test_torch_input_gives_matching_torch_output():
    hu = np.linspace(-1200, 1200, 97).astype(np.int16).reshape(1, 97)
    expected = window(hu, 1500, -600)
    got = window(torch.from_numpy(hu), 1500, -600)
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("width", [0, -5, float("nan")])
def test_nonpositive_width_is_refused(width):
    with pytest.raises(ValueError, match="width"):
        window(np.zeros(2), width, 0)


def test_unknown_output_kind_is_refused():
    with pytest.raises(ValueError, match="out"):
        window(np.zeros(2), 100, 0, out="int16")


def test_mp3d_scaling_clips_to_its_hu_range():
    hu = np.array([-3024, -1024, -1023, 1049, 1050, 3071], np.int16)
    out = clip_and_scale_mp3d(hu)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0, 255 / 2074, 255 - 255 / 2074, 255, 255], rtol=1e-6)


def test_mp3d_scaling_torch_equals_numpy():
    hu = np.random.default_rng(0).integers(-2000, 2000, size=(3, 8, 8)).astype(np.int16)
    np.testing.assert_allclose(clip_and_scale_mp3d(torch.from_numpy(hu)).numpy(), clip_and_scale_mp3d(hu),
                               rtol=1e-6)


def test_mp3d_normalisation_constants_and_inverse():
    assert (MP3D_MEAN, MP3D_STD) == (123.675, 58.395)
    scaled = np.array([0.0, 123.675, 255.0])
    np.testing.assert_allclose(normalize_mp3d(scaled) * MP3D_STD + MP3D_MEAN, scaled, atol=1e-4)
    assert normalize_mp3d(np.array([123.675]))[0] == 0


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


def test_a_one_hu_window_is_allowed():
    # width 1 at level 40: 39.5 -> 0 and 40.5 -> 255; 40 sits half way, 127.5 rounds to 128
    assert window(np.array([39, 40, 41]), width=1, level=40).tolist() == [0, 128, 255]


def test_torch_float_window_is_clamped_float32():
    hu = torch.tensor([-2000.0, 40.0, 3000.0], dtype=torch.float64)
    unit = window(hu, width=400, level=40, out="float")
    assert unit.dtype == torch.float32 and unit.tolist() == [0.0, 0.5, 1.0]


def test_mp3d_scaling_refuses_an_empty_range_and_gives_float32_tensors():
    with pytest.raises(ValueError, match=r"^hu_max must exceed hu_min; got \[10, 10\]$"):
        clip_and_scale_mp3d(np.array([10]), 10, 10)
    scaled = clip_and_scale_mp3d(torch.tensor([-1024.0, 1050.0], dtype=torch.float64))
    assert scaled.dtype == torch.float32 and scaled.tolist() == [0.0, 255.0]


def test_mp3d_normalisation_of_tensors_and_arrays():
    # 123.675 is the mean (-> 0) and 123.675 + 58.395 = 182.07 one std above it (-> 1)
    out = normalize_mp3d(torch.tensor([123.675, 182.07], dtype=torch.float64))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.tolist() == pytest.approx([0.0, 1.0], abs=1e-5)
    array = normalize_mp3d(np.array([123.675, 182.07]))
    assert array.dtype == np.float32 and array.tolist() == pytest.approx([0.0, 1.0], abs=1e-5)
