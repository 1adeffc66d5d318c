"""``arrange_slices`` and ``spacing_summary`` called directly, with hand-built slice headers (no files).

Geometry follows DICOM PS3.3 C.7.6.2 (Image Plane Module): ImageOrientationPatient holds the row
direction cosines then the column direction cosines, the slice normal is row x column,
ImagePositionPatient is the centre of the first pixel in mm, and PixelSpacing is (row spacing,
column spacing). Every expected number is worked by hand in a comment next to it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from lesionviewer.io.slice_header import EXPLICIT_LITTLE, SliceHeader
from lesionviewer.io.slice_stack import arrange_slices, spacing_summary

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # rows along +x, columns along +y: normal (1,0,0) x (0,1,0) = (0,0,1)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # normal (1,0,0) x (0,0,-1) = (0*-1 - 0*0, 0*0 - 1*-1, 0) = (0,1,0)

PIXEL_SPACING_WARNING = "the files give no pixel spacing; 1 mm per pixel is assumed, so sizes in mm are unknown"


def header(path, position, *, orientation=AXIAL, pixel_spacing=(0.5, 0.7), instance=None, thickness=None,
           between=None, tilt=0.0):
    return SliceHeader(path, EXPLICIT_LITTLE, 4, 4, position=position, orientation=orientation,
                       pixel_spacing=pixel_spacing, instance_number=instance, slice_thickness=thickness,
                       spacing_between_slices=between, gantry_tilt=tilt)


def axial(path, z, **kw):
    """An axial slice at height ``z``, its first pixel at x = -100, y = -120."""
    return header(path, (-100.0, -120.0, z), **kw)


def paths(stack):
    return [None if h is None else h.path for h in stack.slots]


# --- input and sorting ---

def test_an_empty_series_is_refused():
    with pytest.raises(ValueError, match=r"^a series needs at least one slice$"):
        arrange_slices([])


def test_slices_are_sorted_by_position_not_by_input_order_file_name_or_instance_number():
    # InstanceNumber and file names disagree with the positions: only the positions count.
    hs = [axial("a.dcm", 15.0, instance=1), axial("b.dcm", 10.0, instance=4), axial("c.dcm", 17.5, instance=3),
          axial("d.dcm", 12.5, instance=2)]
    expected = ["b.dcm", "d.dcm", "a.dcm", "c.dcm"]  # z = 10, 12.5, 15, 17.5
    assert paths(arrange_slices(hs)) == expected
    assert paths(arrange_slices(hs[::-1])) == expected
    assert paths(arrange_slices([hs[2], hs[0], hs[3], hs[1]])) == expected


def test_an_even_axial_series_gets_its_geometry_from_the_positions():
    # SliceThickness 5 is ignored: the step comes from the positions, (17.5 - 10) / 3 = 2.5 mm.
    hs = [axial(f"{z}.dcm", z, thickness=5.0) for z in (15.0, 10.0, 17.5, 12.5)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["10.0.dcm", "12.5.dcm", "15.0.dcm", "17.5.dcm"]
    assert stack.num_slices == 4
    assert stack.spacing == (2.5, 0.5, 0.7)  # (slice step, PixelSpacing row spacing, column spacing)
    assert stack.origin == (-100.0, -120.0, 10.0)  # the lowest slice's ImagePositionPatient
    assert all(type(v) is float for v in stack.origin)
    np.testing.assert_array_equal(stack.direction, np.eye(3))  # columns: row, column, stacking direction
    assert stack.positions_mm == [10.0, 12.5, 15.0, 17.5]  # position . (0,0,1) = z
    assert stack.origins == [(-100.0, -120.0, z) for z in (10.0, 12.5, 15.0, 17.5)]
    assert (stack.uneven, stack.missing, stack.duplicates, stack.tilt_degrees, stack.warnings) == (
        False, [], [], 0.0, [])


def test_a_flipped_column_direction_sorts_along_the_normal_so_the_top_slice_comes_first():
    # columns along -y: normal (1,0,0) x (0,-1,0) = (0*0 - 0*-1, 0*0 - 1*0, 1*-1 - 0*0) = (0,0,-1),
    # so the position along the normal is -z and z = 30 (-30) comes first.
    hs = [axial(f"{z}", z, orientation=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0)) for z in (10.0, 30.0, 20.0)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["30.0", "20.0", "10.0"]
    assert stack.positions_mm == [-30.0, -20.0, -10.0]
    assert stack.origin == (-100.0, -120.0, 30.0)
    assert stack.spacing == (10.0, 0.5, 0.7)  # |10 - 30| / 2
    np.testing.assert_array_equal(stack.direction, [[1, 0, 0], [0, -1, 0], [0, 0, -1]])
    assert stack.warnings == [] and stack.tilt_degrees == 0.0


def test_coronal_slices_are_sorted_along_y_whatever_their_height():
    # normal (0,1,0) (see CORONAL): the position along it is y; every slice has z = 40.
    hs = [header(f"y{y:g}", (5.0, y, 40.0), orientation=CORONAL) for y in (30.0, 10.0, 20.0)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["y10", "y20", "y30"]
    assert stack.positions_mm == [10.0, 20.0, 30.0]
    assert stack.origin == (5.0, 10.0, 40.0)
    assert stack.spacing == (10.0, 0.5, 0.7)
    np.testing.assert_array_equal(stack.direction, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])  # columns (1,0,0), (0,0,-1), (0,1,0)


def test_direction_cosines_written_with_few_digits_are_made_unit_vectors():
    # A 30 degree in-plane rotation written with 3 decimals: |(0.866, 0.5, 0)| = sqrt(0.749956 + 0.25)
    # = sqrt(0.999956), not 1 (PS3.3 C.7.6.2: direction cosines are unit vectors).
    norm = math.sqrt(0.999956)
    hs = [header(f"{z}", (0.0, 0.0, z), orientation=(0.866, 0.5, 0.0, -0.5, 0.866, 0.0)) for z in (0.0, 3.0, 6.0)]
    stack = arrange_slices(hs)
    np.testing.assert_allclose(stack.direction[:, 0], [0.866 / norm, 0.5 / norm, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(stack.direction[:, 1], [-0.5 / norm, 0.866 / norm, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(stack.direction[:, 2], [0.0, 0.0, 1.0], rtol=0, atol=1e-12)
    # the normal is normalised too, so positions along it are the heights: 0, 3, 6 (not 0.999956 times them)
    assert stack.positions_mm == pytest.approx([0.0, 3.0, 6.0], abs=1e-12)


def test_a_series_without_pixel_spacing_assumes_1_mm_per_pixel_and_says_so():
    stack = arrange_slices([axial(f"{z}", z, pixel_spacing=None) for z in (0.0, 2.0, 4.0)])
    assert stack.spacing == (2.0, 1.0, 1.0)
    assert stack.warnings == [PIXEL_SPACING_WARNING]


# --- duplicates ---

def test_a_repeated_position_keeps_one_slice_and_names_the_copy():
    hs = [axial("c.dcm", 2.0), axial("b.dcm", 0.0), axial("a.dcm", 0.0), axial("d.dcm", 4.0)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["a.dcm", "c.dcm", "d.dcm"]  # at z = 0, a.dcm sorts before b.dcm
    assert stack.duplicates == ["b.dcm"]
    assert stack.positions_mm == [0.0, 2.0, 4.0]
    assert stack.spacing == (2.0, 0.5, 0.7)
    assert stack.warnings == [
        "1 file repeats the position of another slice (two acquisitions or copies?); one slice per position was kept"]


def test_two_repeated_positions_are_counted_in_the_plural():
    hs = [axial(p, z) for p, z in (("a", 0.0), ("b", 0.0), ("c", 2.0), ("d", 2.0), ("e", 4.0))]
    stack = arrange_slices(hs)
    assert paths(stack) == ["a", "c", "e"]
    assert stack.duplicates == ["b", "d"]
    assert stack.warnings == [
        "2 files repeat the position of another slice (two acquisitions or copies?); one slice per position was kept"]


def test_of_two_files_at_one_position_the_lower_instance_number_is_kept():
    stack = arrange_slices([axial("a", 10.0, instance=2), axial("b", 10.0, instance=1), axial("c", 13.0, instance=3)])
    assert paths(stack) == ["b", "c"] and stack.duplicates == ["a"]
    # a file without InstanceNumber counts as number 0, before number 1
    stack = arrange_slices([axial("a", 10.0, instance=1), axial("b", 10.0), axial("c", 13.0, instance=3)])
    assert paths(stack) == ["b", "c"] and stack.duplicates == ["a"]


def test_positions_at_most_0_01_mm_apart_are_one_position():
    stack = arrange_slices([axial("a", 0.0), axial("b", 0.01), axial("c", 2.0), axial("d", 4.0)])
    assert paths(stack) == ["a", "c", "d"] and stack.duplicates == ["b"]
    stack = arrange_slices([axial("a", 0.0), axial("b", 0.05)])
    assert paths(stack) == ["a", "b"] and stack.duplicates == []
    assert stack.spacing[0] == pytest.approx(0.05, abs=1e-12)


# --- missing slices (gaps of whole steps) ---

def test_one_missing_slice_is_a_blank_slot_at_the_halfway_position():
    # steps 2.5, 2.5, 5, 2.5: the median step is 2.5 and 5 = 2 x 2.5, so one slice is missing at z = 7.5.
    stack = arrange_slices([axial(f"{z:g}", z) for z in (0.0, 2.5, 5.0, 10.0, 12.5)])
    assert paths(stack) == ["0", "2.5", "5", None, "10", "12.5"]
    assert stack.missing == [3]
    assert stack.positions_mm == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5]
    assert stack.origins == [(-100.0, -120.0, z) for z in (0.0, 2.5, 5.0, 7.5, 10.0, 12.5)]
    assert stack.spacing == (2.5, 0.5, 0.7)  # 12.5 mm over 5 steps
    assert stack.uneven is False
    assert stack.warnings == ["1 slice is missing (after slice 3 of 6, the step of 2.5 mm jumps to 5 mm); it is "
                              "shown as a blank (air) slice so distances stay true"]


def test_two_slices_missing_in_one_gap_are_spread_evenly_and_counted_in_the_plural():
    # 12.5 - 5 = 7.5 = 3 x 2.5: two blanks, at 5 + 7.5/3 = 7.5 and 5 + 2 x 7.5/3 = 10.
    stack = arrange_slices([axial(f"{z:g}", z) for z in (0.0, 2.5, 5.0, 12.5, 15.0)])
    assert paths(stack) == ["0", "2.5", "5", None, None, "12.5", "15"]
    assert stack.missing == [3, 4]
    assert stack.positions_mm == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0]
    assert [o[2] for o in stack.origins] == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5, 15.0]
    assert stack.spacing == (2.5, 0.5, 0.7)  # 15 mm over 6 steps
    assert stack.warnings == ["2 slices are missing (after slice 3 of 7, the step of 2.5 mm jumps to 7.5 mm); they "
                              "are shown as blank (air) slices so distances stay true"]


def test_blank_slices_sit_on_the_line_between_their_neighbours_in_3d():
    # slices moving along (1, 2, 2) / 3 (unit length), orientation with that normal:
    # row (2,-2,1)/3 and column (2,1,-2)/3; row x column = ((4-1), (2+4), (2+4))/9 = (1,2,2)/3.
    u = np.array([1.0, 2.0, 2.0]) / 3
    orient = (2 / 3, -2 / 3, 1 / 3, 2 / 3, 1 / 3, -2 / 3)
    hs = [header(f"{k}", tuple(np.array([10.0, 20.0, 30.0]) + 3.0 * k * u), orientation=orient) for k in (0, 1, 3, 4)]
    stack = arrange_slices(hs)
    assert stack.missing == [2]
    # slot 2 is halfway between the files at k = 1 and k = 3: (10, 20, 30) + 3 x 2 x (1,2,2)/3 = (12, 24, 34)
    assert stack.origins[2] == pytest.approx((12.0, 24.0, 34.0), abs=1e-9)
    # along the normal: (10, 20, 30) . (1,2,2)/3 = (10 + 40 + 60) / 3 = 110/3, then 3 mm a slot
    assert stack.positions_mm == pytest.approx([110 / 3 + 3.0 * k for k in range(5)], abs=1e-9)
    assert stack.spacing[0] == pytest.approx(3.0, abs=1e-9)
    assert stack.tilt_degrees == pytest.approx(0.0, abs=1e-6)


def test_a_gap_within_20_percent_of_whole_steps_is_filled_and_one_beyond_is_uneven():
    # steps 2, 2, 4.3, 2: 4.3 / 2 = 2.15 steps, 0.15 from 2: one blank, at 4 + 4.3 / 2 = 6.15.
    stack = arrange_slices([axial(f"{z:g}", z) for z in (0.0, 2.0, 4.0, 8.3, 10.3)])
    assert stack.missing == [3] and stack.uneven is False
    assert stack.positions_mm == pytest.approx([0.0, 2.0, 4.0, 6.15, 8.3, 10.3], abs=1e-12)
    assert stack.warnings == ["1 slice is missing (after slice 3 of 6, the step of 2 mm jumps to 4.3 mm); it is "
                              "shown as a blank (air) slice so distances stay true"]
    # steps 2, 2, 4.5, 2: 4.5 / 2 = 2.25 steps, 0.25 from 2: not a gap but an uneven step;
    # the average step is 10.5 / 4 = 2.625, shown with 3 digits as 2.62 (2.625 is exact in binary, ties to even).
    stack = arrange_slices([axial(f"{z:g}", z) for z in (0.0, 2.0, 4.0, 8.5, 10.5)])
    assert stack.missing == [] and stack.uneven is True and stack.num_slices == 5
    assert stack.warnings == [
        "uneven slice spacing: the steps between slices are 2 mm (3 times) and 4.5 mm (1 time); the series is loaded "
        "as one volume and every slice keeps its exact position (the 2.62 mm shown is the average step; split the "
        "series at the spacing changes to see each part evenly spaced)"]


def test_three_gaps_are_all_described():
    # kept z: 0 2 4 | 8 10 | 14 16 | 20 22; steps 2,2,4,2,4,2,4,2: median 2; blanks at 6, 12, 18.
    stack = arrange_slices([axial(f"{z}", float(z)) for z in (0, 2, 4, 8, 10, 14, 16, 20, 22)])
    assert stack.missing == [3, 6, 9]
    note = "the step of 2 mm jumps to 4 mm"
    assert stack.warnings == [
        f"3 slices are missing (after slice 3 of 12, {note}; after slice 6 of 12, {note}; after slice 9 of 12, {note}); "
        "they are shown as blank (air) slices so distances stay true"]


def test_past_three_gaps_the_rest_are_counted():
    # as above with a 4th gap (22 -> 26) and one more slice at 28: 11 files + 4 blanks = 15 slots.
    stack = arrange_slices([axial(f"{z}", float(z)) for z in (0, 2, 4, 8, 10, 14, 16, 20, 22, 26, 28)])
    assert stack.missing == [3, 6, 9, 12]
    assert stack.spacing[0] == 2.0  # 28 mm over 14 steps
    [warning] = stack.warnings
    note = "the step of 2 mm jumps to 4 mm"
    assert warning.startswith(
        f"4 slices are missing (after slice 3 of 15, {note}; after slice 6 of 15, {note}; after slice 9 of 15, {note}"
        " and 1 more gap); they are shown")  # one gap, singular
    assert warning.endswith("); they are shown as blank (air) slices so distances stay true")
    assert "after slice 12" not in warning


def test_gaps_are_filled_while_the_volume_stays_within_5000_slices():
    # steps 2, 2, 9992 = 4996 x 2: 4995 blanks, 4 files + 4995 = 4999 slots (files + whole steps of the gaps = 5000).
    stack = arrange_slices([axial(f"{z}", float(z)) for z in (0, 2, 4, 9996)])
    assert stack.num_slices == 4999
    assert stack.missing == list(range(3, 4998))
    assert stack.spacing[0] == 2.0 and stack.uneven is False  # 9996 mm over 4998 steps


def test_gaps_that_would_need_more_than_5000_slices_are_left_open():
    # 10 files, steps 1 x5, 2 x3, 4990 (median 1): filling would make 10 + 3 + 4989 = 5002 slots, over 5000,
    # so no gap is filled, the 2-steps included, and the steps are reported as uneven instead.
    zs = (0, 1, 2, 3, 4, 5, 7, 9, 11, 5001)
    stack = arrange_slices([axial(f"{z}", float(z)) for z in zs])
    assert stack.num_slices == 10 and stack.missing == []
    assert stack.positions_mm == [float(z) for z in zs]
    assert stack.uneven is True
    assert stack.spacing[0] == pytest.approx(5001 / 9)


# --- uneven steps ---

def test_a_series_whose_step_changes_is_one_uneven_volume_with_its_steps_counted():
    # 3 steps of 4.22 mm then 2 of 7.38 mm (7.38 / 4.22 = 1.75 steps: no whole number, so no gap).
    zs = (0.0, 4.22, 8.44, 12.66, 20.04, 27.42)
    stack = arrange_slices([axial(f"{z}", z) for z in zs])
    assert stack.num_slices == 6 and stack.missing == [] and stack.uneven is True
    assert stack.positions_mm == list(zs)  # every slice keeps its own position
    assert stack.spacing[0] == pytest.approx(27.42 / 5)  # 5.484, the average step
    assert stack.warnings == [
        "uneven slice spacing: the steps between slices are 4.22 mm (3 times) and 7.38 mm (2 times); the series is "
        "loaded as one volume and every slice keeps its exact position (the 5.48 mm shown is the average step; split "
        "the series at the spacing changes to see each part evenly spaced)"]


def test_a_step_off_by_less_than_the_gap_tolerance_is_still_uneven():
    # 2.3 / 2 = 1.15 steps: 0.15 from a whole step, but one step is no gap; 2.3 - 2 = 0.3 mm is uneven.
    stack = arrange_slices([axial(f"{z}", z) for z in (0.0, 2.0, 4.0, 6.3, 8.3)])
    assert stack.uneven is True and stack.missing == []
    assert "steps between slices are 2 mm (3 times) and 2.3 mm (1 time);" in stack.warnings[0]


def test_a_step_up_to_2_percent_longer_is_even():
    # steps 50, 50, 51, 50: 51 - 50 = 1 mm = 2 % of 50 (exact in binary), still even
    stack = arrange_slices([axial(f"{z}", z) for z in (0.0, 50.0, 100.0, 151.0, 201.0)])
    assert stack.uneven is False and stack.warnings == []
    assert stack.spacing[0] == 201.0 / 4
    # 51.5 - 50 = 1.5 mm, over 2 %: uneven
    stack = arrange_slices([axial(f"{z}", z) for z in (0.0, 50.0, 100.0, 151.5, 201.5)])
    assert stack.uneven is True


def test_thin_slices_may_differ_by_0_02_mm():
    # steps 0.5, 0.5, 0.515, 0.5: 0.015 mm off is within 0.02 mm (2 % of 0.5 would be only 0.01 mm)
    stack = arrange_slices([axial(f"{z}", z) for z in (0.0, 0.5, 1.0, 1.515, 2.015)])
    assert stack.uneven is False and stack.warnings == []
    # 0.03 mm off is uneven
    stack = arrange_slices([axial(f"{z}", z) for z in (0.0, 0.5, 1.0, 1.53, 2.03)])
    assert stack.uneven is True


# --- gantry tilt ---

def tilted(t_deg: float):
    """ImageOrientationPatient of a CT plane tilted by ``t_deg`` about x: normal (0, sin t, cos t)."""
    t = math.radians(t_deg)
    return (1.0, 0.0, 0.0, 0.0, math.cos(t), -math.sin(t))


def test_sheared_slices_are_gantry_tilt_measured_from_the_positions():
    # A GE head CT: the plane is tilted by 18.5 degrees but the table moves along z, 5 mm a slice.
    # The stacking direction (0,0,1) makes acos((0,0,1) . (0, sin t, cos t)) = t with the normal.
    t = math.radians(18.5)
    hs = [header(f"{k}", (-10.0, -20.0, 5.0 * k), orientation=tilted(18.5)) for k in range(4)]
    stack = arrange_slices(hs)
    assert stack.tilt_degrees == pytest.approx(18.5, abs=1e-9)
    assert stack.spacing[0] == pytest.approx(5.0, abs=1e-12)  # the distance between slice origins, 15 / 3
    np.testing.assert_allclose(stack.direction[:, 2], [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(stack.direction[:, 1], [0.0, math.cos(t), -math.sin(t)], atol=1e-12)
    # (-10, -20, 5k) . (0, sin t, cos t) = -20 sin t + 5k cos t
    assert stack.positions_mm == pytest.approx([-20 * math.sin(t) + 5.0 * k * math.cos(t) for k in range(4)], abs=1e-12)
    assert stack.origin == (-10.0, -20.0, 0.0)
    assert stack.warnings == [
        "the gantry was tilted by 18.5 degrees: the slices are sheared, not stacked straight; positions in mm are "
        "exact but reformatted (coronal/sagittal) views look slanted"]
    # with GantryDetectorTilt also in the header, the same single warning
    hs = [header(f"{k}", (-10.0, -20.0, 5.0 * k), orientation=tilted(18.5), tilt=18.5) for k in range(4)]
    assert arrange_slices(hs).warnings == stack.warnings


def test_tilt_in_the_header_with_slices_stacked_along_the_normal_is_reported_as_corrected():
    # 18 degrees, cosines with 6 digits: cos 18 = 0.951057, sin 18 = 0.309017; the slices move along the
    # normal (0, sin, cos), 2.5 mm a slice, so the slices are not sheared.
    c, s = 0.951057, 0.309017
    hs = [header(f"{k}", (0.0, 2.5 * k * s, 2.5 * k * c), orientation=(1.0, 0.0, 0.0, 0.0, c, -s), tilt=tilt)
          for k, tilt in zip(range(4), (18.0, 18.0, -18.0, 18.0))]
    stack = arrange_slices(hs)
    assert stack.tilt_degrees == 18.0
    assert stack.spacing[0] == pytest.approx(2.5, abs=1e-5)  # |(0, s, c)| = 1 to 6 digits
    assert stack.positions_mm == pytest.approx([0.0, 2.5, 5.0, 7.5], abs=1e-5)
    assert stack.warnings == ["the header records a gantry tilt of 18.0 degrees, but the slice positions are "
                              "stacked straight (the scanner has corrected it)"]


def test_a_negative_header_tilt_is_reported_by_its_size():
    hs = [axial(f"{z}", z, tilt=-20.0) for z in (0.0, 1.0, 2.0)]
    stack = arrange_slices(hs)
    assert stack.tilt_degrees == 20.0
    assert stack.warnings == ["the header records a gantry tilt of 20.0 degrees, but the slice positions are "
                              "stacked straight (the scanner has corrected it)"]


def test_a_header_tilt_of_half_a_degree_or_less_is_not_reported():
    stack = arrange_slices([axial(f"{z}", z, tilt=0.5) for z in (0.0, 1.0, 2.0)])
    assert stack.warnings == [] and stack.tilt_degrees == 0.5
    stack = arrange_slices([axial(f"{z}", z, tilt=0.6) for z in (0.0, 1.0, 2.0)])
    assert stack.warnings == ["the header records a gantry tilt of 0.6 degrees, but the slice positions are "
                              "stacked straight (the scanner has corrected it)"]


@pytest.mark.parametrize(("angle", "warned"), [(0.4, False), (0.6, True)])
def test_a_shear_of_half_a_degree_or_less_is_not_reported(angle, warned):
    # origins at (z tan a, 0, z): the stacking direction (tan a, 0, 1) / |..| is a degrees off the normal (0,0,1)
    a = math.radians(angle)
    stack = arrange_slices([header(f"{z}", (z * math.tan(a), 0.0, z)) for z in (0.0, 2.0, 4.0)])
    assert stack.tilt_degrees == pytest.approx(angle, abs=1e-9)
    expected = [f"the gantry was tilted by {angle} degrees: the slices are sheared, not stacked straight; positions "
                "in mm are exact but reformatted (coronal/sagittal) views look slanted"]
    assert stack.warnings == (expected if warned else [])


# --- one slice ---

@pytest.mark.parametrize(("between", "thickness", "step"), [(3.0, 5.0, 3.0), (None, 5.0, 5.0), (None, None, 1.0)])
def test_a_single_slice_takes_its_step_from_spacing_between_slices_then_thickness_then_1_mm(between, thickness, step):
    stack = arrange_slices([axial("a", 42.0, between=between, thickness=thickness)])
    assert stack.spacing == (step, 0.5, 0.7)


def test_a_single_slice_keeps_its_position_and_orientation():
    h = header("only", (5.0, 30.0, 40.0), orientation=CORONAL)
    stack = arrange_slices([h])
    assert stack.slots == [h] and stack.num_slices == 1
    assert stack.origin == (5.0, 30.0, 40.0)
    assert stack.origins == [(5.0, 30.0, 40.0)]
    assert stack.positions_mm == [30.0]  # (5, 30, 40) . (0, 1, 0)
    np.testing.assert_array_equal(stack.direction, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert (stack.uneven, stack.missing, stack.duplicates, stack.tilt_degrees, stack.warnings) == (
        False, [], [], 0.0, [])


def test_a_series_reduced_to_one_slice_by_copies_keeps_every_warning():
    hs = [axial("a", 7.0, pixel_spacing=None, tilt=20.0, thickness=3.0),
          axial("b", 7.0, pixel_spacing=None, tilt=20.0, thickness=3.0)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["a"] and stack.duplicates == ["b"]
    assert stack.spacing == (3.0, 1.0, 1.0)
    assert stack.tilt_degrees == 20.0
    assert stack.warnings == [
        PIXEL_SPACING_WARNING,
        "1 file repeats the position of another slice (two acquisitions or copies?); one slice per position was kept",
        "the gantry was tilted by 20.0 degrees (from the header)",
    ]


def test_a_single_slice_reports_header_tilt_over_half_a_degree_only():
    assert arrange_slices([axial("a", 0.0, tilt=0.5)]).warnings == []
    stack = arrange_slices([axial("a", 0.0, tilt=-0.6)])
    assert stack.tilt_degrees == 0.6
    assert stack.warnings == ["the gantry was tilted by 0.6 degrees (from the header)"]


# --- no positions: InstanceNumber order ---

def test_without_positions_slices_follow_instance_number_spaced_by_the_first_ones_thickness():
    hs = [header("a", None, orientation=None, instance=3, thickness=4.0),
          header("b", None, orientation=None, instance=1, thickness=2.5),
          header("c", None, orientation=None, instance=2, thickness=4.0)]
    stack = arrange_slices(hs)
    assert paths(stack) == ["b", "c", "a"]
    assert stack.spacing == (2.5, 0.5, 0.7)  # b, number 1, is 2.5 mm thick
    assert stack.positions_mm == [0.0, 2.5, 5.0]
    assert stack.origin == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(stack.direction, np.eye(3))
    assert stack.warnings == ["the files give no slice positions; slices are ordered by InstanceNumber and spaced "
                              "by SliceThickness (2.5 mm), which may be wrong"]


def test_without_positions_a_missing_instance_number_counts_as_0():
    hs = [header("a", None, instance=1), header("b", None), header("c", None, instance=2)]
    assert paths(arrange_slices(hs)) == ["b", "a", "c"]
    # equal numbers: by file name
    hs = [header("b", None, instance=0), header("a", None)]
    assert paths(arrange_slices(hs)) == ["a", "b"]


def test_without_positions_or_thickness_1_mm_is_assumed_and_said():
    stack = arrange_slices([header("a", None, instance=1), header("b", None, instance=2)])
    assert stack.spacing == (1.0, 0.5, 0.7)
    assert stack.positions_mm == [0.0, 1.0]
    assert stack.warnings == ["the files give no slice positions; slices are ordered by InstanceNumber and spaced "
                              "by an assumed 1 mm (1 mm), which may be wrong"]


def test_without_positions_spacing_between_slices_comes_before_thickness():
    stack = arrange_slices([header("a", None, instance=1, between=3.0, thickness=5.0),
                            header("b", None, instance=2, between=3.0, thickness=5.0)])
    assert stack.spacing == (3.0, 0.5, 0.7)
    assert stack.positions_mm == [0.0, 3.0]
    # the warning names the field the 3 mm came from (it named SliceThickness before issue 18's mutation run)
    assert stack.warnings == ["the files give no slice positions; slices are ordered by InstanceNumber and spaced by "
                              "SpacingBetweenSlices (3 mm), which may be wrong"]
    alone = arrange_slices([header("a", None, instance=1, between=3.0), header("b", None, instance=2, between=3.0)])
    assert alone.warnings[-1].endswith("spaced by SpacingBetweenSlices (3 mm), which may be wrong")


def test_a_single_slice_without_position_needs_no_ordering_warning():
    stack = arrange_slices([header("a", None, thickness=2.0)])
    assert stack.spacing == (2.0, 0.5, 0.7) and stack.positions_mm == [0.0]
    assert stack.warnings == []


def test_without_positions_the_orientation_and_the_first_position_are_still_used():
    # the first slice (number 1) has a position, the second none
    stack = arrange_slices([header("b", None, orientation=CORONAL, instance=2),
                            header("a", (1.0, 2.0, 3.0), orientation=CORONAL, instance=1)])
    assert paths(stack) == ["a", "b"]
    assert stack.origin == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(stack.direction, [[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    # the first slice has none: the origin is 0
    stack = arrange_slices([header("a", None, orientation=CORONAL, instance=1),
                            header("b", (1.0, 2.0, 3.0), orientation=CORONAL, instance=2)])
    assert stack.origin == (0.0, 0.0, 0.0)


def test_positions_without_orientation_fall_back_to_instance_number_order():
    # without ImageOrientationPatient there is no normal to sort along
    stack = arrange_slices([header("a", (0.0, 0.0, 0.0), orientation=None, instance=2),
                            header("b", (0.0, 0.0, 5.0), orientation=None, instance=1)])
    assert paths(stack) == ["b", "a"]
    assert stack.origin == (0.0, 0.0, 5.0)
    # the warning says what is missing: the orientation, not the positions
    assert stack.warnings == ["the files give slice positions but no orientation (ImageOrientationPatient) to sort "
                              "them along; slices are ordered by InstanceNumber and spaced by an assumed 1 mm (1 mm), "
                              "which may be wrong"]
    # one slice without a position among them: that is what is said
    stack = arrange_slices([header("a", (0.0, 0.0, 0.0), orientation=None, instance=2),
                            header("b", None, orientation=None, instance=1)])
    assert stack.warnings[0].startswith("the files give no slice positions; ")


def test_without_positions_or_pixel_spacing_both_are_warned_about():
    stack = arrange_slices([header("a", None, pixel_spacing=None, instance=1, thickness=2.0),
                            header("b", None, pixel_spacing=None, instance=2, thickness=2.0)])
    assert stack.spacing == (2.0, 1.0, 1.0)
    assert stack.warnings == [PIXEL_SPACING_WARNING,
                              "the files give no slice positions; slices are ordered by InstanceNumber and spaced by "
                              "SliceThickness (2 mm), which may be wrong"]


# --- spacing_summary ---

def test_spacing_summary_counts_repeats_of_one_step():
    assert spacing_summary([2.5, 2.5, 2.5]) == "2.5 mm (3 times)"
    assert spacing_summary([3.0]) == "3 mm (1 time)"


def test_spacing_summary_lists_steps_smallest_first_joined_by_and():
    assert spacing_summary([7.38, 4.22, 7.38]) == "4.22 mm (1 time) and 7.38 mm (2 times)"
    assert spacing_summary([3, 1, 2, 2]) == "1 mm (1 time), 2 mm (2 times) and 3 mm (1 time)"
    assert spacing_summary([4, 3, 2, 1]) == "1 mm (1 time), 2 mm (1 time), 3 mm (1 time) and 4 mm (1 time)"


def test_spacing_summary_names_three_steps_then_counts_the_others_up_to_the_largest():
    assert spacing_summary([9, 1, 4, 2, 3]) == "1 mm (1 time), 2 mm (1 time), 3 mm (1 time) and 2 other values up to 9 mm"


def test_spacing_summary_counts_a_step_by_its_size_whatever_its_sign():
    assert spacing_summary([-2.0, 2.0]) == "2 mm (2 times)"


def test_spacing_summary_steps_within_2_percent_or_0_02_mm_of_a_groups_smallest_are_one_step():
    # 51 - 50 = 1 = 2 % of 50: one step, shown as the median 50.5
    assert spacing_summary([51.0, 50.0]) == "50.5 mm (2 times)"
    # 52 - 50 = 2 > 1: measured from the group's smallest step (50), not from 51
    assert spacing_summary([50.0, 51.0, 52.0]) == "50.5 mm (2 times) and 52 mm (1 time)"
    # thin steps: 0.515 - 0.5 = 0.015 <= 0.02 mm (2 % of 0.5 is only 0.01)
    assert spacing_summary([0.5, 0.515, 0.5]) == "0.5 mm (3 times)"
