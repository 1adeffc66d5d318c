"""Lesion synthesis into real CT: containment, contrast statistics, exact ground truth, determinism."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesionviewer.io import Volume
from lesionviewer.phantom.lesions import MEDIAN_DIAMETER_MM
from lesionviewer.synthesis import TissueMaps, insert_lesions, labels_on_volume_grid, sample_long_axis_mm
from lesionviewer.synthesis.appearance import sample_appearance
from lesionviewer.synthesis.cli import parse_host_spec
from lesionviewer.synthesis.shape import LocalGrid, ellipsoid_fraction
from lesionviewer.synthesis.training_data import Host, write_synthetic_training_data
from lesionviewer.training.key_slices import read_key_slices

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def abdomen_host(seed: int = 0) -> tuple[Volume, np.ndarray]:
    """A noisy body (40 HU) with a 'liver' (label 5, 100 HU) and a bright 'vessel' inside it."""
    rng = np.random.default_rng(seed)
    hu = np.full((12, 160, 160), -1000.0)
    yy, xx = np.mgrid[:160, :160]
    body = (yy - 80) ** 2 / 70 ** 2 + (xx - 80) ** 2 / 75 ** 2 <= 1
    liver = (yy - 75) ** 2 / 35 ** 2 + (xx - 60) ** 2 / 40 ** 2 <= 1
    hu[:, body] = 40
    hu[:, liver] = 100
    hu += rng.normal(0, 12, hu.shape) * (hu > -500)
    labels = np.zeros(hu.shape, np.int32)
    labels[:, liver] = 5
    return Volume(np.rint(hu).astype(np.int16), (2.0, 0.8, 0.8)), labels


def test_liver_lesions_stay_inside_the_liver_and_are_darker_or_brighter_than_it():
    host, labels = abdomen_host()
    maps = TissueMaps(host, labels)
    inside = total = 0
    for seed in range(8):
        result = insert_lesions(host, maps, np.random.default_rng(seed), count=1, types=[4], key_slice=6)
        for lesion in result.lesions:
            z0, y0, x0, z1, y1, x1 = lesion.mask_box
            organ = labels[z0:z1, y0:y1, x0:x1] == 5
            inside += int((lesion.mask & organ).sum())
            total += int(lesion.mask.sum())
            # the lesion's mean differs from the liver (100 HU) as its subtype says
            core = result.volume().hu[z0:z1, y0:y1, x0:x1][lesion.mask].mean()
            if lesion.subtype == "hyperdense":
                assert core > 105
            else:
                assert core < 90
    assert total > 0
    assert inside / total > 0.9


def test_ground_truth_is_exact_changes_only_inside_the_local_box_and_boxes_pad_recist_by_5px():
    host, labels = abdomen_host(1)
    result = insert_lesions(host, TissueMaps(host, labels), np.random.default_rng(4), count=1, types=[4], key_slice=6)
    [lesion] = result.lesions
    new = result.volume().hu.astype(int)
    changed = new != host.hu
    z0, y0, x0, z1, y1, x1 = lesion.mask_box
    outside = changed.copy()
    outside[z0:z1, y0:y1, x0:x1] = False
    assert not outside.any(), "voxels outside the lesion's box changed"
    # the mask covers the changed core, and the key slice has the longest RECIST axis
    assert changed[z0:z1, y0:y1, x0:x1][lesion.mask].mean() > 0.8
    key = lesion.key_slice
    assert lesion.slices[key].long_px == max(m.long_px for m in lesion.slices.values())
    ys, xs = np.nonzero(result.mask()[key] == 1)
    bx1, by1, bx2, by2 = lesion.box(key)
    m = lesion.slices[key]
    ends = np.array([*m.long_axis, *m.short_axis])
    # DeepLesion's box: the four RECIST end points grown by 5 pixels
    assert (bx1, by1, bx2, by2) == pytest.approx((*(ends.min(0) - 5), *(ends.max(0) + 5)))
    assert bx1 < xs.mean() < bx2 and by1 < ys.mean() < by2
    # the long axis spans the mask at least as far as its widest row or column (end points pushed 1/2 px out)
    assert m.long_px >= max(np.ptp(xs), np.ptp(ys))


def test_same_seed_same_lesions_other_seed_other_lesions():
    host, labels = abdomen_host(2)
    maps = TissueMaps(host, labels)
    a = insert_lesions(host, maps, np.random.default_rng(7), count=2, key_slice=6)
    b = insert_lesions(host, maps, np.random.default_rng(7), count=2, key_slice=6)
    c = insert_lesions(host, maps, np.random.default_rng(8), count=2, key_slice=6)
    assert np.array_equal(a.hu, b.hu)
    assert [les.box(6) for les in a.lesions] == [les.box(6) for les in b.lesions]
    assert not np.array_equal(a.hu, c.hu)


def test_contrast_follows_the_published_ranges_not_a_visibility_factor():
    rng = np.random.default_rng(0)
    liver = [sample_appearance(rng, 4, 110.0) for _ in range(2000)]
    metastases = [a.mean_hu - 110.0 for a in liver if a.subtype == "metastasis"]
    cysts = [a.mean_hu for a in liver if a.subtype == "cyst"]
    hyper = [a for a in liver if a.subtype == "hyperdense"]
    assert -90.0 <= min(metastases) and max(metastases) <= -20.0
    assert 0.0 <= min(cysts) and max(cysts) <= 25.0
    assert 0.2 < len(hyper) / len(liver) < 0.3
    lung = [sample_appearance(rng, 5, -850.0) for _ in range(1000)]
    solid = [a.mean_hu for a in lung if a.subtype == "solid"]
    ggo = [a.mean_hu for a in lung if a.subtype == "ground_glass"]
    assert -100 <= min(solid) and max(solid) <= 60
    assert -750 <= min(ggo) and max(ggo) <= -450


def test_sizes_follow_deeplesion_quantiles_per_type():
    rng = np.random.default_rng(1)
    for type_code in (4, 5):
        sizes = np.array([sample_long_axis_mm(rng, type_code) for _ in range(4000)])
        expected = MEDIAN_DIAMETER_MM[type_code]
        assert abs(np.median(sizes) - expected) / expected < 0.1
    overall = np.array([sample_long_axis_mm(rng, 2) for _ in range(4000)]) * 19.0 / MEDIAN_DIAMETER_MM[2]
    # the spread of the real table: 25th/75th percentiles 12.3 and 30.7 mm
    assert np.percentile(overall, 25) == pytest.approx(12.3, rel=0.1)
    assert np.percentile(overall, 75) == pytest.approx(30.7, rel=0.1)


def test_thick_slices_blend_the_edge_partially():
    grid = LocalGrid(np.array([-6.0, 0.0, 6.0]), np.arange(-8.0, 9.0), np.arange(-8.0, 9.0), thickness_mm=5.0)
    occ = ellipsoid_fraction(grid, (7.0, 6.0, 6.0), np.eye(3), 0.0, np.random.default_rng(0))
    assert occ[1, 8, 8] == 1.0
    assert 0.0 < occ[0, 8, 8] < 1.0  # the slice through the pole is partly inside
    assert occ[1, 0, 0] == 0.0


def test_lung_lesions_go_into_aerated_lung_not_bowel_gas():
    hu = np.full((4, 160, 160), -1000, np.int16)
    yy, xx = np.mgrid[:160, :160]
    body = (yy - 80) ** 2 + (xx - 80) ** 2 <= 75 ** 2
    hu[:, body] = 40
    lung = ((yy - 80) ** 2 / 40 ** 2 + (xx - 50) ** 2 / 22 ** 2) <= 1
    gas = (yy - 120) ** 2 + (xx - 110) ** 2 <= 6 ** 2
    hu[:, lung] = -850
    hu[:, gas] = -950
    maps = TissueMaps(Volume(hu, (2.0, 0.8, 0.8)))
    place = maps.placement(2, 5)
    assert place[80, 50] and not place[gas].any()


def test_training_data_rows_match_the_pngs_and_read_as_key_slices(tmp_path):
    host, labels = abdomen_host(3)
    summary = write_synthetic_training_data([Host("abd", host, labels)], tmp_path, samples=4, seed=5,
                                            val_fraction=0.0)
    slices = read_key_slices(tmp_path / "DL_info.csv")
    assert summary["samples"] == 4 and len(slices) == 4
    assert sum(k.num_lesions for k in slices) == summary["lesions"]
    for ks in slices:
        png = tmp_path / "Images_png" / ks.series / f"{ks.key_slice:03d}.png"
        hu = np.asarray(Image.open(png)).astype(np.int32) - 32768
        assert hu.shape == (160, 160)
        assert ks.pixel_spacing_mm == (0.8, 0.8) and ks.slice_interval_mm == 2.0
        for x1, y1, x2, y2 in ks.boxes:
            assert 0 <= x1 < x2 <= 159 and 0 <= y1 < y2 <= 159
            # the lesion differs from the host inside its box
            assert np.abs(hu[int(y1):int(y2), int(x1):int(x2)] - host.hu[ks.key_slice - 1, int(y1):int(y2),
                                                                           int(x1):int(x2)]).max() > 0
    rows = list(csv.DictReader(open(tmp_path / "DL_info.csv", newline="")))
    assert {r["Train_Val_Test"] for r in rows} == {"1"}


def test_merge_keeps_the_other_sets_rows_and_splits(tmp_path):
    host, labels = abdomen_host(4)
    write_synthetic_training_data([Host("abd", host, labels)], tmp_path / "a", samples=2, seed=1, val_fraction=1.0)
    summary = write_synthetic_training_data([], tmp_path / "mix", samples=0, merge=[tmp_path / "a"])
    rows = list(csv.DictReader(open(tmp_path / "mix" / "DL_info.csv", newline="")))
    assert summary["merged_rows"] == len(rows) > 0 and {r["Train_Val_Test"] for r in rows} == {"2"}
    first = rows[0]["File_name"].rsplit("_", 1)[0]
    assert (tmp_path / "mix" / "Images_png" / first).is_dir()


def test_host_spec_parsing():
    assert parse_host_spec("path=/a,labels=/b,weight=2") == {"path": "/a", "labels": "/b", "weight": 2.0,
                                                             "lidc": None, "lesions": None, "lesion_type": None,
                                                             "segment": None}
    with pytest.raises(ValueError, match="weight must be positive"):
        parse_host_spec("path=/a,weight=0")
    with pytest.raises(ValueError, match="expected PATH"):
        parse_host_spec("path=/a,colour=red")


@pytest.mark.skipif(not (SHARED / "ct_abdomen_totalseg_organs").is_dir(), reason="../shared/data is absent")
def test_real_organ_labels_land_on_the_real_organs():
    from lesionviewer.io import load_volume

    volume = load_volume(SHARED / "ct_abdomen_totalseg")
    labels = labels_on_volume_grid(SHARED / "ct_abdomen_totalseg_organs" / "organs.nii.gz", volume)
    # contrast CT: enhanced liver and spleen, bright aorta, ribs are bone (the file's y axis is flipped)
    assert 60 < np.median(volume.hu[labels == 5]) < 130
    assert 60 < np.median(volume.hu[labels == 1]) < 150
    assert np.median(volume.hu[labels == 52]) > 120
    assert np.median(volume.hu[(labels >= 97) & (labels <= 115)]) > 150
    maps = TissueMaps(volume, labels)
    result = insert_lesions(volume, maps, np.random.default_rng(0), count=1, types=[4], key_slice=10,
                            z_range=(6, 15))
    [lesion] = result.lesions
    z0, y0, x0, z1, y1, x1 = lesion.mask_box
    assert (labels[z0:z1, y0:y1, x0:x1][lesion.mask] == 5).mean() > 0.8


def test_synthesize_command_takes_every_ct_in_a_folder_with_labels_beside_it(tmp_path):
    import SimpleITK as sitk

    from lesionviewer.io.dicom_write import write_dicom_series
    from lesionviewer.training.cli import main

    host, labels = abdomen_host(5)
    folder = tmp_path / "cts"
    write_dicom_series(host, folder / "dicom_abdomen")
    image = sitk.GetImageFromArray(host.hu)
    image.SetSpacing((0.8, 0.8, 2.0))
    sitk.WriteImage(image, str(folder / "abdomen.nii.gz"))
    label_image = sitk.GetImageFromArray(labels.astype(np.uint8))
    label_image.CopyInformation(image)
    sitk.WriteImage(label_image, str(folder / "abdomen_labels.nii.gz"))
    assert main(["synthesize", "--host-folder", str(folder), "--out", str(tmp_path / "out"), "--samples", "6",
                 "--val-fraction", "0"]) == 0
    slices = read_key_slices(tmp_path / "out" / "DL_info.csv")
    assert len(slices) == 6
    # liver lesions can only come from the NIfTI host, the one with labels beside it
    types = {t for ks in slices for t in ks.lesion_types}
    assert types <= {1, 2, 4, 7, 8}


def test_type_first_mix_follows_deeplesion_where_the_host_slices_would_not(tmp_path):
    host, labels = abdomen_host(6)
    labels[1:] = 0  # the liver label on the first of twelve slices only
    shares = {}
    for mix in ("slice", "deeplesion"):
        write_synthetic_training_data([Host("abd", host, labels)], tmp_path / mix, samples=60, seed=3,
                                      val_fraction=0.0, type_mix=mix)
        rows = list(csv.DictReader(open(tmp_path / mix / "DL_info.csv", newline="")))
        liver = [r for r in rows if r["Coarse_lesion_type"] == "4"]
        assert all(r["Key_slice_index"] == "1" for r in liver)  # 1-based in the table
        first: dict[str, str] = {}
        for r in rows:  # a sample's first row is its first lesion, the one drawn type first
            first.setdefault(r["File_name"], r["Coarse_lesion_type"])
        shares[mix] = sum(t == "4" for t in first.values()) / len(first)
    # DeepLesion: liver is 700 of the 2,621 lesions of the types this host holds, 0.27 of first lesions type first;
    # drawn by slice, only one key slice in twelve offers it
    assert shares["deeplesion"] >= 0.2 and shares["deeplesion"] >= 2 * shares["slice"]


def test_unknown_type_mix_is_refused(tmp_path):
    host, labels = abdomen_host(1)
    with pytest.raises(ValueError, match="type_mix 'organ'"):
        write_synthetic_training_data([Host("abd", host, labels)], tmp_path, samples=1, type_mix="organ")


def test_merge_splits_keeps_only_the_asked_splits_rows_and_series(tmp_path):
    host, labels = abdomen_host(5)
    write_synthetic_training_data([Host("abd", host, labels)], tmp_path / "a", samples=6, seed=3, val_fraction=0.5)
    source = list(csv.DictReader(open(tmp_path / "a" / "DL_info.csv", newline="")))
    assert {r["Train_Val_Test"] for r in source} == {"1", "2"}
    summary = write_synthetic_training_data([], tmp_path / "held", samples=0, merge=[tmp_path / "a"], merge_splits=[2, 3])
    rows = list(csv.DictReader(open(tmp_path / "held" / "DL_info.csv", newline="")))
    assert summary["merged_rows"] == len(rows) == sum(r["Train_Val_Test"] == "2" for r in source)
    series = {r["File_name"].rsplit("_", 1)[0] for r in rows}
    assert {p.name for p in (tmp_path / "held" / "Images_png").iterdir()} == series


def test_synthesize_command_passes_type_mix_and_merge_splits_through(tmp_path, capsys):
    from lesionviewer.training.cli import main

    host, labels = abdomen_host(7)
    write_synthetic_training_data([Host("abd", host, labels)], tmp_path / "a", samples=6, seed=3, val_fraction=0.5)
    assert main(["synthesize", "--out", str(tmp_path / "held"), "--samples", "0", "--merge", str(tmp_path / "a"),
                 "--merge-splits", "val"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "held" / "DL_info.csv", newline="")))
    assert rows and {r["Train_Val_Test"] for r in rows} == {"2"}
    for bad in (["--type-mix", "organ"], ["--merge-splits", "dev"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["synthesize", "--out", str(tmp_path / "x"), "--samples", "0", *bad])
        assert exit_info.value.code == 2
    assert "invalid choice: 'organ'" in capsys.readouterr().err


def test_the_default_type_mix_writes_what_a_seed_wrote_before_type_mix_existed(tmp_path):
    # key slices and types of seed 9, written by the code before --type-mix (commit d460f60); the draws' order
    # is part of what a seed means, so data sets of earlier runs can be written again
    host, labels = abdomen_host(3)
    write_synthetic_training_data([Host("abd", host, labels)], tmp_path, samples=5, seed=9)
    rows = list(csv.DictReader(open(tmp_path / "DL_info.csv", newline="")))
    assert [(r["File_name"][:-4], r["Coarse_lesion_type"]) for r in rows] == [
        ("500000_01_01_012", "8"), ("500000_01_01_012", "2"), ("500001_01_01_005", "4"), ("500001_01_01_005", "2"),
        ("500001_01_01_005", "4"), ("500002_01_01_009", "7"), ("500002_01_01_009", "2"), ("500002_01_01_009", "4"),
        ("500003_01_01_003", "4"), ("500003_01_01_003", "4"), ("500004_01_01_008", "4"), ("500004_01_01_008", "2"),
        ("500004_01_01_008", "8")]


def test_mediastinal_nodes_go_into_the_mediastinal_fat_not_the_heart():
    # two lungs, between them a heart of 40 HU and, above it, a pad of mediastinal fat at -100 HU
    hu = np.full((3, 200, 200), -1000, np.int16)
    yy, xx = np.mgrid[:200, :200]
    hu[:, (yy - 100) ** 2 / 90 ** 2 + (xx - 100) ** 2 / 95 ** 2 <= 1] = 40
    for cx in (45, 155):
        hu[:, ((yy - 100) ** 2 / 60 ** 2 + (xx - cx) ** 2 / 28 ** 2) <= 1] = -850
    fat = (yy >= 50) & (yy < 80) & (xx >= 80) & (xx < 120)
    hu[:, fat] = -100
    maps = TissueMaps(Volume(hu, (2.0, 0.8, 0.8)))
    place = maps.placement(1, 3)
    assert place[65, 100]  # the middle of the fat pad
    assert not place[120, 100]  # the middle of the heart
    assert place[~fat].sum() < 0.2 * place[fat].sum()  # the fat pad's rim at most
    # without the rule (share 0: how data were drawn before session 18) the heart takes lymph nodes
    before = TissueMaps(Volume(hu, (2.0, 0.8, 0.8)), mediastinal_fat_share=0.0).placement(1, 3)
    assert before[120, 100] and before[65, 100]
    share = maps._fat_share(hu[1].astype(np.float32), (hu[1] > -200) & (hu[1] < 120))
    assert share[65, 100] > 0.9 and share[120, 100] < 0.05


def test_synthesize_command_passes_the_mediastinal_fat_share_through(monkeypatch, tmp_path):
    from lesionviewer.training.cli import main

    seen = {}

    def fake_write(hosts, out, samples, **options):
        seen.update(options)
        return {"samples": 0}

    monkeypatch.setattr("lesionviewer.synthesis.training_data.write_synthetic_training_data", fake_write)
    assert main(["synthesize", "--out", str(tmp_path / "o"), "--samples", "0", "--mediastinal-fat-share", "0"]) == 0
    assert seen["mediastinal_fat_share"] == 0.0
    assert main(["synthesize", "--out", str(tmp_path / "p"), "--samples", "0"]) == 0
    assert seen["mediastinal_fat_share"] == 0.5
    assert main(["synthesize", "--out", str(tmp_path / "q"), "--samples", "0", "--mediastinal-fat-share", "50"]) == 2
