"""The shipped demo risk model: its card says what it is, and it reproduces the scores its card records."""
from __future__ import annotations

import pytest

from lesionviewer.evaluation.roc import roc_auc
from lesionviewer.paths import resources_dir
from lesionviewer.risk.export import score_phantom_cases
from lesionviewer.risk.model import RiskModel, is_risk_model_file
from lesionviewer.risk.phantom_cohort import LABEL_RULE

DEMO = resources_dir() / "models" / "demo_risk_mp3d.safetensors"

pytestmark = pytest.mark.skipif(not DEMO.is_file(), reason="no demo risk model shipped (docs/risk.md)")


def test_card_states_data_rule_and_measured_auc():
    assert is_risk_model_file(DEMO) and DEMO.stat().st_size < 4_000_000
    card = RiskModel.from_file(DEMO).card
    assert card["task"] == "risk" and card["label_rule"] == LABEL_RULE
    assert "synthetic" in card["training_data"]["description"]
    assert "not for clinical use" in card["training_data"]["description"]
    test = card["metrics"]["test"]
    assert test["num_cases"] >= 100 and test["auc"] >= 0.85
    low, high = test["auc_ci95"]
    assert low <= test["auc"] <= high
    assert "risk train" in card["command"]


def test_reproduces_the_recorded_phantom_check():
    model = RiskModel.from_file(DEMO)
    check = model.card["metrics"]["phantom_check"]
    labels, probabilities = score_phantom_cases(model, check["cohort_seed"], check["cohort_count"], check["first"],
                                                check["matrix"])
    assert labels == check["labels"]
    assert probabilities == pytest.approx(check["probabilities"], abs=1e-4)
    assert roc_auc(labels, probabilities) == pytest.approx(check["auc"], abs=0.01)
