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
