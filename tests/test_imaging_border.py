"""Black-border cropping (3DCE's rule: > -768 HU, 7x7 opening, bounding box)."""
import numpy as np
import pytest

from lesionviewer.imaging import body_bounding_box, crop_black_border, uncrop_boxes
from lesionviewer.imaging.slice_source import PngSliceSource


def test_crop_finds_body_and_ignores_thin_structures():
    image = np.full((100, 120), -1024, np.int16)
    image[20:80, 15:110] = 30           # body
    image[90:93, 0:120] = 200           # a 3-pixel-thick table: removed by the 7x7 opening
    image[5, 5] = 1000                  # a bright speck
    crop, offset = crop_black_border(image)
    assert offset == (20, 15) and crop.shape == (60, 95)
    assert np.all(crop == 30)


def test_threshold_is_exclusive_at_minus_768():
    image = np.full((30, 30), -768, np.int16)
    assert body_bounding_box(image) is None
    image[10:20, 10:20] = -767
    assert body_bounding_box(image) == (10, 20, 10, 20)


def test_empty_slice_returns_the_whole_image():
    image = np.full((16, 16), -2048, np.int16)
    crop, offset = crop_black_border(image)
    assert crop.shape == (16, 16) and offset == (0, 0)


def test_stack_is_cropped_by_its_reference_slice():
    stack = np.full((3, 40, 40), -1024, np.int16)
    stack[0, 0:40, 0:40] = 0
    stack[1, 10:30, 5:25] = 0
    crop, offset = crop_black_border(stack)
    assert crop.shape == (3, 20, 20) and offset == (10, 5)
    crop, offset = crop_black_border(stack, reference_slice=0)
    assert crop.shape == (3, 40, 40) and offset == (0, 0)


def test_boxes_in_the_crop_map_back():
    image = np.full((50, 50), -1024); image[12:40, 7:45] = 0
    crop, offset = crop_black_border(image)
    box_in_crop = np.array([[3.0, 4.0, 10.0, 12.0]])
    np.testing.assert_array_equal(uncrop_boxes(box_in_crop, offset), [[10.0, 16.0, 17.0, 24.0]])


def test_real_deeplesion_slice_with_padding_is_cropped_inside_the_field_of_view(shared_data):
    paths = sorted((shared_data / "deeplesion" / "Images_png").glob("*/*.png"))
    padded = [p for p in paths if PngSliceSource([p]).read(0).min() <= -2048]
    if not padded:
        pytest.skip("no DeepLesion slice with -2048 padding in the shared data")
    hu = PngSliceSource(padded[:1]).read(0)
    crop, (y0, x0) = crop_black_border(hu)
    assert crop.shape[0] < hu.shape[0] and crop.shape[1] < hu.shape[1]
    assert crop.min() >= -2048 and (crop > -768).mean() > 0.5  # mostly body once the border is gone
    # every body pixel (> -768) that survives the opening is inside the crop
    assert (hu > -768).sum() - (crop > -768).sum() < 0.01 * (hu > -768).sum()
