"""The estimated liver (lesionviewer.synthesis.liver_estimate): hosts without organ labels can take liver lesions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from lesionviewer.io import Volume
from lesionviewer.synthesis import TissueMaps, labels_on_volume_grid
from lesionviewer.synthesis.cli import load_hosts, parse_host_spec
from lesionviewer.synthesis.liver_estimate import ESTIMATED_LIVER_LABEL, estimate_liver_mask

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def torso(flip_x: bool = False, seed: int = 0) -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ten 5-mm slices: lungs on the top four, a 'liver' (60 HU) on the patient's right of slices 0-6, a 'spleen'
    of the same HU far out on the left (joined to the liver by a broad band on slices 1-2), a right 'kidney' behind
    the liver on slices 0-3, and on slices 5-8 a 'heart' of the same HU between the lungs that rests on the
    liver's dome, 5 mm of fat between them. Returns the volume and the three organs' masks (liver, spleen, heart, kidney) (in the volume's array order)."""
    rng = np.random.default_rng(seed)
    nz, n = 10, 200
    hu = np.full((nz, n, n), -1000.0)
    yy, xx = np.mgrid[:n, :n]
    body = (yy - 100) ** 2 / 80 ** 2 + (xx - 100) ** 2 / 92 ** 2 <= 1
    hu[:, body] = -90.0                                                    # fat
    liver = np.zeros((nz, n, n), bool)
    spleen = np.zeros((nz, n, n), bool)
    heart = np.zeros((nz, n, n), bool)
    for z in range(nz):
        if z <= 6:
            shrink = 1.0 if z < 5 else 0.75 if z == 5 else 0.5
            liver[z] = (yy - 100) ** 2 / (45 * shrink) ** 2 + (xx - 62) ** 2 / (40 * shrink) ** 2 <= 1
        if z <= 3:
            spleen[z] = (yy - 110) ** 2 / 22 ** 2 + (xx - 165) ** 2 / 12 ** 2 <= 1
        if z >= 5:
            heart[z] = (yy - 85) ** 2 / 30 ** 2 + (xx - 110) ** 2 / 28 ** 2 <= 1
        if z >= 6:
            lungs = (((yy - 100) ** 2 / 55 ** 2 + (xx - 55) ** 2 / 30 ** 2 <= 1)
                     | ((yy - 100) ** 2 / 55 ** 2 + (xx - 150) ** 2 / 28 ** 2 <= 1))
            hu[z, lungs & ~heart[z] & ~liver[z]] = -850.0
    kidney = np.zeros((nz, n, n), bool)
    kidney[:4] = (yy - 160) ** 2 / 14 ** 2 + (xx - 62) ** 2 / 11 ** 2 <= 1   # right kidney, behind the liver
    bridge = np.zeros((nz, n, n), bool)
    bridge[1:3, 95:115, 60:160] = True                                     # the left lobe reaching the spleen
    gap = np.stack([ndimage.binary_dilation(h, iterations=5) for h in heart])   # diaphragm and pericardial fat
    liver &= ~gap
    hu[liver | spleen | heart | kidney | bridge] = 60.0
    hu += rng.normal(0, 10, hu.shape) * (hu > -500)
    direction = np.eye(3)
    if flip_x:
        hu, liver, spleen, heart, kidney = (a[:, :, ::-1].copy() for a in (hu, liver, spleen, heart, kidney))
        direction = np.diag([-1.0, 1.0, 1.0])
    volume = Volume(np.rint(hu).astype(np.int16), (5.0, 1.0, 1.0), direction=direction)
    return volume, liver, spleen, heart, kidney


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def test_the_right_sided_organ_is_found_and_the_spleen_and_heart_of_the_same_hu_are_not():
    volume, liver, spleen, heart, kidney = torso()
    found = estimate_liver_mask(volume)
    assert dice(found, liver) > 0.9
    assert (found & spleen).sum() == 0                   # the band is cut at the left flank limit
    assert (found & kidney).sum() < 0.15 * kidney.sum()  # its own part, lying off the liver of the slice before
    # the heart rests on the dome (beside the liver on slices 5-6, above it on 7-8) but lies mostly off it
    assert (found & heart & ~liver).sum() < 0.02 * heart.sum()
    assert not found[7:].any()


def test_the_patient_right_is_read_from_the_orientation_not_the_array_side():
    volume, liver, spleen, *_ = torso(flip_x=True)
    found = estimate_liver_mask(volume)
    assert dice(found, liver) > 0.9
    assert (found & spleen).sum() == 0


def test_a_chest_without_abdominal_slices_gets_no_liver():
    volume, *_ = torso()
    chest = Volume(volume.hu[6:], volume.spacing)
    assert estimate_liver_mask(chest).sum() == 0


def test_a_host_spec_with_labels_estimate_gives_the_host_liver_lesion_room(tmp_path):
    import SimpleITK as sitk

    volume, liver, *_ = torso()
    image = sitk.GetImageFromArray(volume.hu)
    image.SetSpacing((1.0, 1.0, 5.0))
    path = tmp_path / "torso.nii.gz"
    sitk.WriteImage(image, str(path))
    spec = parse_host_spec(f"path={path},labels=estimate")
    assert spec["labels"] == "estimate"
    [host] = load_hosts([spec])
    assert set(np.unique(host.labels)) == {0, ESTIMATED_LIVER_LABEL}
    assert dice(host.labels == ESTIMATED_LIVER_LABEL, liver) > 0.9
    maps = TissueMaps(host.volume, host.labels)
    assert 4 in maps.available_types()
    [plain] = load_hosts([str(path)])
    assert 4 not in TissueMaps(plain.volume, plain.labels).available_types()


@pytest.mark.skipif(not (SHARED / "ct_abdomen_totalseg_organs").is_dir(), reason="../shared/data is absent")
def test_on_the_real_abdomen_the_estimate_overlaps_totalsegmentators_liver():
    from lesionviewer.io import load_volume

    volume = load_volume(SHARED / "ct_abdomen_totalseg")
    truth = labels_on_volume_grid(SHARED / "ct_abdomen_totalseg_organs" / "organs.nii.gz", volume) == 5
    found = estimate_liver_mask(volume)
    # measured 0.87 (2026-12-03); the estimate is cut straight at 35 % of the half width left of the midline
    assert dice(found, truth) > 0.8
    assert (found & truth).sum() / found.sum() > 0.85       # what it marks is mostly liver
