"""The paired bootstrap of a gap in FROC mean sensitivity between two detectors on the same images."""
from __future__ import annotations

import numpy as np
import pytest

from lesionviewer.evaluation.paired_bootstrap import paired_bootstrap


def lesion_set(count: int):
    """``count`` images with one 10 px lesion each, at a place that moves with the image."""
    return [np.array([[i % 40, 0, i % 40 + 10, 10]], np.float64) for i in range(count)]


def finder(truth, found, score: float = 0.9):
    """Detections hitting the lesions of the images ``found`` (a count: the first ones; or a range), and one far
    false positive (score 0.1) on every image."""
    found = range(found) if isinstance(found, int) else found
    rows = []
    for i, box in enumerate(truth):
        far = [[200, 200, 210, 210, 0.1]]
        hit = [[*box[0].tolist(), score]] if i in found else []
        rows.append(np.array(hit + far, np.float64).reshape(-1, 5))
    return rows


def test_a_clear_gap_is_measured_exactly_and_its_interval_excludes_zero():
    truth = lesion_set(100)
    weak, strong = finder(truth, 40), finder(truth, 70)
    gap = paired_bootstrap(weak, strong, truth, fps=(1.0,), resamples=300, seed=1)
    assert gap["difference"] == pytest.approx(0.30)
    assert 0.15 < gap["low"] < 0.30 < gap["high"] < 0.45
    assert gap["share_not_better"] == 0.0 and gap["resamples"] == 300


def test_no_gap_gives_an_interval_around_zero_and_the_order_flips_the_sign():
    truth = lesion_set(60)
    # the same number of hits on different images: equal on the whole set, unequal on most draws
    a, b = finder(truth, range(0, 30)), finder(truth, range(30, 60))
    gap = paired_bootstrap(a, b, truth, fps=(1.0,), resamples=400, seed=2)
    assert gap["difference"] == pytest.approx(0.0)
    assert gap["low"] < 0.0 < gap["high"]
    assert 0.3 < gap["share_not_better"] < 0.8
    flipped = paired_bootstrap(b, a, truth, fps=(1.0,), resamples=400, seed=2)
    assert flipped["low"] == pytest.approx(-gap["high"]) and flipped["high"] == pytest.approx(-gap["low"])


def test_the_same_seed_repeats_and_another_seed_draws_other_images():
    truth = lesion_set(50)
    a, b = finder(truth, 20), finder(truth, 30)
    first = paired_bootstrap(a, b, truth, fps=(1.0, 2.0), resamples=100, seed=5)
    assert paired_bootstrap(a, b, truth, fps=(1.0, 2.0), resamples=100, seed=5) == first
    assert paired_bootstrap(a, b, truth, fps=(1.0, 2.0), resamples=100, seed=6)["low"] != first["low"]


def test_mismatched_images_and_no_resamples_are_refused():
    truth = lesion_set(5)
    with pytest.raises(ValueError, match="same images in the same order"):
        paired_bootstrap(finder(truth, 2), finder(truth[:4], 2), truth)
    with pytest.raises(ValueError, match="resamples must be at least 1"):
        paired_bootstrap(finder(truth, 2), finder(truth, 3), truth, resamples=0)
