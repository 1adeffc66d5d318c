"""Stochastic weight averaging inside a training run (train.average_every / train.average_from_step)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lesionviewer.training import cli
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.export import export_run
from lesionviewer.training.loop import RunError, Trainer
from lesionviewer.training.toy_data import write_toy_deeplesion
from test_training_run import tiny_config_file


class Fit(torch.nn.Module):
    """One weight pulled towards each image's mean: every step moves it by a known amount."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images, targets):
        return {"loss_fit": sum(((self.w - im.mean()) ** 2).sum() for im in images)}


class Items(list):
    """The loop asks the dataset for (epoch, index)."""

    def __getitem__(self, key):
        return super().__getitem__(key[1])


EMPTY = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
DATA = Items([(torch.full((1, 2, 2), 3.0), EMPTY)] * 4)  # 2 steps per epoch at 2 images per step


def fit_config(**train) -> TrainingConfig:
    return TrainingConfig.from_dict({
        "data": {"num_workers": 0},
        "optim": {"epochs": 3, "lr": 0.05, "momentum": 0.0, "milestones": [], "warmup_iters": 0,
                  "reference_batch": 2},
        "train": {"images_per_gpu": 2, "progress_bar": False, "checkpoint_every": 1, **train},
        "eval": {"every_epochs": 0, "test_at_end": False}})


def weight_after(steps: int, tmp: Path) -> float:
    """The plain run's weight after ``steps`` optimizer steps (0 = the start)."""
    if steps == 0:
        return 0.0
    run = tmp / f"plain_{steps}"
    if not run.exists():
        Trainer(fit_config(stop_after_steps=steps), run, Fit(), DATA).run()
    return float(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]["w"])


def kept_weight(run: Path) -> float:
    return float(torch.load(run / "checkpoints" / "best.pt", weights_only=True)["model"]["w"])


@pytest.mark.parametrize("every, first, steps", [(2, 0, [0, 2, 4, 6]), (1, 3, [3, 4, 5, 6]), (4, 1, [1, 5])])
def test_kept_model_is_the_mean_of_the_snapshot_steps(tmp_path, every, first, steps):
    run = tmp_path / "averaged"
    summary = Trainer(fit_config(average_every=every, average_from_step=first), run, Fit(), DATA).run()
    expected = sum(weight_after(s, tmp_path) for s in steps) / len(steps)
    last = float(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]["w"])
    assert last == pytest.approx(weight_after(6, tmp_path), abs=1e-7)  # training itself is unchanged
    assert kept_weight(run) == pytest.approx(expected, abs=1e-6)
    assert kept_weight(run) != pytest.approx(last, abs=1e-4)  # the mean is not simply the last weights
    assert summary["weight_average"] == {"snapshots": len(steps), "every": every, "from_step": first,
                                         "last_step": steps[-1]}
    assert f"mean of {len(steps)} snapshots" in summary["training_data"]["weight_average"]
    assert summary["kept_model"] == "weight average"


def test_stopped_and_resumed_run_keeps_the_same_mean(tmp_path):
    straight = tmp_path / "straight"
    Trainer(fit_config(average_every=1), straight, Fit(), DATA).run()
    resumed = tmp_path / "resumed"
    Trainer(fit_config(average_every=1, stop_after_steps=3), resumed, Fit(), DATA).run()
    state = torch.load(resumed / "checkpoints" / "last.pt", weights_only=True)
    assert int(state["weight_average"]["n_averaged"]) == 4  # steps 0, 1, 2, 3
    Trainer(fit_config(average_every=1), resumed, Fit(), DATA, resume=True).run()
    assert kept_weight(resumed) == kept_weight(straight)


def test_resuming_a_plain_run_with_averaging_is_refused(tmp_path):
    run = tmp_path / "plain"
    assert Trainer(fit_config(stop_after_steps=2), run, Fit(), DATA).run()["kept_model"] == "last weights"
    with pytest.raises(RunError, match="kept no weight average"):
        Trainer(fit_config(average_every=1), run, Fit(), DATA, resume=True)


def test_a_first_step_after_the_end_is_refused_before_training(tmp_path):
    with pytest.raises(RunError, match="after the run's last step \\(6\\)"):
        Trainer(fit_config(average_every=1, average_from_step=7), tmp_path / "run", Fit(), DATA)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_negative_settings_are_config_errors():
    from lesionviewer.common.config_tree import ConfigError
    for key in ("average_every", "average_from_step"):
        with pytest.raises(ConfigError, match=f"train.{key} must be >= 0 \\(got -1\\)"):
            TrainingConfig.from_dict({"train": {key: -1}})


def test_the_detector_run_exports_the_mean_and_its_card_says_so(tmp_path):
    root = write_toy_deeplesion(tmp_path / "toy", patients=4, size=64, slices=8)
    config = tiny_config_file(tmp_path, root, optim={"epochs": 1}, train={"steps_per_epoch": 3},
                              eval={"every_epochs": 0, "test_at_end": False})
    run = tmp_path / "run"
    assert cli.main(["train", "--config", config, "--run-dir", str(run), "--set", "train.average_every=1"]) == 0
    kept = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    name = "backbone.fpn.layer_blocks.0.0.weight"
    assert torch.equal(kept["model"][name], last["weight_average"][f"module.{name}"])
    assert not torch.equal(kept["model"][name], last["model"][name])
    assert json.loads(kept["weight_average"])["snapshots"] == 4  # steps 0-3
    card = export_run(run, tmp_path / "m.safetensors")
    assert "mean of 4 snapshots taken every 1 steps from step 0" in card.training_data["weight_average"]
