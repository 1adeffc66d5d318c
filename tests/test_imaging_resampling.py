"""Resampling and resizing with the scale kept: boxes map back exactly; padding never moves them."""
import numpy as np
import pytest
import torch

from lesionviewer.imaging import (
    pad_to_multiple,
    resample_inplane,
    rescale,
    resize_with_scale,
    scale_boxes,
    unscale_boxes,
)


def coordinate_image(height, width):
    """Two channels holding each pixel centre's x and y: bilinear resampling must reproduce the mapping."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    return np.stack([xs, ys])


@pytest.mark.parametrize("shape, target", [((400, 500), 512), ((512, 512), 448), ((333, 217), 576)])
def test_resized_pixel_centres_map_back_by_the_returned_scale(shape, target):
    image, scale = resize_with_scale(coordinate_image(*shape), target)
    assert min(image.shape[-2:]) == target
    out_h, out_w = image.shape[-2:]
    ys, xs = np.mgrid[0:out_h, 0:out_w] + 0.5
    inside = (xs / scale > 0.5) & (xs / scale < shape[1] - 0.5) & (ys / scale > 0.5) & (ys / scale < shape[0] - 0.5)
    # the value at an output pixel centre is the input coordinate it came from: x_out / scale
    np.testing.assert_allclose(image[0][inside], (xs / scale)[inside], atol=1e-3)
    np.testing.assert_allclose(image[1][inside], (ys / scale)[inside], atol=1e-3)


def test_box_round_trip_is_exact():
    boxes = np.array([[10.25, 20.5, 130.0, 99.75, 0.8], [0, 0, 400, 500, 0.1]])
    _, scale = resize_with_scale(np.zeros((400, 500)), 512)
    np.testing.assert_allclose(unscale_boxes(scale_boxes(boxes, scale), scale), boxes, rtol=0, atol=1e-12)
    assert scale_boxes(boxes, scale)[1, 3] == pytest.approx(640.0)  # image edge goes to image edge


def test_box_scaling_accepts_torch_and_anisotropic_scales():
    boxes = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert scale_boxes(boxes, (2.0, 10.0)).tolist() == [[10.0, 4.0, 30.0, 8.0]]
    assert unscale_boxes(boxes, 2.0).tolist() == [[0.5, 1.0, 1.5, 2.0]]


def test_max_long_side_limits_the_scale():
    image, scale = resize_with_scale(np.zeros((256, 1024)), 512, max_long_side=1333)
    assert scale == pytest.approx(1333 / 1024) and image.shape == (333, 1333)


def test_multi_slice_stacks_resize_as_one_and_keep_slice_values():
    stack = np.stack([np.full((100, 80), v, np.float32) for v in (-1000, 0, 500)])
    image, scale = resize_with_scale(stack, 512)
    assert image.shape == (3, 640, 512) and scale == 6.4
    np.testing.assert_allclose(image[:, 300, 200], [-1000, 0, 500])


def test_torch_input_stays_torch_and_equals_numpy_result():
    array = np.random.default_rng(0).normal(size=(3, 37, 41)).astype(np.float32)
    from_torch, scale_t = resize_with_scale(torch.from_numpy(array), 448)
    from_numpy, scale_n = resize_with_scale(array, 448)
    assert isinstance(from_torch, torch.Tensor) and scale_t == scale_n
    np.testing.assert_allclose(from_torch.numpy(), from_numpy, atol=1e-6)


def test_identity_scale_returns_a_float_copy():
    image = np.arange(12, dtype=np.int16).reshape(3, 4)
    out, scale = resize_with_scale(image, 3)
    assert scale == 1.0 and out.dtype == np.float32
    np.testing.assert_array_equal(out, image)


def test_resample_to_target_spacing_records_scale():
    image, scale = resample_inplane(np.zeros((512, 512)), spacing=0.7, target_spacing=0.8)
    assert scale == pytest.approx(0.875) and image.shape == (448, 448)
    image, scale = resample_inplane(np.zeros((2, 100, 100)), spacing=(0.5, 1.0), target_spacing=1.0)
    assert scale == (0.5, 1.0) and image.shape == (2, 50, 100)


def test_downsampling_a_constant_keeps_it():
    np.testing.assert_allclose(rescale(np.full((64, 64), 7.0), 0.3), 7.0)


@pytest.mark.parametrize("shape, expected, pad", [((500, 512), (512, 512), (12, 0)), ((1, 1), (32, 32), (31, 31)),
                                                  ((2, 64, 33), (2, 64, 64), (0, 31))])
def test_padding_to_a_multiple_of_32_at_bottom_right(shape, expected, pad):
    image = np.ones(shape, np.float32)
    padded, got_pad = pad_to_multiple(image, 32)
    assert padded.shape == expected and got_pad == pad
    assert np.all(padded[..., : shape[-2], : shape[-1]] == 1) and padded.sum() == image.sum()
    padded_t, pad_t = pad_to_multiple(torch.from_numpy(image), 32)
    assert tuple(padded_t.shape) == expected and pad_t == pad


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((1, 2, 3, 4)), np.zeros((0, 4))])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ValueError):
        resize_with_scale(bad, 512)


def test_bad_spacing_is_refused():
    with pytest.raises(ValueError, match="spacing"):
        resample_inplane(np.zeros((4, 4)), spacing=0, target_spacing=1)


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


def test_the_true_scale_sets_the_sampling_grid_not_the_rounded_size():
    # width 3 at scale 1.5 -> 5 columns sampled at x_in = (x_out + 0.5) / 1.5 - 0.5 (clamped to 0..2):
    # -0.17, 0.5, 1.17, 1.83, 2.5 -> 0, 5, 11.67, 18.33, 20; rows stay put at scale 1
    image = np.array([[0.0, 10.0, 20.0], [30.0, 40.0, 50.0]])
    out = rescale(image, (1.0, 1.5))
    assert out.shape == (2, 5) and out.dtype == np.float32
    expected = [[0, 5, 35 / 3, 55 / 3, 20], [30, 35, 125 / 3, 145 / 3, 50]]
    assert np.allclose(out, expected, atol=1e-4), out.tolist()


def test_a_tiny_scale_still_leaves_one_pixel():
    assert rescale(np.ones((4, 4)), 0.1).shape == (1, 1)


def test_integer_tensors_are_resized_as_float32():
    out = rescale(torch.tensor([[0, 10], [20, 30]], dtype=torch.int16), 1.0)
    assert out.dtype == torch.float32 and out.tolist() == [[0.0, 10.0], [20.0, 30.0]]


@pytest.mark.parametrize("shape", [(2, 3, 0), (2, 0, 3)])
def test_empty_images_are_refused_whichever_side_is_empty(shape):
    with pytest.raises(ValueError, match=r"^cannot resize an empty image of shape"):
        rescale(np.zeros(shape), 2.0)


def test_bad_shapes_and_scales_are_named():
    with pytest.raises(ValueError, match=r"^expected an \(H, W\) or \(N, H, W\) image; got shape \(4,\)$"):
        rescale(np.zeros(4), 2.0)
    with pytest.raises(ValueError, match=r"^scale must be a positive number or a \(row, column\) pair"):
        rescale(np.zeros((2, 2)), (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"^target_spacing must be"):
        resample_inplane(np.zeros((2, 2)), 0.8, 0.0)
    with pytest.raises(ValueError, match=r"^spacing must be"):
        resample_inplane(np.zeros((2, 2)), -1.0, 0.8)
    with pytest.raises(ValueError, match=r"^boxes need 4 coordinates in the last axis"):
        scale_boxes(np.zeros((1, 3)), 2.0)


def test_defaults_512_short_side_and_multiples_of_32():
    assert resize_with_scale(np.zeros((256, 300)))[0].shape == (512, 600)
    assert pad_to_multiple(np.zeros((30, 33)))[1] == (2, 31)
    assert pad_to_multiple(np.zeros((5, 7)), multiple=1)[1] == (0, 0)
    assert resize_with_scale(np.zeros((4, 6)), target_short_side=1)[0].shape == (1, 2)


def test_padding_uses_the_given_value():
    padded, _ = pad_to_multiple(np.zeros((1, 1)), multiple=2, value=-1024)
    assert padded.tolist() == [[0, -1024], [-1024, -1024]]
    padded, _ = pad_to_multiple(torch.zeros((1, 1)), multiple=2, value=-1024)
    assert padded.tolist() == [[0, -1024], [-1024, -1024]]


def test_box_scaling_keeps_scores_and_gives_floats():
    # integer boxes scale to floats (1.5 x), a score column stays, float32 stays float32
    assert scale_boxes(np.array([[2, 4, 6, 8]]), 1.5).tolist() == [[3.0, 6.0, 9.0, 12.0]]
    assert scale_boxes(np.array([2, 4, 6, 8]), 2.0).tolist() == [4.0, 8.0, 12.0, 16.0]
    assert scale_boxes(np.array([[2, 4, 6, 8]], np.float32), 1.5).dtype == np.float32
    boxes = torch.tensor([[2, 4, 6, 8]])
    assert scale_boxes(boxes, 1.5).tolist() == [[3.0, 6.0, 9.0, 12.0]]
    scored = torch.tensor([[2.0, 4.0, 6.0, 8.0, 0.9]])
    assert np.allclose(scale_boxes(scored, 2.0).numpy(), [[4.0, 8.0, 12.0, 16.0, 0.9]])
    assert np.allclose(unscale_boxes(scored, 2.0).numpy(), [[1.0, 2.0, 3.0, 4.0, 0.9]])


def test_float64_box_tensors_stay_float64_and_exact():
    out = scale_boxes(torch.tensor([[2.0, 2.0, 2.0, 2.0]], dtype=torch.float64), 1.1)
    assert out.dtype == torch.float64 and out.tolist() == [[2 * 1.1] * 4]


def test_size_and_scale_errors_are_named():
    with pytest.raises(ValueError, match=r"^target_short_side must be at least 1; got 0$"):
        resize_with_scale(np.zeros((2, 2)), target_short_side=0)
    with pytest.raises(ValueError, match=r"^multiple must be at least 1; got 0$"):
        pad_to_multiple(np.zeros((2, 2)), multiple=0)
    with pytest.raises(ValueError, match=r"^scale must be a positive number"):
        scale_boxes(np.zeros((1, 4)), 0.0)
