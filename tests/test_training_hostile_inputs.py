"""Issue 14, items 8, 9 and 14: the trainer refuses bad configs and data at once, with its documented
exit code and one clear line; non-finite weights stop training and are refused by export and the engine."""
from __future__ import annotations

import csv
import io
import time

import pytest
import torch

from lesionviewer.training import cli
from lesionviewer.training.toy_data import write_toy_deeplesion

from test_training_run import tiny_config_file


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_toy_deeplesion(tmp_path_factory.mktemp("toy"), patients=4, size=64, slices=6)


def run_train(tmp_path, config, *overrides):
    argv = ["train", "--config", config, "--run-dir", str(tmp_path / "run")]
    for item in overrides:
        argv += ["--set", item]
    start = time.monotonic()
    code = cli.main(argv)
    return code, time.monotonic() - start


def rewrite_table(root, change):
    """Rewrite DL_info.csv with ``change(row)`` applied to every data row (a list of cells)."""
    path = root / "DL_info.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow(change(list(row)))
    path.write_text(out.getvalue())


@pytest.mark.parametrize("override, field", [
    ("model.options.width=-8", "model.options.width"),
    ("model.options.blocks=[2000, 2000, 2000, 2000]", "model.options.blocks"),
    ("data.max_size=0", "data.max_size"),
    ("data.num_slices=100000", "data.num_slices"),
    ("eval.fps=[]", "eval.fps"),
    ("data.hflip=7", "data.hflip"),
    ("optim.lr=inf", "optim.lr"),
    ("optim.lr=nan", "optim.lr"),
])
def test_a_bad_config_value_is_refused_at_once_with_exit_code_2(tmp_path, toy_root, capsys, override, field):
    code, seconds = run_train(tmp_path, tiny_config_file(tmp_path, toy_root), override)
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE, err
    assert field in err and "Traceback" not in err
    assert seconds < 10
    assert not (tmp_path / "run" / "checkpoints").exists()


def _copy_of(toy_root, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(toy_root, root)
    return root


def _set_box(text):
    def change(row):
        row[6] = text
        return row
    return change


@pytest.mark.parametrize("damage, words", [
    (lambda root: __import__("shutil").rmtree(root), "no such folder"),
    (lambda root: (root / "DL_info.csv").write_text(""), "DL_info.csv"),
    (lambda root: (root / "DL_info.csv").write_bytes(b"\x00\xff garbage, not a table\n\x01"), "DL_info.csv"),
    (lambda root: (root / "DL_info.csv").write_text("File_name,Patient_index\n"), "DL_info.csv"),
    (lambda root: rewrite_table(root, _set_box("30, 30, 10, 10")), "inverted"),
    (lambda root: rewrite_table(root, _set_box("nan, 8.5, 21.5, 14.5")), "4 finite numbers"),
    (lambda root: (root / "DL_info.csv").unlink(), "annotation table is missing"),
])
def test_bad_training_data_is_refused_before_any_work_with_exit_code_5(tmp_path, toy_root, capsys, damage, words):
    root = _copy_of(toy_root, tmp_path)
    config = tiny_config_file(tmp_path, root)
    damage(root)
    code, seconds = run_train(tmp_path, config)
    err = capsys.readouterr().err
    assert code == cli.EXIT_DATA, err
    assert words in err and "Traceback" not in err
    assert seconds < 10
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_empty_validation_split_is_named_as_such(tmp_path, toy_root, capsys):
    root = _copy_of(toy_root, tmp_path)

    def no_validation(row):
        row[-1] = "1" if row[-1] == "2" else row[-1]
        return row

    rewrite_table(root, no_validation)
    code, _ = run_train(tmp_path, tiny_config_file(tmp_path, root))
    err = capsys.readouterr().err
    assert code == cli.EXIT_DATA
    assert "the validation split is empty" in err and "FROC" not in err


def test_weights_made_non_finite_by_a_step_stop_training_with_exit_code_3(tmp_path, toy_root, capsys, monkeypatch):
    from lesionviewer.training.config import TrainingConfig

    # The config check refuses lr = inf (test above); switched off here, the loop's own check must catch
    # the step that makes every weight NaN (the run exited 0 with such weights).
    monkeypatch.setattr(TrainingConfig, "validate", lambda self, source="config": None)
    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 2, "milestones": [], "warmup_iters": 0,
                                                         "grad_clip": 0.0})
    code, _ = run_train(tmp_path, config, "optim.lr=inf", "train.max_nonfinite=1000")
    err = capsys.readouterr().err
    assert code == cli.EXIT_NONFINITE, err
    assert "NaN or infinite" in err and "Lower optim.lr" in err
    assert not (tmp_path / "run" / "summary.json").exists()


def test_export_and_the_engine_refuse_non_finite_weights(tmp_path, toy_root, capsys):
    from lesionviewer.detection.engine import Detector
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import ModelFileError, save_model
    from lesionviewer.training.checkpoint import load_checkpoint, save_checkpoint

    config = tiny_config_file(tmp_path, toy_root, optim={"epochs": 1, "milestones": []},
                              train={"stop_after_steps": 1}, eval={"every_epochs": 0, "test_at_end": False})
    code, _ = run_train(tmp_path, config)
    assert code == cli.EXIT_OK
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = torch.full_like(state["model"][name], float("nan"))
    save_checkpoint(last, state)
    out = tmp_path / "model.safetensors"
    assert cli.main(["export", "--run-dir", str(tmp_path / "run"), "--checkpoint", "last", "--out", str(out)]) == cli.EXIT_DATA
    assert "NaN or infinity" in capsys.readouterr().err and not out.exists()

    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64)
    with torch.no_grad():
        next(net.parameters()).fill_(float("inf"))
    path = tmp_path / "inf.safetensors"
    save_model(path, net, {"name": "diverged", "slice_interval_mm": 2.0})
    with pytest.raises(ModelFileError, match="NaN or infinity"):
        Detector.from_file(path, device="cpu")
