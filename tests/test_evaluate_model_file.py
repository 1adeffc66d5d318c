"""`lesionviewer-train evaluate --model`: a shipped file (one detector or an ensemble) scored on a split,
and `lesionviewer-train ensemble`, which writes the ensemble file."""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_training_run import tiny_config_file

from lesionviewer.detection.model_file import read_card
from lesionviewer.training import cli
from lesionviewer.training.toy_data import write_toy_deeplesion


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained run, its config and its export with test-time flipping."""
    work = tmp_path_factory.mktemp("model_file_eval")
    root = write_toy_deeplesion(work / "toy", patients=8, size=64, slices=8)
    config = tiny_config_file(work, root, eval={"test_at_end": False})
    run = work / "run"
    assert cli.main(["train", "--config", config, "--run-dir", str(run)]) == 0
    model = work / "tiny.safetensors"
    assert cli.main(["export", "--run-dir", str(run), "--out", str(model), "--test-time-flip"]) == 0
    return work, config, run, model


def detections(path):
    return [np.concatenate([np.asarray(d["boxes"], np.float32).reshape(-1, 4),
                            np.asarray(d["scores"], np.float32).reshape(-1, 1)], axis=1)
            for d in json.loads(path.read_text())["detections"]]


def test_a_model_file_scores_as_its_checkpoint_with_the_same_settings(trained, tmp_path):
    work, config, run, model = trained
    assert cli.main(["evaluate", "--checkpoint", str(run), "--split", "val", "--out", str(tmp_path / "ckpt"),
                     "--set", "eval.test_time_flip=true"]) == 0
    assert cli.main(["evaluate", "--model", str(model), "--config", config, "--split", "val",
                     "--out", str(tmp_path / "file")]) == 0
    from_checkpoint = json.loads((tmp_path / "ckpt" / "val_best.json").read_text())
    from_file = json.loads((tmp_path / "file" / "val_tiny.json").read_text())
    assert from_file["num_images"] == 2 and from_file["members"] == ["tiny"] and from_file["test_time_flip"]
    assert sum(len(d) for d in detections(tmp_path / "file" / "val_tiny.json")) > 0
    for a, b in zip(detections(tmp_path / "ckpt" / "val_best.json"), detections(tmp_path / "file" / "val_tiny.json")):
        np.testing.assert_allclose(a, b, atol=0.011)  # boxes stored to 0.01 px
    assert from_file["mean_sensitivity"] == pytest.approx(from_checkpoint["mean_sensitivity"])


def test_an_ensemble_of_a_model_with_itself_scores_as_the_model(trained, tmp_path):
    work, config, run, model = trained
    pair = tmp_path / "pair.safetensors"
    assert cli.main(["ensemble", "--model", str(model), "--model", str(model), "--out", str(pair),
                     "--name", "tiny twice", "--data", "members=tiny + tiny"]) == 0
    card = read_card(pair)
    assert card.training_data == {"members": "tiny + tiny"} and len(card.ensemble_members) == 2
    for name, path in (("one", model), ("two", pair)):
        assert cli.main(["evaluate", "--model", str(path), "--config", config, "--split", "val",
                         "--out", str(tmp_path / name), "--record-in-card", str(path)]) == 0
    alone = detections(tmp_path / "one" / "val_tiny.json")
    fused = detections(tmp_path / "two" / "val_pair.json")
    for a, b in zip(alone, fused):  # every box pairs with itself: same box, mean of two equal scores
        np.testing.assert_allclose(a, b, atol=0.011)  # boxes stored to 0.01 px
    pair_record = json.loads((tmp_path / "two" / "val_pair.json").read_text())
    assert pair_record["members"] == ["tiny", "tiny"]
    # each member's own detections are scored and kept beside the ensemble's: here both are the model alone
    one = json.loads((tmp_path / "one" / "val_tiny.json").read_text())
    assert [m["mean_sensitivity"] for m in pair_record["member_scores"]] == [one["mean_sensitivity"]] * 2
    for index in (0, 1):
        for a, b in zip(alone, detections(tmp_path / "two" / f"val_pair_member{index}.json")):
            np.testing.assert_allclose(a, b, atol=0.011)
    assert "member_scores" not in one and not (tmp_path / "one" / "val_tiny_member0.json").exists()
    assert read_card(pair).metrics["val"]["mean_sensitivity"] == read_card(model).metrics["val"]["mean_sensitivity"]


def test_wrong_combinations_and_a_mismatched_card_are_usage_errors(trained, tmp_path, capsys):
    work, config, run, model = trained
    assert cli.main(["evaluate", "--model", str(model), "--split", "val", "--out", str(tmp_path)]) == 2
    assert "needs --config" in capsys.readouterr().err
    assert cli.main(["evaluate", "--checkpoint", str(run), "--config", config, "--split", "val"]) == 2
    assert "--config goes with --model" in capsys.readouterr().err
    five = tiny_config_file(tmp_path, work / "toy", data={"num_slices": 5})
    assert cli.main(["evaluate", "--model", str(model), "--config", five, "--split", "val",
                     "--out", str(tmp_path / "x")]) == 2
    assert "tiny.safetensors (tiny): num_slices 3 in the card, 5 in the config" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert cli.main(["ensemble", "--model", str(model), "--out", str(tmp_path / "one.safetensors"),
                     "--name", "one"]) == 2
    assert "two to four --model, not 1" in capsys.readouterr().err
    assert not (tmp_path / "one.safetensors").exists()
