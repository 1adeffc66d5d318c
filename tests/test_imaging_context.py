"""Context stacks: physical interval, linear interpolation, edge repeat, lazy and reused slice reads."""
import numpy as np
import pytest
import torch
from PIL import Image

from lesionviewer.imaging import (
    CallableSliceSource,
    ContextStacker,
    PngSliceSource,
    context_sample_points,
    context_stack,
)
from lesionviewer.io.errors import CorruptFileError


def position_volume(positions, shape=(3, 4)):
    """A volume whose every voxel holds its slice's position in mm: stacks then read off positions."""
    return np.stack([np.full(shape, p, np.float32) for p in positions])


def stack_positions(volume, positions, center, n, interval):
    stack = context_stack(volume, positions, center, n, interval)
    assert stack.dtype == np.float32 and stack.shape == (n,) + volume.shape[1:]
    assert np.all(stack == stack[:, :1, :1])  # each slice is constant: interpolation is per slice
    return stack[:, 0, 0]


def test_uniform_spacing_interpolates_exact_positions():
    spacing = 5.0
    volume = position_volume(np.arange(20) * spacing)
    got = stack_positions(volume, spacing, center=10, n=9, interval=2.5)
    np.testing.assert_allclose(got, 50 + np.arange(-4, 5) * 2.5, atol=1e-5)


def test_positions_past_the_ends_repeat_the_edge_slices():
    volume = position_volume(np.arange(6) * 2.0)  # 0..10 mm
    np.testing.assert_allclose(stack_positions(volume, 2.0, 0, 5, 3.0), [0, 0, 0, 3, 6], atol=1e-6)
    np.testing.assert_allclose(stack_positions(volume, 2.0, 5, 5, 3.0), [4, 7, 10, 10, 10], atol=1e-6)


def test_uneven_positions_use_the_two_nearest_slices():
    positions = [0.0, 1.0, 1.5, 4.0, 9.0, 10.0]
    volume = position_volume(positions)
    got = stack_positions(volume, positions, center=3, n=7, interval=2.0)  # targets -2 .. 10 mm
    np.testing.assert_allclose(got, [0.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0], atol=1e-5)
    lower, upper, weight = context_sample_points(positions, 6, 3, 7, 2.0)
    assert lower.tolist() == [0, 0, 2, 3, 3, 3, 5]
    assert upper.tolist() == [0, 0, 3, 3, 4, 4, 5]
    np.testing.assert_allclose(weight, [0, 0, 0.2, 0, 0.4, 0.8, 0])


def test_decreasing_positions_keep_stack_order_along_the_index():
    positions = [30.0, 25.0, 20.0, 15.0]
    volume = position_volume(positions)
    np.testing.assert_allclose(stack_positions(volume, positions, 1, 3, 2.5), [27.5, 25.0, 22.5], atol=1e-5)


def test_values_between_slices_are_blended_linearly():
    volume = np.stack([np.zeros((2, 2)), np.full((2, 2), 100.0), np.full((2, 2), -100.0)])
    got = context_stack(volume, 4.0, 1, 3, 1.0)[:, 0, 0]
    np.testing.assert_allclose(got, [75.0, 100.0, 50.0])


def test_one_slice_volume_repeats_that_slice():
    volume = np.arange(6, dtype=np.int16).reshape(1, 2, 3)
    stack = context_stack(volume, 2.5, 0, 9, 2.5)
    assert stack.shape == (9, 2, 3)
    assert np.all(stack == volume[0])


def test_even_slice_count_puts_the_centre_at_index_n_over_2():
    volume = position_volume(np.arange(10.0))
    np.testing.assert_allclose(stack_positions(volume, 1.0, 5, 4, 1.0), [3, 4, 5, 6], atol=1e-6)


def test_int16_and_torch_volumes_give_float32_stacks():
    volume = np.arange(5 * 4, dtype=np.int16).reshape(5, 2, 2) * 100
    from_numpy = context_stack(volume, 2.0, 2, 3, 1.0)
    from_torch = context_stack(torch.from_numpy(volume), 2.0, 2, 3, 1.0)
    np.testing.assert_array_equal(from_numpy, from_torch)
    np.testing.assert_allclose(from_numpy[0], (volume[1] + volume[2]) / 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(slice_positions_mm=[0, 1, 1, 2]), "strictly"),
    (dict(slice_positions_mm=[0, 2, 1, 3]), "strictly"),
    (dict(slice_positions_mm=[0, 1, 2]), "3 slice positions for 4"),
    (dict(slice_positions_mm=0.0), "positive"),
    (dict(interval_mm=0.0), "interval"),
    (dict(num_slices=0), "at least one"),
])
def test_bad_geometry_is_a_clear_error(kwargs, message):
    args = dict(volume_hu=np.zeros((4, 2, 2)), slice_positions_mm=1.0, center_index=1, num_slices=3,
                interval_mm=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        context_stack(**args)


def test_centre_outside_the_volume_is_an_index_error():
    with pytest.raises(IndexError, match="outside 0..3"):
        context_stack(np.zeros((4, 2, 2)), 1.0, 4, 3, 1.0)


class CountingSource:
    def __init__(self, volume):
        self.volume, self.read_indices = volume, []

    @property
    def num_slices(self):
        return len(self.volume)

    def read(self, index):
        self.read_indices.append(index)
        return self.volume[index]


def test_stack_reads_only_the_slices_it_needs():
    source = CountingSource(position_volume(np.arange(100.0)))
    stack = context_stack(source, 1.0, 50, 9, 2.5)  # 40 .. 60 mm, fractional at odd offsets
    np.testing.assert_allclose(stack[:, 0, 0], 50 + np.arange(-4, 5) * 2.5, atol=1e-5)
    assert sorted(source.read_indices) == [40, 42, 43, 45, 47, 48, 50, 52, 53, 55, 57, 58, 60]


def test_stacker_matches_context_stack_and_reuses_slices_across_calls():
    positions = np.cumsum(np.r_[0.0, np.full(29, 1.25)])
    source = CountingSource(position_volume(positions))
    stacker = ContextStacker(source, positions, num_slices=5, interval_mm=2.5)
    first = stacker.stacks(range(0, 8))
    second = stacker.stacks(range(8, 16))
    for batch, centres in ((first, range(0, 8)), (second, range(8, 16))):
        assert batch.shape == (8, 5, 3, 4)
        for row, centre in zip(batch, centres):
            np.testing.assert_array_equal(row, context_stack(source.volume, positions, centre, 5, 2.5))
    # Centres 0..15 with +-5 mm at 1.25 mm spacing need source slices 0..19, each read exactly once.
    assert sorted(source.read_indices) == list(range(20))
    assert stacker.reads == 20


def test_png_source_reads_deeplesion_offset_lazily(tmp_path):
    paths = []
    for z in range(6):
        path = tmp_path / f"{z:03d}.png"
        Image.fromarray(np.full((4, 5), 32768 - 1000 + 100 * z, np.uint16)).save(path)
        paths.append(path)
    (tmp_path / "003.png").write_bytes(b"\x89PNG truncated")  # slice 3 is broken and must not be read
    stack = context_stack(PngSliceSource(paths), 2.0, 1, 3, 2.0)
    np.testing.assert_allclose(stack[:, 0, 0], [-1000, -900, -800])
    with pytest.raises(CorruptFileError, match="003.png"):
        context_stack(PngSliceSource(paths), 2.0, 3, 3, 2.0)


def test_png_source_on_real_deeplesion_slice(shared_data):
    path = sorted((shared_data / "deeplesion" / "Images_png").glob("*/*.png"))[0]
    hu = PngSliceSource([path]).read(0)
    assert hu.dtype == np.int16 and hu.shape == (512, 512)
    assert -2048 <= hu.min() <= -1000 and 0 < hu.max() < 4000  # air/padding to bone


def test_callable_source_checks_indices():
    source = CallableSliceSource(3, lambda i: np.full((2, 2), i))
    with pytest.raises(IndexError):
        source.read(3)
    np.testing.assert_allclose(context_stack(source, 1.0, 2, 3, 0.5)[:, 0, 0], [1.5, 2.0, 2.0])


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.floats(0.3, 7.0), min_size=0, max_size=12), start=st.floats(-500, 500),
       decreasing=st.booleans(), data=st.data(), num_slices=st.integers(1, 11), interval=st.floats(0.5, 6.0))
def test_any_monotonic_geometry_reads_off_clamped_target_positions(steps, start, decreasing, data, num_slices,
                                                                   interval):
    positions = start + np.concatenate([[0.0], np.cumsum(steps)]) * (-1 if decreasing else 1)
    center = data.draw(st.integers(0, len(positions) - 1))
    volume = position_volume(positions, shape=(1, 2))
    stack = context_stack(volume, positions, center, num_slices, interval)[:, 0, 0]
    direction = -1.0 if decreasing and len(positions) > 1 else 1.0
    targets = positions[center] + direction * (np.arange(num_slices) - num_slices // 2) * interval
    expected = np.clip(targets, positions.min(), positions.max())
    np.testing.assert_allclose(stack, expected, atol=1e-3)  # float32 positions up to ~560 mm
