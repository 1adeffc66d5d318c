"""A CI-sized training run: train -> checkpoint -> validate -> test -> evaluate -> export, in seconds."""
from __future__ import annotations

import json

import pytest
import torch

from lesionviewer.training import cli
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.run_log import read_log
from lesionviewer.training.toy_data import write_toy_deeplesion

TINY_MODEL = {"arch": "mp3d_small", "options": {"width": 8, "blocks": [1, 1, 1, 1], "fpn_channels": 32,
                                                 "representation_size": 64}}


def tiny_config_file(tmp_path, root, **sections) -> str:
    """A TOML config for the tiny model on toy data, with section overrides."""
    data = {"root": str(root), "num_slices": 3, "slice_interval_mm": 2.0, "num_workers": 0,
            "train_sizes": [64], "test_size": 64, "max_size": 128}
    optim = {"epochs": 2, "milestones": [1], "warmup_iters": 1, "lr": 0.02, "reference_batch": 2}
    train = {"images_per_gpu": 2, "progress_bar": False, "seed": 0, "checkpoint_every": 1,
             "torch_threads": 1}
    evaluation = {"batch_size": 2}
    for name, values in sections.items():
        {"data": data, "optim": optim, "train": train, "eval": evaluation}[name].update(values)

    def table(d):
        return "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())

    text = (f'name = "tiny"\n[data]\n{table(data)}\n[model]\narch = "mp3d_small"\n'
            f'[model.options]\n{table(TINY_MODEL["options"])}\n[optim]\n{table(optim)}\n'
            f'[train]\n{table(train)}\n[eval]\n{table(evaluation)}\n')
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_toy_deeplesion(tmp_path_factory.mktemp("toy"), patients=8, size=64, slices=8)


def test_train_evaluate_export_end_to_end(tmp_path, toy_root):
    run = tmp_path / "run"
    config = tiny_config_file(tmp_path, toy_root)
    assert cli.main(["train", "--config", config, "--run-dir", str(run)]) == 0

    summary = json.loads((run / "summary.json").read_text())
    # 4 training patients x 1 key slice, 2 per step -> 2 steps per epoch, 2 epochs.
    assert summary["steps_done"] == 4 and summary["finished"]
    assert summary["training_data"]["train_key_slices"] == 4
    assert summary["lr"] == pytest.approx(0.02)  # 2 images per step at reference batch 2
    assert 0.0 <= summary["test"]["mean_sensitivity"] <= 1.0
    assert set(summary["test"]["sensitivity"]) == {"0.5", "1", "2", "4", "8", "16"}

    records = read_log(run / "metrics.jsonl")
    iters = [r for r in records if r["kind"] == "iter"]
    assert [r["step"] for r in iters] == [1, 2, 3, 4]
    assert all(r["loss"] > 0 and "loss_classifier" in r for r in iters)
    # The milestone after epoch 1 divides the rate by 10.
    assert iters[2]["lr"] == pytest.approx(iters[1]["lr"] * 0.1)
    assert len([r for r in records if r["kind"] == "eval" and r["split"] == "val"]) == 2
    for name in ("val_epoch_001.json", "val_epoch_002.json", "test_best.json", "test_best_froc.png"):
        assert (run / "eval" / name).is_file(), name
    assert (run / "checkpoints" / "best.pt").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["data"]["num_slices"] == 3 and saved["optim"]["epochs"] == 2

    out = tmp_path / "eval_out"
    assert cli.main(["evaluate", "--checkpoint", str(run), "--split", "val", "--out", str(out)]) == 0
    result = json.loads((out / "val_best.json").read_text())
    assert result["num_images"] == 2 and len(result["detections"]) == 2
    assert (out / "val_best_froc.png").stat().st_size > 1000

    model_path = tmp_path / "tiny.safetensors"
    assert cli.main(["export", "--run-dir", str(run), "--out", str(model_path)]) == 0
    from lesionviewer.detection.model_file import load_model

    model, card = load_model(model_path)
    assert card.architecture == "mp3d_small" and card.num_slices == 3 and card.slice_interval_mm == 2.0
    assert card.input_min_size == 64 and card.hu_clip == (-1024.0, 1050.0)
    assert card.metrics["test"]["mean_sensitivity"] == summary["test"]["mean_sensitivity"]
    assert card.training_data["train_key_slices"] == 4
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, best["model"][name]), name

    noted = tmp_path / "noted.safetensors"
    assert cli.main(["export", "--run-dir", str(run), "--out", str(noted), "--description", "synthetic demo",
                     "--data", "generator=lesionviewer-phantom x -n 4"]) == 0
    _, card = load_model(noted)
    assert card.description == "synthetic demo"
    assert card.training_data["generator"] == "lesionviewer-phantom x -n 4"
    assert card.training_data["train_key_slices"] == 4
    assert card.test_time_flip is False  # the run's eval.test_time_flip, off by default

    flipped = tmp_path / "flipped.safetensors"
    assert cli.main(["export", "--run-dir", str(run), "--out", str(flipped), "--test-time-flip"]) == 0
    assert load_model(flipped)[1].test_time_flip is True
    flip_eval = tmp_path / "flip_eval"
    assert cli.main(["evaluate", "--checkpoint", str(run), "--split", "val", "--out", str(flip_eval),
                     "--set", "eval.test_time_flip=true"]) == 0
    flip_scores = json.loads((flip_eval / "val_best.json").read_text())
    assert flip_scores["num_images"] == 2 and flip_scores["test_time_flip"] is True
    assert cli.main(["evaluate", "--checkpoint", str(run), "--split", "val", "--out", str(flip_eval),
                     "--set", "eval.test_time_flip=true", "--record-in-card", str(flipped)]) == 0
    recorded = load_model(flipped)[1].metrics["val"]
    assert recorded["test_time_flip"] is True
    assert recorded["mean_sensitivity"] == flip_scores["mean_sensitivity"]
    assert recorded["checkpoint"].endswith("best.pt")
    assert load_model(flipped)[1].metrics["test"] == card.metrics["test"]  # the other split is left as it was
    assert cli.main(["export", "--run-dir", str(run), "--out", str(tmp_path / "bad.safetensors"), "--data", "novalue"]) == 2
    assert not (tmp_path / "bad.safetensors").exists()


def test_existing_run_is_not_overwritten(tmp_path, toy_root):
    run = tmp_path / "run"
    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 1, "milestones": []},
                              train={"steps_per_epoch": 1}, eval={"every_epochs": 0, "test_at_end": False})
    assert cli.main(["train", "--config", config, "--run-dir", str(run)]) == 0
    before = (run / "checkpoints" / "last.pt").read_bytes()
    assert cli.main(["train", "--config", config, "--run-dir", str(run)]) == cli.EXIT_RUN
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_of_a_missing_run_is_an_error(tmp_path, capsys):
    assert cli.main(["train", "--resume", str(tmp_path / "nothing")]) == cli.EXIT_RUN
    assert "cannot resume" in capsys.readouterr().err
