"""The risk phantoms' label rule (version 3): the large nodules ask for room for their whole extent
inside the lungs, and the demo preprocessing's lung mask keeps their cores (a property the model
needs; rule-2 placement kept the cores too, so that test guards the preprocessing, not the rule)."""
import numpy as np
import pytest

from lesionviewer.phantom.anatomy import sample_anatomy
from lesionviewer.phantom.placement import PlacementMap
from lesionviewer.risk.phantom_cohort import (INTERIOR_MARGIN_MM, LABEL_RULE, RULE_VERSION, generate_chest_case)
from lesionviewer.risk.preprocess import PreprocessSettings, preprocess_volume

# The demo risk model's preprocessing (resources/configs/risk_phantom_base.toml).
DEMO = PreprocessSettings(5.0, (64, 44, 72), mask_outside_lungs=True, mask_closing_mm=10.0)


def test_lung_interior_sites_hold_the_whole_ball():
    anatomy = sample_anatomy(np.random.default_rng(4))
    finder = PlacementMap(anatomy, step_mm=6.0)
    interior = finder.candidates("lung_interior", 20.0)
    loose = finder.candidates("lung", 20.0)  # centre 12 mm inside: the ball may cross the pleura
    assert interior.any()
    assert not (interior & ~loose).any()
    assert interior.sum() < loose.sum() / 2


@pytest.mark.parametrize("seed,positive", [(11, True), (12, True), (13, True), (23, False), (26, False)])
def test_large_nodules_survive_the_lung_mask(seed, positive):
    case = generate_chest_case(seed, positive=positive)
    large = [n for n in case.nodules if n["kind"] != "small smooth"]
    assert len(large) == 1  # these negative seeds carry a calcified nodule
    nodule = large[0]
    assert nodule["kind"] == ("large irregular solid" if positive else "large smooth calcified")
    hu, meta = preprocess_volume(case.volume, DEMO)
    # every crop voxel within 60 % of the nodule's smallest radius: kept by the mask and dense
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in hu.shape], indexing="ij")
    first = np.array(meta["crop_first_voxel_mm"])
    position = np.stack([xx, yy, zz], -1) * DEMO.voxel_mm + first
    inside = np.linalg.norm(position - np.array(nodule["centre_mm"]), axis=-1) < 0.6 * min(nodule["radii_mm"])
    assert inside.sum() >= 2
    assert (hu[inside] > -300).all(), f"{(hu[inside] <= -300).sum()} of {inside.sum()} core voxels masked or lung"


def test_rule_text_states_the_version_and_the_placement():
    assert RULE_VERSION == 3
    assert f"rule version {RULE_VERSION}" in LABEL_RULE
    assert f"{INTERIOR_MARGIN_MM:g} mm from the pleura" in LABEL_RULE


class _RecordingFinder:
    """Stands in for PlacementMap: records what was asked for and gives a fixed centre."""

    def __init__(self):
        self.asked = []

    def find(self, rng, site, radius):
        self.asked.append((site, radius))
        return (0.0, 0.0, 0.0)


def test_large_nodules_ask_for_room_for_their_whole_extent():
    from lesionviewer.risk.phantom_cohort import _nodule

    finder = _RecordingFinder()
    spec = _nodule(np.random.default_rng(0), finder, 30.0, 40.0, 4, (0.10, 0.22), interior=True)
    (site, radius), = finder.asked
    extent = max(spec.radii) * (1 + sum(lobe[5] for lobe in spec.lobes)) + spec.edge_mm + INTERIOR_MARGIN_MM
    assert site == "lung_interior" and radius == pytest.approx(extent) and radius > 15.0 * 1.4 + 3.0
    small = _RecordingFinder()
    _nodule(np.random.default_rng(0), small, 6.0, 20.0, 0, (0.0, 0.0))
    assert small.asked[0][0] == "lung"  # small nodules keep the generator's lung rule
