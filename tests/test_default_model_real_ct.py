"""The shipped default detector: its card says what it saw, and its recorded real-CT numbers reproduce."""
from __future__ import annotations

from pathlib import Path

import pytest

from lesionviewer.detection.default_model import default_detector_file
from lesionviewer.detection.model_file import read_card
from lesionviewer.detection.model_status import demonstration_reason

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_the_card_says_what_data_the_weights_saw_and_that_it_is_a_demonstration():
    card = read_card(default_detector_file())
    data = card.training_data
    assert data["real_lesions"] == "3"
    # run 63 (docs/training.md): runs 11, 46 and 50, each trained 1,600 more steps at lr 0.001 with crops anywhere
    # (run 58), then 1,600 more reading 80 % of its stacks as the key slice alone
    assert data["config"] == ("real_small_key + real_small_key_46 + real_small_key_50 (an output ensemble of runs "
                              "63a, 63b and 63c: run 58's members trained on reading most stacks as the key slice alone)")
    members = card.member_cards
    assert [m.training_data["config"] for m in members] == ["real_small_key_11", "real_small_key_46", "real_small_key_50"]
    assert [m.training_data["step"] for m in members] == [1600, 1600, 1600]
    assert all(m.test_time_flip and m.input_min_size == 512 for m in members)
    assert "train.seed 63, 64, 65" in data["ensemble"] and "fused per slice" in data["ensemble"]
    # chosen by the rule written before its training (resources/configs/real_small_key.toml): on the selection set
    # read key slice alone, at least 0.01 over the file it replaced; read with context, at most 0.01 under it
    chosen = card.metrics["selection"]["select_dl_key_slice_alone"]
    assert chosen["mean_sensitivity"] - chosen["shipped_before"] >= 0.01
    assert chosen["bootstrap_gap"]["low"] > 0
    context = card.metrics["selection"]["select_dl"]
    assert context["mean_sensitivity"] >= context["shipped_before"] - 0.01
    assert "second set of demo phantoms" in data["synthetic"]
    assert "synthetic lesions in real CT" in data["synthetic"]
    assert "never the DeepLesion key slices or ct_torso_totalseg_3mm" in data["real_hosts"]
    assert demonstration_reason(card) == ("Demonstration model: not for diagnosis "
                                          "(trained on 3 real annotated lesions)")
    real = card.metrics["real_ct"]
    assert real["deeplesion"]["num_lesions"] == 24 and set(real["deeplesion"]["sensitivity"]) == {
        "0.5", "1", "2", "4", "8", "16"}
    assert {"lidc", "lesion_free", "organs"} <= set(real)


@pytest.fixture(scope="module")
def detector():
    import torch

    from lesionviewer.detection import Detector

    torch.set_num_threads(2)
    return Detector.from_file(default_detector_file(), device="cpu")


@pytest.mark.skipif(not (SHARED / "deeplesion").is_dir(), reason="../shared/data is absent")
def test_recorded_deeplesion_key_slice_sensitivities_reproduce(detector):
    from lesionviewer.evaluation.real_ct import evaluate_deeplesion_key_slices

    recorded = read_card(default_detector_file()).metrics["real_ct"]["deeplesion"]
    measured = evaluate_deeplesion_key_slices(detector, SHARED / "deeplesion")
    assert measured["num_lesions"] == recorded["num_lesions"]
    # one lesion is 1/24: identical counts, allowing only for float noise
    for rate, value in recorded["sensitivity"].items():
        assert measured["sensitivity"][rate] == pytest.approx(value, abs=1e-6), rate


@pytest.mark.skipif(not (SHARED / "ct_abdomen_totalseg_organs").is_dir(), reason="../shared/data is absent")
def test_recorded_findings_on_the_labelled_abdomen_reproduce(detector):
    from lesionviewer.evaluation.real_ct_negatives import evaluate_organ_check

    recorded = read_card(default_detector_file()).metrics["real_ct"]["organs"]
    measured = evaluate_organ_check(detector, SHARED / "ct_abdomen_totalseg",
                                    SHARED / "ct_abdomen_totalseg_organs" / "organs.nii.gz")
    for key in ("total", "humerus", "rib", "aorta"):
        assert measured[key] == recorded[key], key
