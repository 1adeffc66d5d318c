"""``lesionviewer-train average``: the weight mean of runs of one network, as a run folder that exports."""
from __future__ import annotations

import json

import pytest
import torch

from lesionviewer.commands.train_cli import main
from lesionviewer.detection.model_file import load_model
from lesionviewer.training.checkpoint import load_checkpoint
from lesionviewer.training.export import export_run
from lesionviewer.training.loop import RunError
from lesionviewer.training.weight_average import average_checkpoints


def test_the_average_is_the_weighted_mean_of_every_float_tensor(tmp_path, make_tiny_run):
    a, b = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "b", 2)
    out = average_checkpoints([a, b / "checkpoints" / "best.pt"], tmp_path / "soup", weights=[3, 1])
    mean = load_checkpoint(out)["model"]
    wa, wb = load_checkpoint(a / "checkpoints" / "best.pt")["model"], load_checkpoint(b / "checkpoints" / "best.pt")["model"]
    floats = [k for k, v in wa.items() if v.is_floating_point() and not torch.equal(v, wb[k])]
    assert len(floats) > 10  # the two seeds give different weights
    for key in floats:
        torch.testing.assert_close(mean[key], 0.75 * wa[key] + 0.25 * wb[key])
    sources = json.loads((tmp_path / "soup" / "summary.json").read_text())["averaged_from"]
    assert [s["share"] for s in sources] == [0.75, 0.25]


def test_the_average_exports_and_loads_as_a_model_file(tmp_path, make_tiny_run):
    a, b = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "b", 2)
    average_checkpoints([a, b], tmp_path / "soup")
    card = export_run(tmp_path / "soup", tmp_path / "soup.safetensors")
    assert card.name == "tiny"
    assert "a/checkpoints/best.pt x 0.5" in card.training_data["weight_average_of"]
    model, _ = load_model(tmp_path / "soup.safetensors")
    weights = dict(model.state_dict())
    reference = load_checkpoint(tmp_path / "soup" / "checkpoints" / "best.pt")["model"]
    key = next(k for k, v in reference.items() if v.is_floating_point() and v.numel() > 4)
    torch.testing.assert_close(weights[key], reference[key])


def test_different_networks_are_refused_naming_the_file(tmp_path, make_tiny_run):
    a, wide = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "wide", 2, width=8)
    with pytest.raises(ValueError, match=r"wide/checkpoints/best\.pt: tensor .* has shape"):
        average_checkpoints([a, wide], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_an_existing_average_is_never_overwritten(tmp_path, make_tiny_run):
    a, b = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "b", 2)
    first = average_checkpoints([a, b], tmp_path / "soup")
    before = first.read_bytes()
    with pytest.raises(RunError, match="already holds a checkpoint"):
        average_checkpoints([a, b], tmp_path / "soup", weights=[1, 9])
    assert first.read_bytes() == before


def test_the_command_line_writes_the_average_and_rejects_bad_input(tmp_path, capsys, make_tiny_run):
    a, b = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "b", 2)
    assert main(["average", "--checkpoint", str(a), "--checkpoint", str(b),
                 "--out-run-dir", str(tmp_path / "soup")]) == 0
    assert (tmp_path / "soup" / "checkpoints" / "best.pt").is_file()
    assert main(["average", "--checkpoint", str(a), "--out-run-dir", str(tmp_path / "one")]) == 2
    assert "two or more" in capsys.readouterr().err
    assert main(["average", "--checkpoint", str(a), "--checkpoint", str(b), "--weight", "1",
                 "--out-run-dir", str(tmp_path / "w")]) == 2
    assert "1 --weight for 2 --checkpoint" in capsys.readouterr().err
    assert main(["average", "--checkpoint", str(a), "--checkpoint", str(b), "--weight", "1", "--weight", "0",
                 "--out-run-dir", str(tmp_path / "z")]) == 5
    assert "must be positive" in capsys.readouterr().err
    assert main(["average", "--checkpoint", str(a), "--checkpoint", str(tmp_path / "missing.pt"),
                 "--out-run-dir", str(tmp_path / "m")]) == 5
    assert "missing.pt: checkpoint not found" in capsys.readouterr().err
