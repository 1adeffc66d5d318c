"""``lesionviewer-train risk ...`` end to end on tiny phantoms: phantoms, preprocess, lists, train, evaluate, export."""
from __future__ import annotations

import json

import pytest

from lesionviewer.risk.export import score_phantom_cases
from lesionviewer.risk.lists import read_list
from lesionviewer.risk.model import RiskModel, is_risk_model_file
from lesionviewer.risk.phantom_cohort import LABEL_RULE, generate_chest_case
from lesionviewer.training.cli import main

SETTINGS = ["--voxel-mm", "12", "--crop", "24", "20", "28"]


def write_config(path, work):
    path.write_text(f"""
name = "cli_risk"
[data]
train_list = "{work}/lists/train.list"
val_list = "{work}/lists/val.list"
test_list = "{work}/lists/test.list"
voxel_mm = 12.0
crop_shape = [24, 20, 28]
[model]
backbone = "i3d"
options = {{ width = 0.125, norm = "group" }}
[optim]
lr = 1e-3
epochs = 1
[train]
images_per_gpu = 2
iter_size = 1
progress_bar = false
torch_threads = 1
[eval]
test_at_end = true
bootstrap = 20
""")
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = tmp_path_factory.mktemp("risk_cli")
    assert main(["risk", "phantoms", str(work / "cohort"), "--count", "8", "--seed", "4", "--matrix", "48",
                 *SETTINGS]) == 0
    assert main(["risk", "phantoms", str(work / "heldout"), "--count", "4", "--seed", "5", "--matrix", "48",
                 *SETTINGS]) == 0
    assert main(["risk", "lists", str(work / "cohort" / "labels.csv"), str(work / "cohort"), str(work / "lists"),
                 "--val-fraction", "0.5", "--seed", "1"]) == 0
    assert main(["risk", "lists", str(work / "heldout" / "labels.csv"), str(work / "heldout"), str(work / "lists"),
                 "--all", "test"]) == 0
    config = write_config(work / "cli_risk.toml", work)
    assert main(["risk", "train", "--config", str(config), "--run-dir", str(work / "run")]) == 0
    return work


def test_lists_split_by_patient(pipeline):
    train, val = read_list(pipeline / "lists" / "train.list"), read_list(pipeline / "lists" / "val.list")
    assert len(train) + len(val) == 8 and len(val) == 4 and sum(y for _, y in val) == 2
    assert not {p.name for p, _ in train} & {p.name for p, _ in val}
    assert len(read_list(pipeline / "lists" / "test.list")) == 4


def test_train_wrote_the_run_and_tested_the_best_model(pipeline):
    summary = json.loads((pipeline / "run" / "summary.json").read_text())
    assert summary["steps_done"] == 2 and summary["test"]["num_cases"] == 4
    assert (pipeline / "run" / "eval" / "test_best_roc.png").is_file()


def test_evaluate_and_export(pipeline, tmp_path):
    assert main(["risk", "evaluate", "--run-dir", str(pipeline / "run"), "--list", str(pipeline / "lists" / "test.list"),
                 "--out", str(tmp_path / "eval"), "--min-sensitivity", "0"]) == 0
    result = json.loads((tmp_path / "eval" / "test.json").read_text())
    assert result["num_cases"] == 4 and result["operating_point"]["rule"] == "Youden's J"
    assert (tmp_path / "eval" / "test_roc.png").is_file() and (tmp_path / "eval" / "test_cases.csv").is_file()
    out = tmp_path / "risk.safetensors"
    assert main(["risk", "export", "--run-dir", str(pipeline / "run"), "--out", str(out), "--name", "cli demo",
                 "--metrics", f"heldout={tmp_path / 'eval' / 'test.json'}", "--phantom-check", "5", "4", "4",
                 "--matrix", "48"]) == 0
    assert is_risk_model_file(out)
    model = RiskModel.from_file(out)
    card = model.card
    assert card["name"] == "cli demo" and card["backbone"] == "i3d"
    assert card["backbone_options"] == {"width": 0.125, "norm": "group"}
    assert card["preprocessing"]["voxel_mm"] == 12.0 and card["preprocessing"]["crop_shape"] == [24, 20, 28]
    assert card["label_rule"] == LABEL_RULE
    assert "synthetic" in card["training_data"]["description"] and "not for clinical use" in card["training_data"]["description"]
    assert card["metrics"]["heldout"]["auc"] == result["auc"] and card["metrics"]["test"]["num_cases"] == 4
    # the card records the training and export command lines (here pytest's own argv, however it was started)
    assert card["command"].count(" ; ") == 1 and all(part.strip() for part in card["command"].split(" ; "))
    # The exported file scores the same crops the same way as the run's evaluation.
    assert main(["risk", "evaluate", "--model", str(out), "--list", str(pipeline / "lists" / "test.list"),
                 "--out", str(tmp_path / "eval2")]) == 0
    again = json.loads((tmp_path / "eval2" / "test.json").read_text())
    assert [c["logit"] for c in again["cases"]] == pytest.approx([c["logit"] for c in result["cases"]], abs=1e-4)
    assert 0.0 <= model.predict(generate_chest_case(7, True, matrix=48).volume).probability <= 1.0
    # The recorded phantom check: the held-out cohort's cases regenerated and scored through predict,
    # equal to the scores of the same cases' preprocessed crops (what the demo model's test repeats).
    check = card["metrics"]["phantom_check"]
    assert check["labels"] == [c["label"] for c in result["cases"]]
    assert check["probabilities"] == pytest.approx([c["probability"] for c in result["cases"]], abs=1e-4)
    labels, probabilities = score_phantom_cases(model, 5, 4, 4, matrix=48)
    assert labels == check["labels"] and probabilities == pytest.approx(check["probabilities"], abs=1e-6)


def test_preprocess_dicom_studies(tmp_path):
    assert main(["risk", "phantoms", str(tmp_path / "dicom"), "--count", "2", "--seed", "6", "--matrix", "48",
                 "--dicom"]) == 0
    (tmp_path / "dicom" / "broken").mkdir()
    (tmp_path / "dicom" / "broken" / "x.dcm").write_bytes(b"not dicom")
    assert main(["risk", "preprocess", str(tmp_path / "dicom"), str(tmp_path / "npz"), *SETTINGS]) == 0
    report = json.loads((tmp_path / "npz" / "preprocess_report.json").read_text())
    assert len(report["done"]) == 2 and list(report["failed"]) == ["broken"]


def test_usage_errors(tmp_path, capsys):
    assert main(["risk", "train"]) == 2
    assert "risk train needs --config" in capsys.readouterr().err
    assert main(["risk", "train", "--resume", str(tmp_path)]) == 4
    bad = tmp_path / "bad.toml"
    bad.write_text("[loss]\nkind = 'hinge'\n")
    assert main(["risk", "train", "--config", str(bad)]) == 2
    assert main(["risk", "evaluate", "--model", str(tmp_path / "none.safetensors"), "--list", "x.list"]) == 5
