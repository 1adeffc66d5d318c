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
