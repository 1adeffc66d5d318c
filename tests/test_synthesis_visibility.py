"""The synthesis keeps only lesions that stand out of their surroundings (lesionviewer.synthesis.visibility)."""
import numpy as np
import pytest

from lesionviewer.io import Volume
from lesionviewer.synthesis.insert import insert_lesions
from lesionviewer.synthesis.tissue import TissueMaps
from lesionviewer.synthesis.visibility import is_visible, lesion_contrast

MUSCLE_HU = 45


def muscle_host() -> Volume:
    """A body of uniform 45 HU muscle in air: soft-tissue masses (10-70 HU) are often invisible in it."""
    hu = np.full((7, 128, 128), -1000, np.int16)
    yy, xx = np.mgrid[:128, :128]
    hu[:, (yy - 64) ** 2 + (xx - 64) ** 2 < 60 ** 2] = MUSCLE_HU
    return Volume(hu, (2.0, 0.8, 0.8))


def key_slice_core_median(result, lesion) -> float:
    """Median HU of the lesion's key-slice voxels, read from the finished volume (not from the module)."""
    z0, y0, x0 = lesion.offset
    k = lesion.key_slice - z0
    m = lesion.mask[k]
    patch = result.volume().hu[lesion.key_slice, y0:y0 + m.shape[0], x0:x0 + m.shape[1]]
    return float(np.median(patch[m]))


def inserted(min_contrast_hu: float, seeds=range(12)) -> list[float]:
    host = muscle_host()
    maps = TissueMaps(host)
    medians = []
    for seed in seeds:
        result = insert_lesions(host, maps, np.random.default_rng(seed), count=2, types=[7, 7], key_slice=3,
                                min_contrast_hu=min_contrast_hu, min_contrast_to_noise=0.0)
        medians += [key_slice_core_median(result, les) for les in result.lesions]
    return medians


def test_without_the_rule_some_masses_melt_into_the_muscle_and_with_it_none_does():
    off = inserted(0.0)
    on = inserted(15.0)
    assert len(off) >= 12 and len(on) >= 12
    faint = [m for m in off if abs(m - MUSCLE_HU) < 10]
    assert faint, "expected some invisible masses without the rule (10-70 HU drawn in 45 HU muscle)"
    # with the rule, each kept lesion's core differs from the muscle by at least ~15 HU (the median of a
    # whole lesion is a little softer than its core's: allow 3 HU for the partial-volume rim)
    assert min(abs(m - MUSCLE_HU) for m in on) >= 12


def test_hand_computed_contrast_ignores_air_beside_the_lesion():
    image = np.full((40, 40), -1000.0)
    image[:, 20:] = 60.0  # tissue on the right half, air on the left
    mask = np.zeros((40, 40), bool)
    mask[15:25, 20:30] = True  # a lesion on the skin line
    image[mask] = 20.0
    contrast, spread = lesion_contrast(image, mask)
    assert contrast == pytest.approx(-40.0) and spread == pytest.approx(0.0)
    assert is_visible(image, mask)


def test_a_lesion_is_invisible_when_its_contrast_is_below_half_the_ring_spread():
    grain = (np.indices((40, 40)).sum(axis=0) % 2 * 2 - 1).astype(float)
    image = 50.0 + 40.0 * grain  # spread 40 HU: the rule asks for >= 20 HU
    mask = np.zeros((40, 40), bool)
    mask[12:28, 12:28] = True
    image[mask] = 32.0  # 18 HU darker than the ring's median (50): over 15, under 20
    assert lesion_contrast(image, mask) == (pytest.approx(-18.0), pytest.approx(40.0))
    assert not is_visible(image, mask)
    image[mask] = 25.0  # 25 HU darker: visible
    assert is_visible(image, mask)
    assert not is_visible(image, np.zeros_like(mask))  # no lesion, nothing to see


def test_the_same_seed_inserts_the_same_visible_lesions():
    hu = np.full((5, 96, 96), -1000, np.int16)
    hu[:, 8:88, 8:88] = 50
    host = Volume(hu, (2.0, 0.8, 0.8))
    a = insert_lesions(host, TissueMaps(host), np.random.default_rng(4), count=1, types=[7], key_slice=2)
    b = insert_lesions(host, TissueMaps(host), np.random.default_rng(4), count=1, types=[7], key_slice=2)
    assert np.array_equal(a.volume().hu, b.volume().hu)
    assert all(abs(key_slice_core_median(a, les) - 50) >= 12 for les in a.lesions)
