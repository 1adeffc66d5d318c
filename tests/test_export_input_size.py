"""``lesionviewer-train export --input-size``: the card tells the engine the size it reads slices at."""
from __future__ import annotations

from lesionviewer.commands.train_cli import main
from lesionviewer.detection.model_file import read_card


def test_export_writes_the_chosen_input_size_into_the_card(tmp_path, make_tiny_run):
    run = make_tiny_run(tmp_path / "run", 1)
    assert main(["export", "--run-dir", str(run), "--out", str(tmp_path / "plain.safetensors")]) == 0
    assert main(["export", "--run-dir", str(run), "--out", str(tmp_path / "large.safetensors"),
                 "--input-size", "96"]) == 0
    plain, large = read_card(tmp_path / "plain.safetensors"), read_card(tmp_path / "large.safetensors")
    assert (plain.input_min_size, plain.input_max_size) == (64, 64)  # the run's data.test_size
    assert (large.input_min_size, large.input_max_size) == (96, 96)  # never below the shorter side


def test_a_size_that_is_not_positive_is_refused(tmp_path, make_tiny_run, capsys):
    run = make_tiny_run(tmp_path / "run", 1)
    assert main(["export", "--run-dir", str(run), "--out", str(tmp_path / "m.safetensors"),
                 "--input-size", "0"]) == 5
    assert "input size must be a positive number of pixels (got 0)" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
