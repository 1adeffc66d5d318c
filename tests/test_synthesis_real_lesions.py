"""Real lesions in a training host (a lesion mask, LIDC nodules): their own samples, marked wherever a
synthetic sample crosses them, and never under a synthetic lesion."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import SimpleITK as sitk

from lesionviewer.io import Volume
from lesionviewer.synthesis import TissueMaps
from lesionviewer.synthesis.cli import load_hosts, parse_host_spec
from lesionviewer.synthesis.real_lesions import boxes_by_slice, keep_away_mask, lesions_from_mask
from lesionviewer.synthesis.training_data import Host, write_synthetic_training_data


def chest_with_a_tumour() -> tuple[Volume, np.ndarray]:
    """A noisy soft-tissue body (40 HU) over 8 slices; a 'tumour' mask on slices 2-5, largest on slice 4."""
    rng = np.random.default_rng(0)
    hu = np.full((8, 120, 120), -1000.0)
    yy, xx = np.mgrid[:120, :120]
    hu[:, (yy - 60) ** 2 + (xx - 60) ** 2 <= 55 ** 2] = 40
    hu += rng.normal(0, 10, hu.shape) * (hu > -500)
    mask = np.zeros(hu.shape, np.uint8)
    for z, radius in ((2, 4), (3, 7), (4, 10), (5, 6)):
        mask[z, (yy - 50) ** 2 + (xx - 70) ** 2 <= radius ** 2] = 1
    hu[mask > 0] = 90
    return Volume(np.rint(hu).astype(np.int16), (2.0, 0.8, 0.8)), mask


def test_a_mask_gives_one_lesion_per_connected_part_keyed_on_its_largest_slice():
    _, mask = chest_with_a_tumour()
    mask[7, 5:7, 5:7] = 1  # 1.6 mm: too small to be marked anywhere
    [lesion] = lesions_from_mask(mask, (2.0, 0.8, 0.8), type_code=5)
    assert lesion.key_slice == 4 and lesion.type_code == 5
    # the 4-px-radius slice is 9 px = 7.2 mm long: marked; every box is the cross-section grown by 5 px
    assert sorted(lesion.boxes) == [2, 3, 4, 5]
    assert lesion.boxes[4] == (70 - 10 - 5, 50 - 10 - 5, 70 + 10 + 5, 50 + 10 + 5)
    with pytest.raises(ValueError, match="types are 1-8"):
        lesions_from_mask(mask, (2.0, 0.8, 0.8), type_code=9)


def test_keep_away_grows_the_boxes_in_plane_only_and_blocks_placement():
    volume, mask = chest_with_a_tumour()
    boxes = boxes_by_slice(lesions_from_mask(mask, volume.spacing, 5))
    away = keep_away_mask(boxes, volume.shape, volume.spacing, margin_mm=8.0)  # 10 px
    assert away[4, 50, 70] and away[4, 50, 70 + 15 + 10] and not away[4, 50, 70 + 15 + 12]
    assert not away[0].any() and not away[6].any()
    free, kept = TissueMaps(volume), TissueMaps(volume, keep_away=away)
    assert free.placement(4, 2)[50, 70] and not kept.placement(4, 2)[50, 70]
    assert kept.placement(0, 2)[50, 70]
    with pytest.raises(ValueError, match="does not match"):
        TissueMaps(volume, keep_away=away[:4])


def test_real_lesions_get_their_own_sample_and_are_marked_on_synthetic_samples_crossing_them(tmp_path):
    volume, mask = chest_with_a_tumour()
    lesions = lesions_from_mask(mask, volume.spacing, 5)
    host = Host("chest", volume, None, 1.0, lesions)
    summary = write_synthetic_training_data([host], tmp_path, samples=12, seed=3, val_fraction=0.0)
    rows = list(csv.DictReader(open(tmp_path / "DL_info.csv", newline="")))
    assert summary["real_lesion_samples"] == 1
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(row["File_name"], []).append(row)
    tumour_box = {z: tuple(v + 1.0 for v in box) for z, box in lesions[0].boxes.items()}  # the table counts from 1
    crossing = 0
    for name, file_rows in by_file.items():
        z = int(file_rows[0]["Key_slice_index"]) - 1
        marked = [tuple(float(v) for v in r["Bounding_boxes"].split(",")) for r in file_rows]
        if z in tumour_box:
            crossing += 1
            assert tumour_box[z] in marked, name  # the real tumour is never background
        else:
            assert all(abs(b[0] - tumour_box[4][0]) > 1 or abs(b[1] - tumour_box[4][1]) > 1 for b in marked)
    assert crossing >= 2  # the real sample plus synthetic ones on the tumour's slices
    # no synthetic lesion centred on the tumour: every row on its slices other than the tumour lies away from it
    for file_rows in by_file.values():
        z = int(file_rows[0]["Key_slice_index"]) - 1
        for r in file_rows:
            x1, y1, x2, y2 = (float(v) - 1 for v in r["Bounding_boxes"].split(","))
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            if z in lesions[0].boxes and (x1, y1, x2, y2) != lesions[0].boxes[z]:
                assert not (55 <= cx <= 85 and 35 <= cy <= 65)


def test_a_host_spec_with_a_lesion_mask_loads_it_by_physical_position(tmp_path):
    volume, mask = chest_with_a_tumour()
    image = sitk.GetImageFromArray(volume.hu)
    image.SetSpacing((0.8, 0.8, 2.0))
    sitk.WriteImage(image, str(tmp_path / "chest.nii.gz"))
    label = sitk.GetImageFromArray(mask[:, ::-1].copy())  # stored upside down, said so by its direction
    label.SetSpacing((0.8, 0.8, 2.0))
    label.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    label.SetOrigin((0, 119 * 0.8, 0))
    sitk.WriteImage(label, str(tmp_path / "tumour.nrrd"))
    [host] = load_hosts([f"path={tmp_path / 'chest.nii.gz'},lesions={tmp_path / 'tumour.nrrd'},lesion_type=5"])
    assert [lesion.key_sample for lesion in host.real_lesions] == [(4, (55.0, 35.0, 85.0, 65.0), 5)]
    assert sorted(host.real_boxes) == [2, 3, 4, 5]
    with pytest.raises(ValueError, match="lesion_type=1..8"):
        parse_host_spec(f"path={tmp_path / 'chest.nii.gz'},lesions={tmp_path / 'tumour.nrrd'},lesion_type=0")
    with pytest.raises(ValueError, match="is not a number"):
        parse_host_spec("path=/a,lesions=/m,lesion_type=lung")


def _write_chest_series_and_seg(folder, segment_masks):
    """The tumour chest as a DICOM series and a DICOM SEG over it (highdicom), one segment per mask."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from lesionviewer.io.dicom_write import write_dicom_series

    volume, _ = chest_with_a_tumour()
    files = write_dicom_series(volume, folder / "ct")
    sources = [pydicom.dcmread(f) for f in files]
    for ds in sources:  # the attributes a SEG copies from its source images
        ds.PatientBirthDate, ds.PatientSex, ds.AccessionNumber = "", "", ""
        ds.StudyID, ds.StudyDate, ds.StudyTime, ds.ReferringPhysicianName = "1", "20260101", "000000", ""
    descriptions = [hd.seg.SegmentDescription(
        segment_number=n + 1, segment_label=f"reader {n + 1}",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n in range(len(segment_masks))]
    stacked = np.stack(segment_masks, axis=-1).astype(bool)
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=stacked, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1")
    seg.save_as(folder / "seg.dcm")
    return folder / "ct", folder / "seg.dcm"


def test_a_dicom_seg_gives_the_real_lesions_of_its_chosen_segment(tmp_path):
    _, mask = chest_with_a_tumour()
    wider = mask.copy()
    wider[4, 30:70, 60:100] = 1  # a second reader's larger outline of the same tumour on its key slice
    ct, seg = _write_chest_series_and_seg(tmp_path, [mask, wider])
    [first] = load_hosts([f"path={ct},lesions={seg},lesion_type=5,segment=1"])
    assert [lesion.key_sample for lesion in first.real_lesions] == [(4, (55.0, 35.0, 85.0, 65.0), 5)]
    assert sorted(first.real_boxes) == [2, 3, 4, 5]
    [union] = load_hosts([f"path={ct},lesions={seg},lesion_type=5"])  # both segments: the larger box
    # the union spans columns 60-99 and rows 30-69 on slice 4: pixel centres, padded 5 px as DeepLesion's
    assert [lesion.key_sample for lesion in union.real_lesions] == [(4, (55.0, 25.0, 104.0, 74.0), 5)]


def test_a_dicom_seg_names_the_file_when_a_segment_is_missing_and_segments_need_a_seg(tmp_path):
    from lesionviewer.io.errors import LoadError

    _, mask = chest_with_a_tumour()
    ct, seg = _write_chest_series_and_seg(tmp_path, [mask])
    with pytest.raises(LoadError, match=r"seg\.dcm: has no segment 2; its segments are 1"):
        load_hosts([f"path={ct},lesions={seg},lesion_type=5,segment=2"])
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "tumour.nrrd"))
    with pytest.raises(ValueError, match="segments can be chosen only in a DICOM SEG"):
        load_hosts([f"path={ct},lesions={tmp_path / 'tumour.nrrd'},lesion_type=5,segment=1"])
    with pytest.raises(ValueError, match="segment= chooses a segment"):
        parse_host_spec(f"path={ct},segment=1")
    with pytest.raises(ValueError, match=r"seg\.dcm: organ labels must be a label map"):  # not organ classes
        load_hosts([f"path={ct},labels={seg}"])
