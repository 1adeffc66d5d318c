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
    slice_positions,
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


# Found by mutation testing (issue 18)

def test_two_slice_series_interpolates_in_either_direction():
    # Increasing, 0 and 2.5 mm; centre slice 1, +-1.25 mm: targets 1.25, 2.5, 3.75 mm, the last past the end.
    increasing = position_volume([0.0, 2.5])
    np.testing.assert_allclose(stack_positions(increasing, [0.0, 2.5], 1, 3, 1.25), [1.25, 2.5, 2.5], atol=1e-6)
    lower, upper, weight = context_sample_points([0.0, 2.5], 2, 1, 3, 1.25)
    assert (lower.tolist(), upper.tolist(), weight.tolist()) == ([0, 1, 1], [1, 1, 1], [0.5, 0.0, 0.0])
    # Decreasing, 10 and 7 mm; centre slice 0, +-1.5 mm along the index: 11.5 (before slice 0: edge), 10, 8.5 mm.
    decreasing = position_volume([10.0, 7.0])
    np.testing.assert_allclose(stack_positions(decreasing, [10.0, 7.0], 0, 3, 1.5), [10.0, 10.0, 8.5], atol=1e-6)
    lower, upper, weight = context_sample_points([10.0, 7.0], 2, 0, 3, 1.5)
    assert (lower.tolist(), upper.tolist(), weight.tolist()) == ([0, 0, 0], [0, 0, 1], [0.0, 0.0, 0.5])


def test_one_slice_series_sample_points_are_integer_indices_into_the_volume():
    volume = np.array([[[7.0, 8.0]]])  # one slice, 1 x 2
    lower, upper, weight = context_sample_points(2.0, 1, 0, 3, 1.0)
    assert lower.tolist() == upper.tolist() == [0, 0, 0] and weight.tolist() == [0.0, 0.0, 0.0]
    assert lower.dtype == upper.dtype == np.int64  # as documented: usable to index the volume
    assert volume[lower].tolist() == volume[upper].tolist() == [[[7.0, 8.0]]] * 3


def test_unsigned_8_bit_slices_blend_without_wrapping_around():
    # Slice 0 holds 200, slice 1 holds 100 (a windowed 8-bit image); 1 mm apart. Halfway (0.5 mm): 150,
    # a quarter of the way (0.25 mm): 175. Subtracting in uint8 would give 100 - 200 = 156 (mod 256).
    volume = np.stack([np.full((2, 2), 200, np.uint8), np.full((2, 2), 100, np.uint8)])
    stack = context_stack(volume, 1.0, 0, 3, 0.5)  # targets -0.5 (edge), 0, 0.5 mm
    assert stack.dtype == np.float32
    np.testing.assert_array_equal(stack[:, 0, 0], [200.0, 200.0, 150.0])
    stacker = ContextStacker(volume, 1.0, num_slices=3, interval_mm=0.25)  # targets 0.25, 0.5, 0.75 mm
    batch = stacker.stacks([1, 0])  # centre 1: 0.75, 1.0, 1.25 (edge) mm; centre 0: -0.25 (edge), 0, 0.25 mm
    assert batch.dtype == np.float32 and batch.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(batch[:, :, 0, 0], [[125.0, 100.0, 100.0], [200.0, 200.0, 175.0]])


def test_stacker_blends_in_float32_like_context_stack():
    # 0.1 is not exact in binary: the float32 blend of 0 and 1 at weight 0.1 is float32(0.1) = 0.100000001490116...
    volume = np.stack([np.zeros((1, 1)), np.ones((1, 1))])  # float64 source slices
    batch = ContextStacker(volume, 1.0, num_slices=1, interval_mm=1.0).stacks([0, 1])
    assert batch.dtype == np.float32 and batch[:, 0, 0, 0].tolist() == [0.0, 1.0]
    stacker = ContextStacker(volume, [0.0, 10.0], num_slices=3, interval_mm=1.0)  # centre 0: -1, 0, 1 mm
    row = stacker.stack(0)
    assert row.dtype == np.float32
    assert row[:, 0, 0].tolist() == [0.0, 0.0, float(np.float32(0.1))]


def test_a_stack_that_lands_on_a_slice_copies_it_unchanged_even_infinities():
    # A float volume may hold +-inf (e.g. a saturated reconstruction); blending inf with itself gives NaN,
    # so on-slice samples must be copies, not a + 0 * (b - a).
    volume = np.zeros((3, 1, 2), np.float32)
    volume[1, 0] = [np.inf, -np.inf]
    stack = context_stack(volume, 2.0, 1, 3, 2.0)  # targets 0, 2, 4 mm: exactly slices 0, 1, 2
    assert stack[:, 0].tolist() == [[0.0, 0.0], [np.inf, -np.inf], [0.0, 0.0]]
    assert ContextStacker(volume, 2.0, 3, 2.0).stack(1)[:, 0].tolist() == [[0.0, 0.0], [np.inf, -np.inf], [0.0, 0.0]]


def test_stacks_without_a_centre_is_a_clear_error():
    stacker = ContextStacker(np.zeros((3, 1, 1)), 1.0, 3, 1.0)
    with pytest.raises(ValueError) as raised:
        stacker.stacks([])
    assert str(raised.value) == "stacks() needs at least one centre slice"


def mixed_shape_source():
    """Slices 0 and 1 are 2 x 2, slice 2 is 3 x 3 (a broken series)."""
    return CallableSliceSource(3, lambda i: np.zeros((3, 3) if i == 2 else (2, 2), np.float32))


@pytest.mark.parametrize("interval", [1.0, 0.5], ids=["on-slice", "blended"])
def test_a_slice_of_another_shape_is_named_in_the_error(interval):
    # Centre 1, 3 slices. interval 1.0: targets are slices 0, 1, 2 and slice 2 is the one read as such.
    # interval 0.5: slices 0|1 at weight 0.5, 1, 1|2 at weight 0.5: slice 2 is the one blended in.
    with pytest.raises(ValueError) as raised:
        context_stack(mixed_shape_source(), 1.0, 1, 3, interval)
    assert str(raised.value) == "source slice 2 has shape (3, 3), slice 0 has (2, 2)"


def test_slice_positions_errors_say_what_is_wrong():
    with pytest.raises(ValueError) as raised:
        slice_positions(1.0, 0)
    assert str(raised.value) == "a volume needs at least one slice; got 0"
    with pytest.raises(ValueError) as raised:
        slice_positions([0.0, float("nan"), 2.0], 3)
    assert str(raised.value) == "slice positions must be finite numbers"
    with pytest.raises(ValueError) as raised:
        slice_positions([0.0, 2.0, 1.0], 3)
    assert str(raised.value) == ("slice positions must be strictly increasing or strictly decreasing "
                                 "(duplicate or unsorted positions)")


@pytest.mark.parametrize("positions", [
    [3.0, 3.0],                # two slices at the same place
    [2.0, 2.0, 1.0, 0.0],      # decreasing, with a duplicate
    [5.0, 5.0, 5.0],           # all at one place
    [0.0, 0.5, 0.25, 0.75],    # a zigzag of sub-millimetre steps
])
def test_duplicate_or_zigzag_positions_are_refused(positions):
    with pytest.raises(ValueError, match="strictly increasing or strictly decreasing"):
        slice_positions(positions, len(positions))


def test_positions_as_a_column_are_read_as_one_per_slice():
    column = np.array([[0.0], [2.0], [4.0]])  # e.g. the z column of ImagePositionPatient rows
    assert slice_positions(column, 3).tolist() == [0.0, 2.0, 4.0]
    np.testing.assert_allclose(stack_positions(position_volume([0.0, 2.0, 4.0]), column, 1, 3, 1.0), [1.0, 2.0, 3.0])
