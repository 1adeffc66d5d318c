"""The LIDC readers' marks grouped into lesions: grouping, diameters, slice matching, boxes; and the real case."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.evaluation.lidc_lesions import (
    LidcLesion,
    lidc_lesions,
    select_lesions,
    slice_z_positions,
    volume_sop_uids,
)
from lesionviewer.io import Volume, load_volume
from lesionviewer.io.lidc_xml import LidcNoduleMark, LidcRead, LidcRoi, read_lidc_xml

# 5 slices at z -10, -8, ... -2 mm; 0.5 mm pixels
VOLUME = Volume(np.zeros((5, 64, 64), np.int16), (2.0, 0.5, 0.5), origin=(0, 0, -10))


def square(x1, y1, x2, y2):
    return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))


def mark(reader, name, *rois):
    return LidcNoduleMark(reader, f"r{reader}", name, tuple(rois))


def read(*marks, readers=4):
    return LidcRead("test.xml", "", "", readers, tuple(marks))


def test_two_readers_outlines_give_one_lesion_with_mean_boxes_per_slice():
    a = mark(0, "a", LidcRoi(-8.0, "", True, square(10, 10, 19, 19)), LidcRoi(-6.0, "", True, square(12, 12, 17, 17)))
    b = mark(1, "b", LidcRoi(-6.0, "", True, square(14, 14, 21, 21)), LidcRoi(-4.0, "", True, square(15, 15, 16, 16)))
    [lesion] = lidc_lesions(read(a, b), VOLUME)
    assert lesion.readers == (0, 1) and lesion.num_readers == 2 and lesion.nodule_ids == ("a", "b")
    assert lesion.slice_indices == [1, 2, 3]
    by_slice = {s.slice_index: s for s in lesion.slices}
    assert by_slice[1].box_px == (10.0, 10.0, 20.0, 20.0) and by_slice[1].num_readers == 1
    assert by_slice[2].box_px == (13.0, 13.0, 20.0, 20.0) and by_slice[2].num_readers == 2  # mean of 12..18 and 14..22
    assert lesion.key_slice_index == 2
    assert lesion.diameter_mm == pytest.approx(np.hypot(9, 9) * 0.5)  # reader a's square on slice 1
    union = lidc_lesions(read(a, b), VOLUME, box_rule="union")[0]
    assert {s.slice_index: s.box_px for s in union.slices}[2] == (12.0, 12.0, 22.0, 22.0)


def test_centre_point_inside_an_outline_joins_it_and_adds_no_box():
    outline = mark(0, "big", LidcRoi(-6.0, "", True, square(10, 10, 40, 40)))
    point = mark(1, "dot", LidcRoi(-6.0, "", True, ((25, 25),)))  # 7.5 mm from the outline: joined by overlap
    [lesion] = lidc_lesions(read(outline, point), VOLUME)
    assert lesion.num_readers == 2 and lesion.slices[0].box_px == (10.0, 10.0, 41.0, 41.0)
    assert lesion.slices[0].num_readers == 1


def test_points_join_within_link_mm_and_stay_apart_beyond():
    near = [mark(0, "p0", LidcRoi(-6.0, "", True, ((20, 20),))), mark(1, "p1", LidcRoi(-4.0, "", True, ((22, 20),)))]
    far = mark(2, "p2", LidcRoi(-6.0, "", True, ((40, 20),)))  # 10 mm away
    lesions = lidc_lesions(read(*near, far), VOLUME)
    assert sorted(l.num_readers for l in lesions) == [1, 2]
    joined = next(l for l in lesions if l.num_readers == 2)
    assert joined.diameter_mm == 0.0 and joined.slice_indices == [2, 3]
    # < 3 mm nodules: a 3 mm square (6 pixels) around the readers' centre on each slice
    assert joined.slices[0].box_px == (17.5, 17.5, 23.5, 23.5)
    assert len(lidc_lesions(read(*near, far), VOLUME, link_mm=1.0)) == 3
    assert select_lesions(lesions) == [] and select_lesions(lesions, 2, 0.0) == [joined]


def test_exclusions_are_left_out_and_unmatched_rois_counted():
    m = mark(0, "n", LidcRoi(-6.0, "", True, square(10, 10, 20, 20)), LidcRoi(-6.0, "", False, square(0, 0, 60, 60)),
             LidcRoi(-100.0, "", True, square(10, 10, 20, 20)))
    [lesion] = lidc_lesions(read(m), VOLUME)
    assert lesion.slices[0].box_px == (10.0, 10.0, 21.0, 21.0) and lesion.unmatched_rois == 1
    assert lesion.diameter_mm == pytest.approx(np.hypot(10, 10) * 0.5)


def test_sop_uid_matching_wins_over_z():
    m = mark(0, "n", LidcRoi(-100.0, "uid-3", True, square(10, 10, 20, 20)))
    [lesion] = lidc_lesions(read(m), VOLUME, sop_uids=[f"uid-{i}" for i in range(5)])
    assert lesion.slice_indices == [3] and lesion.unmatched_rois == 0


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="box_rule"):
        lidc_lesions(read(), VOLUME, box_rule="median")
    with pytest.raises(ValueError, match="link_mm"):
        lidc_lesions(read(), VOLUME, link_mm=-1)


def test_slice_z_positions_prefer_the_loader_positions():
    v = Volume(np.zeros((2, 2, 2), np.int16), (1.25, 1, 1), meta={"image_positions": [[0, 0, 5.0], [0, 0, 6.5]]})
    assert slice_z_positions(v).tolist() == [5.0, 6.5]
    assert volume_sop_uids(v) is None


@pytest.fixture(scope="module")
def real_case(shared_data):
    folder = shared_data / "lidc_idri_0002"
    volume = load_volume(folder)
    return volume, read_lidc_xml(folder / "071.xml")


def test_real_case_lesions_readers_and_boxes(real_case):
    volume, lidc = real_case
    lesions = lidc_lesions(lidc, volume)
    assert len(lesions) == 12 and all(isinstance(l, LidcLesion) for l in lesions)
    assert sorted(l.num_readers for l in lesions) == [1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4]
    assert all(l.unmatched_rois == 0 for l in lesions)
    [nodule] = select_lesions(lesions)  # the one nodule >= 3 mm that two readers outlined
    assert nodule.readers == (2, 3) and nodule.nodule_ids == ("MI014_11691", "8")
    assert 25.0 < nodule.diameter_mm < 35.0
    # z -87.0 .. -120.75 mm at 1.25 mm from -334.5: slices 171 .. 198
    assert nodule.slice_indices == list(range(171, 199))
    # on z -87.0 (slice 198) reader 3 outlined x 333-345, y 356-363 and reader 4 x 332-349, y 355-362
    top = {s.slice_index: s for s in nodule.slices}[198]
    assert top.num_readers == 2 and top.box_px == (332.5, 355.5, 348.0, 363.5)
    # the boxes hold the nodule (largely ground glass, median about -740 HU) and not the lung above it (-900 HU)
    inside, above = [], []
    for s in nodule.slices:
        x1, y1, x2, y2 = (int(round(v)) for v in s.box_px)
        inside.append(volume.hu[s.slice_index, y1:y2, x1:x2].ravel())
        above.append(volume.hu[s.slice_index, 2 * y1 - y2 - 5:y1 - 5, x1:x2].ravel())
    assert np.median(np.concatenate(inside)) > np.median(np.concatenate(above)) + 100
    assert lidc_lesions(lidc, volume, sop_uids=volume_sop_uids(volume)) == lesions
