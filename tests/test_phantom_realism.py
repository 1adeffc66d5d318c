"""Realism measured: phantom statistics against real CT in ../shared/data (loose but meaningful bounds).

The same label-free measurements run on real and phantom images (lesionviewer.phantom.realism);
docs/phantom.md lists the numbers these bounds come from.
"""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.phantom import PhantomConfig
from lesionviewer.phantom.anatomy import sample_anatomy
from lesionviewer.phantom.generator import choose_field_of_view, choose_slice_interval, generate_patient
from lesionviewer.phantom.lesions import draw_type_codes, sample_lesion
from lesionviewer.phantom.noise import noise_power_spectrum
from lesionviewer.phantom.placement import PlacementMap
from lesionviewer.phantom.realism import (
    dl_info_table_stats,
    flat_patches,
    hu_peaks,
    noise_std,
    phantom_sample,
    read_rows,
    real_abdomen,
    real_deeplesion_slices,
)
from lesionviewer.phantom.tissues import TISSUES


@pytest.fixture(scope="module")
def real(shared_data):
    abdomen = real_abdomen(shared_data)
    dl = real_deeplesion_slices(shared_data)
    assert len(dl) >= 20
    rows = read_rows(shared_data / "deeplesion" / "DL_info_test.csv") + read_rows(shared_data / "deeplesion" / "DL_info_val.csv")
    return {"abdomen": abdomen, "dl_hu": np.stack([h for h, _, _ in dl]), "dl_pixel": float(np.median([p for _, p, _ in dl])), "rows": rows}


@pytest.fixture(scope="module")
def phantoms():
    # DeepLesion-like: 512 x 512, 5 mm slices, portal venous phase (as the real abdomen series)
    return phantom_sample(2, seed=0, size="full")


def test_hu_of_air_fat_soft_tissue_and_bone_match_real_ct(real, phantoms):
    ph = hu_peaks(np.concatenate([c.volume.hu for c in phantoms]))
    abdomen = hu_peaks(real["abdomen"].hu)
    dl = hu_peaks(real["dl_hu"])
    for name in ("air", "fat"):
        assert abs(ph[name] - abdomen[name]) <= 30 and abs(ph[name] - dl[name]) <= 30, (name, ph[name], abdomen[name], dl[name])
    # portal-venous liver: the phantom's liver against the real portal-phase abdomen's soft-tissue peak (its liver)
    liver = np.concatenate([c.volume.hu[c.labels == TISSUES["liver"].label] for c in phantoms])
    assert liver.size > 1000
    assert abs(float(np.median(liver)) - abdomen["soft_tissue"]) <= 30
    assert ph["bone_p99.5"] > 700 and abdomen["bone_p99.5"] > 700
    assert 0.4 < ph["bone_fraction_of_body"] / abdomen["bone_fraction_of_body"] < 2.5


def test_noise_level_matches_real_ct(real, phantoms):
    ph = noise_std(np.concatenate([c.volume.hu for c in phantoms]))
    for ref in (noise_std(real["abdomen"].hu), noise_std(real["dl_hu"])):
        assert 1 / 1.7 < ph / ref < 1.7, (ph, ref)


def _high_to_mid(hu, pixel):
    freq, nps = noise_power_spectrum(flat_patches(hu, 32), pixel, bins=12)
    return float(nps[-1] / nps[2:].max()), int(np.argmax(nps[1:]) + 1), len(nps)


def test_noise_is_correlated_not_white(real, phantoms):
    ph_ratio, ph_peak, bins = _high_to_mid(np.concatenate([c.volume.hu for c in phantoms]), phantoms[0].volume.spacing[1])
    real_ratio, _, _ = _high_to_mid(real["dl_hu"], real["dl_pixel"])
    # white noise would have a flat NPS (ratio near 1); CT noise rolls off towards Nyquist
    assert ph_peak < bins - 1
    assert ph_ratio < 0.5 and real_ratio < 0.5
    assert 1 / 8 < ph_ratio / real_ratio < 8


def test_lesion_sizes_and_types_follow_deeplesion(real):
    stats = dl_info_table_stats(real["rows"])
    rng = np.random.default_rng(0)
    anatomy = sample_anatomy(rng)
    finder = PlacementMap(anatomy)
    codes = draw_type_codes(rng, 300)
    specs = [s for s in (sample_lesion(rng, c, anatomy, finder) for c in codes) if s is not None]
    assert len(specs) > 250
    long_mm = np.array([s.long_diameter_mm for s in specs])
    assert 1 / 1.3 < np.median(long_mm) / stats["long_mm_median"] < 1.3
    assert 1 / 1.6 < np.percentile(long_mm, 95) / stats["long_mm_p5_p95"][1] < 1.6
    assert long_mm.min() >= 3.0
    fractions = {t: codes.count(t) / len(codes) for t in range(1, 9)}
    for t, real_fraction in stats["type_fractions"].items():
        assert abs(fractions[t] - real_fraction) < 0.06, t


def test_measured_key_slice_diameters_are_deeplesion_like(real):
    cfg = PhantomConfig.preset("small")
    long_mm = []
    for seed in range(6):
        case = generate_patient((77, seed), cfg)
        long_mm += [l.key.long_px * case.volume.spacing[1] for l in case.lesions]
    median_real = dl_info_table_stats(real["rows"])["long_mm_median"]
    assert len(long_mm) >= 8
    assert 1 / 1.6 < np.median(long_mm) / median_real < 1.6


def test_slice_intervals_and_pixel_spacings_follow_deeplesion(real):
    stats = dl_info_table_stats(real["rows"])
    cfg = PhantomConfig.preset("full")
    rng = np.random.default_rng(1)
    intervals = np.array([choose_slice_interval(cfg, rng) for _ in range(400)])
    for mm in (1.0, 5.0):
        assert abs(np.mean(intervals == mm) - stats["interval_fractions"][mm]) < 0.1
    pixels = []
    for _ in range(25):
        anatomy = sample_anatomy(rng)
        z = rng.uniform(-300, 150) * anatomy.scale
        pixels.append(choose_field_of_view(anatomy, np.array([z, z + 100.0]), cfg, rng) / cfg.matrix)
    p5, p50, p95 = stats["pixel_mm_p5_p50_p95"]
    assert abs(np.median(pixels) - p50) < 0.1
    assert p5 - 0.1 < min(pixels) and max(pixels) < p95 + 0.1


def test_normalized_lesion_locations_sit_where_deeplesion_puts_each_type(real):
    rows = []
    from lesionviewer.phantom.deeplesion_writer import dl_info_rows

    for i in range(30):
        rows += dl_info_rows(generate_patient((7, i + 1), PhantomConfig.preset("small")), i + 1, 1)

    def medians(table, code):
        values = [[float(v) for v in r["Normalized_lesion_location"].split(",")] for r in table if r["Coarse_lesion_type"] == str(code)]
        return np.median(values, axis=0) if values else None

    z = {code: medians(rows, code)[2] for code in (3, 4, 5) if medians(rows, code) is not None}
    # head-to-feet order of the real table: mediastinum < lung < liver (0.45 / 0.50 / 0.60)
    assert z[3] < z[4] and z[5] < z[4]
    for code in (3, 4, 5):
        assert abs(z[code] - medians(real["rows"], code)[2]) < 0.1, code
    liver = medians(rows, 4)
    assert liver[0] < 0.45, "liver lesions lie on the patient's right (image left)"
