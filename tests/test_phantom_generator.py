"""The phantom generator: determinism, geometry, lesions and their per-slice measurements."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.phantom import PhantomConfig, generate_patient, measure_slice
from lesionviewer.phantom.generator import HU_MAX, HU_MIN
from lesionviewer.phantom.tissues import TISSUES

SMALL = PhantomConfig.preset("small")


@pytest.fixture(scope="module")
def cases():
    return [generate_patient(seed, SMALL) for seed in range(6)]


def test_same_seed_gives_identical_volume_and_lesions():
    a = generate_patient(11, SMALL)
    b = generate_patient(11, SMALL)
    assert a.volume.hu.tobytes() == b.volume.hu.tobytes()
    assert a.volume.origin == b.volume.origin and a.volume.spacing == b.volume.spacing
    assert [(l.key_slice, l.key) for l in a.lesions] == [(l.key_slice, l.key) for l in b.lesions]


def test_different_seeds_give_different_patients(cases):
    assert not np.array_equal(cases[0].volume.hu, cases[1].volume.hu)
    sizes = {c.volume.spacing for c in cases}
    assert len(sizes) > 1, "pixel spacing / slice interval should vary between patients"


def test_volume_shape_range_and_geometry(cases):
    for case in cases:
        vol = case.volume
        assert vol.shape == (SMALL.num_slices, SMALL.matrix, SMALL.matrix)
        assert vol.hu.dtype == np.int16
        assert HU_MIN <= int(vol.hu.min()) and int(vol.hu.max()) <= HU_MAX
        fov = vol.spacing[1] * SMALL.matrix
        assert SMALL.field_of_view_mm[0] <= fov <= SMALL.field_of_view_mm[1]
        assert vol.spacing[0] in SMALL.slice_intervals_mm
        # corners lie outside the reconstruction circle: scanner padding, not noise
        assert int(vol.hu[0, 0, 0]) == HU_MIN


def test_body_has_air_fat_soft_tissue_and_bone(cases):
    hu = np.concatenate([c.volume.hu.ravel() for c in cases])
    for lo, hi, what in ((-1100, -900, "air/lung"), (-150, -50, "fat"), (0, 100, "soft tissue"), (300, 3071, "bone")):
        assert ((hu >= lo) & (hu <= hi)).mean() > 0.005, what


def test_every_case_has_lesions_with_a_largest_key_slice(cases):
    for case in cases:
        assert case.lesions, "each patient carries at least one lesion"
        for lesion in case.lesions:
            areas = {k: m.area_px for k, m in lesion.slices.items()}
            assert areas[lesion.key_slice] == max(areas.values())
            lo, hi = lesion.slice_range
            assert sorted(lesion.slices) == list(range(lo, hi + 1)), "a lesion crosses consecutive slices"
            assert 1 <= lesion.type_code <= 8
            for m in lesion.slices.values():
                x1, y1, x2, y2 = m.box
                assert 0 <= x1 <= x2 < SMALL.matrix and 0 <= y1 <= y2 < SMALL.matrix
                assert m.long_px >= m.short_px > 0


def test_lesion_pixels_carry_the_lesion_label(cases):
    label = TISSUES["lesion"].label
    hits = 0
    for case in cases:
        for lesion in case.lesions:
            m = lesion.key
            x1, y1, x2, y2 = (int(v) for v in m.box)
            patch = case.labels[lesion.key_slice, y1 : y2 + 1, x1 : x2 + 1]
            hits += int((patch == label).any())
    assert hits >= 0.8 * sum(len(c.lesions) for c in cases)


def test_liver_lesion_differs_from_liver_in_hu():
    cfg = SMALL.with_(matrix=192, lesions_per_patient=(3, 3), phase="portal", slice_intervals_mm=(2.5,), slice_interval_weights=(1.0,))
    diffs = []
    for seed in range(12):
        case = generate_patient(seed, cfg)
        for lesion in case.lesions:
            if lesion.type_code != 4 or lesion.key.area_px < 12:
                continue
            k = lesion.key_slice
            inside = case.labels[k] == TISSUES["lesion"].label
            liver = case.labels[k] == TISSUES["liver"].label
            diffs.append(abs(float(np.median(case.volume.hu[k][inside])) - float(np.median(case.volume.hu[k][liver]))))
    assert diffs, "no liver lesion drawn in 12 patients"
    assert np.median(diffs) > 10.0


def test_recist_of_an_ellipse_matches_its_axes():
    yy, xx = np.mgrid[:101, :101]
    theta = np.deg2rad(30)
    u = (xx - 50) * np.cos(theta) + (yy - 50) * np.sin(theta)
    v = -(xx - 50) * np.sin(theta) + (yy - 50) * np.cos(theta)
    mask = (u / 30.0) ** 2 + (v / 12.0) ** 2 <= 1
    m = measure_slice(mask)
    assert abs(m.long_px - 61) < 2.0 and abs(m.short_px - 25) < 2.0
    lu = np.subtract(m.long_axis[1], m.long_axis[0])
    su = np.subtract(m.short_axis[1], m.short_axis[0])
    assert abs(np.dot(lu, su)) / (np.linalg.norm(lu) * np.linalg.norm(su)) < 1e-6


def test_empty_mask_is_refused():
    with pytest.raises(ValueError, match="empty"):
        measure_slice(np.zeros((4, 4), bool))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"matrix": 8}, "matrix"),
        ({"num_slices": 0}, "num_slices"),
        ({"lesions_per_patient": (3, 1)}, "lesions_per_patient"),
        ({"slice_intervals_mm": (50.0,), "slice_interval_weights": (1.0,)}, "slice_intervals_mm"),
    ],
)
def test_bad_settings_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        SMALL.with_(**changes)


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="small, medium or full"):
        PhantomConfig.preset("huge")


def test_body_stays_inside_the_reconstruction_circle(cases):
    for case in cases:
        n = case.volume.shape[1]
        yy, xx = np.mgrid[:n, :n]
        outside = (xx - (n - 1) / 2) ** 2 + (yy - (n - 1) / 2) ** 2 > (n / 2 - 1) ** 2
        body = ~np.isin(case.labels, [TISSUES[t].label for t in ("air", "table", "foam")])
        assert not body[:, outside].any(), "the field of view cuts the body"


def test_overlapping_slices_are_thicker_than_their_spacing():
    thin = generate_patient(5, SMALL.with_(slice_intervals_mm=(2.5,), slice_interval_weights=(1.0,)))
    thick = generate_patient(5, SMALL.with_(slice_intervals_mm=(2.5,), slice_interval_weights=(1.0,), thickness_over_interval=2.0))
    assert thick.volume.spacing == thin.volume.spacing
    assert thick.volume.meta["slice_thickness"] == 5.0 and thin.volume.meta["slice_thickness"] == 2.5
    # thicker slices average more: lower noise, and each lesion is seen on at least as many slices
    assert thick.volume.meta["noise_std_hu"] < thin.volume.meta["noise_std_hu"]
    assert thick.volume.hu.shape == thin.volume.hu.shape
    for a, b in zip(thin.lesions, thick.lesions):
        assert a.spec.centre == b.spec.centre


def test_lesion_free_patients_are_possible():
    case = generate_patient(2, SMALL.with_(lesions_per_patient=(0, 0)))
    assert case.lesions == [] and case.volume.shape == (SMALL.num_slices, SMALL.matrix, SMALL.matrix)
    assert not (case.labels == TISSUES["lesion"].label).any()
