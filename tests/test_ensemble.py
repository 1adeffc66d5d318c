"""The output ensemble: two to four detectors' findings fused per slice (lesionviewer.detection.ensemble)."""
from types import SimpleNamespace

import numpy as np
import pytest

from lesionviewer.detection.ensemble import EnsembleDetector
from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume


def member(*found):
    return SimpleNamespace(model_name="m", detect=lambda volume, slices=None: list(found))


def test_slices_are_fused_apart_and_a_lone_box_under_the_floor_is_dropped():
    vol = Volume(np.zeros((3, 64, 64), np.int16), (2.0, 0.5, 0.5))
    a = member(Finding(0, (0, 0, 10, 10), 0.9, "a"), Finding(2, (5, 5, 15, 15), 0.08, "a"))
    b = member(Finding(0, (0, 0, 10, 10), 0.5, "b"), Finding(1, (0, 0, 10, 10), 0.9, "b"))
    found = EnsembleDetector([a, b], score_floor=0.05).detect(vol)
    # slice 0 paired (mean 0.7); slice 1 alone (0.45); slice 2 alone, 0.04 < floor
    assert [(f.slice_index, round(f.score, 3)) for f in found] == [(0, 0.7), (1, 0.45)]
    assert found[0].width_mm == pytest.approx(5.0)  # millimetres from the volume's spacing


def test_boxes_that_overlap_too_little_stay_two_findings_at_half_score():
    vol = Volume(np.zeros((1, 64, 64), np.int16), (1.0, 1.0, 1.0))
    a = member(Finding(0, (0, 0, 10, 10), 0.8, "a"))
    b = member(Finding(0, (6, 0, 16, 10), 0.8, "b"))  # IoU 4/16 = 0.25 < 0.55
    assert sorted(round(f.score, 2) for f in EnsembleDetector([a, b]).detect(vol)) == [0.4, 0.4]


def test_three_members_score_a_box_by_how_many_found_it():
    vol = Volume(np.zeros((1, 64, 64), np.int16), (1.0, 1.0, 1.0))
    a = member(Finding(0, (0, 0, 10, 10), 0.9, "a"), Finding(0, (40, 40, 50, 50), 0.9, "a"))
    b = member(Finding(0, (0, 0, 10, 10), 0.6, "b"), Finding(0, (40, 40, 50, 50), 0.6, "b"))
    c = member(Finding(0, (0, 0, 10, 10), 0.3, "c"), Finding(0, (20, 0, 30, 10), 0.9, "c"))
    found = EnsembleDetector([a, b, c]).detect(vol)
    # found by all three: (0.9 + 0.6 + 0.3) / 3; by two: (0.9 + 0.6) / 3; by one: 0.9 / 3
    assert [(f.box_px, round(f.score, 3)) for f in found] == [
        ((0.0, 0.0, 10.0, 10.0), 0.6), ((40.0, 40.0, 50.0, 50.0), 0.5), ((20.0, 0.0, 30.0, 10.0), 0.3)]


def test_five_members_are_refused():
    with pytest.raises(ValueError, match="holds 2 to 4 detectors, not 5"):
        EnsembleDetector([member()] * 5)
