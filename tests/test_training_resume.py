"""Fault tolerance: exact resume after a stop or a SIGKILL, and non-finite losses skipped or fatal."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from lesionviewer.training import cli
from lesionviewer.training.loop import Trainer
from lesionviewer.training.toy_data import write_toy_deeplesion
from test_training_run import tiny_config_file

# 3 epochs x 2 steps, 2 micro-batches of 2 images per step, multi-scale, every augmentation on.
RESUME_SETTINGS = dict(
    data={"train_sizes": [56, 64], "hflip": 0.5, "vflip": 0.5, "reverse_slices": 0.5},
    optim={"epochs": 3, "milestones": [2], "warmup_iters": 2},
    train={"images_per_gpu": 2, "iter_size": 2, "steps_per_epoch": 2, "checkpoint_every": 1,
           "deterministic": True, "torch_threads": 1},
    eval={"every_epochs": 0, "test_at_end": False},
)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_toy_deeplesion(tmp_path_factory.mktemp("toy"), patients=8, size=64, slices=8)


def final_state(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def assert_same_training_state(a, b):
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), f"weights differ: {name}"
    momenta_a = [s["momentum_buffer"] for s in a["optimizer"]["state"].values()]
    momenta_b = [s["momentum_buffer"] for s in b["optimizer"]["state"].values()]
    assert len(momenta_a) == len(momenta_b) > 0
    assert all(torch.equal(x, y) for x, y in zip(momenta_a, momenta_b))


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, toy_root):
    tmp = tmp_path_factory.mktemp("straight")
    config = tiny_config_file(tmp, toy_root, **RESUME_SETTINGS)
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp / "run")]) == 0
    state = final_state(tmp / "run")
    assert state["step"] == 6
    return state


def test_stop_then_resume_equals_straight_run(tmp_path, toy_root, straight_run):
    config = tiny_config_file(tmp_path, toy_root, **RESUME_SETTINGS)
    run = tmp_path / "run"
    # Stop in the middle of epoch 2 (step 3 of 6), then continue.
    assert cli.main(["train", "--config", config, "--run-dir", str(run), "--set", "train.stop_after_steps=3"]) == 0
    half = final_state(run)
    assert half["step"] == 3 and half["epoch"] == 1 and half["position"] == 2
    assert not torch.equal(half["model"]["backbone.fpn.layer_blocks.0.0.weight"],
                           straight_run["model"]["backbone.fpn.layer_blocks.0.0.weight"])
    assert cli.main(["train", "--resume", str(run), "--set", "train.stop_after_steps=0"]) == 0
    assert_same_training_state(final_state(run), straight_run)


def test_sigkill_then_resume_equals_straight_run(tmp_path, toy_root, straight_run):
    config = tiny_config_file(tmp_path, toy_root, **RESUME_SETTINGS)
    run = tmp_path / "run"
    # A real kill -9 right after the 3rd checkpoint is on disk: no finally blocks, no flushing.
    script = textwrap.dedent(f"""
        import os, signal, sys
        from lesionviewer.training import checkpoint, cli
        saved = []
        original = checkpoint.save_checkpoint
        def save_then_die(path, state):
            original(path, state)
            saved.append(path)
            if len(saved) == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        checkpoint.save_checkpoint = save_then_die
        sys.exit(cli.main(["train", "--config", {config!r}, "--run-dir", {str(run)!r}]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    killed = final_state(run)
    assert killed["step"] == 3
    assert not list((run / "checkpoints").glob("*.tmp")), "a temporary checkpoint was left behind"
    assert cli.main(["train", "--resume", str(run)]) == 0
    assert_same_training_state(final_state(run), straight_run)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "iter"]
    assert steps == [1, 2, 3, 4, 5, 6]


def poison(monkeypatch, bad_calls):
    """Make the loss non-finite on the given forward calls (0-based)."""
    original = Trainer._forward
    calls = {"n": 0}

    def forward(self, images, targets):
        loss, parts = original(self, images, targets)
        n = calls["n"]
        calls["n"] += 1
        if bad_calls == "all" or n in bad_calls:
            return loss * float("nan"), parts
        return loss, parts

    monkeypatch.setattr(Trainer, "_forward", forward)


def test_a_nonfinite_loss_is_skipped_and_counted(tmp_path, toy_root, monkeypatch):
    poison(monkeypatch, {1})
    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 1, "milestones": []},
                              train={"steps_per_epoch": 3, "max_nonfinite": 2},
                              eval={"every_epochs": 0, "test_at_end": False})
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["nonfinite_losses"] == 1 and summary["steps_done"] == 3
    state = final_state(tmp_path / "run")
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert kinds.count("nonfinite") == 1 and kinds.count("iter") == 2


def test_too_many_nonfinite_losses_stop_the_run(tmp_path, toy_root, monkeypatch, capsys):
    poison(monkeypatch, "all")
    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 1, "milestones": []},
                              train={"steps_per_epoch": 5, "max_nonfinite": 2},
                              eval={"every_epochs": 0, "test_at_end": False})
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "run")]) == cli.EXIT_NONFINITE
    err = capsys.readouterr().err
    assert "3 non-finite losses" in err and "train.max_nonfinite = 2" in err
    state = final_state(tmp_path / "run")
    assert state["nonfinite"] == 3 and state["step"] == 2  # the failing third step is not counted
    assert not (tmp_path / "run" / "summary.json").exists()


def test_checkpoint_holds_rng_and_loads_weights_only(tmp_path, toy_root):
    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 1, "milestones": []},
                              train={"steps_per_epoch": 1}, eval={"every_epochs": 0, "test_at_end": False})
    assert cli.main(["train", "--config", config, "--run-dir", str(tmp_path / "run")]) == 0
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "step", "position"} <= set(state)
    assert state["scheduler"]["last_epoch"] == 1
    assert not math.isnan(float(state["rng"]["numpy"]["gauss"]))
