"""The risk model file (safetensors + risk card) and the API the viewer calls (RiskModel, RiskResult)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lesionviewer.io import LoadCancelled, Volume
from lesionviewer.risk.intensity import normalise_crop
from lesionviewer.risk.model import RiskModel, RiskResult, is_risk_model_file
from lesionviewer.risk.model_file import RiskModelFileError, read_risk_card, save_risk_model
from lesionviewer.risk.networks import build_risk_network
from lesionviewer.risk.phantom_cohort import LABEL_RULE, generate_chest_case
from lesionviewer.risk.preprocess import PreprocessSettings, preprocess_volume

SETTINGS = {"voxel_mm": 8.0, "crop_shape": [36, 28, 44]}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    net = build_risk_network("mp3d", {"width": 8, "blocks": [1, 1, 1, 1]})
    path = tmp_path_factory.mktemp("risk_model") / "risk.safetensors"
    save_risk_model(path, net, {"name": "tiny risk", "preprocessing": SETTINGS, "label_rule": LABEL_RULE,
                                "intensity": {"hu_window": [-1000.0, 300.0]},
                                "training_data": {"description": "synthetic phantoms, not for clinical use"},
                                "metrics": {"test": {"auc": 0.5}}, "command": "pytest"})
    return path


def test_card_round_trip_and_task(model_path):
    card = read_risk_card(model_path)
    assert card["task"] == "risk" and card["name"] == "tiny risk"
    assert card["backbone"] == "mp3d" and card["backbone_options"] == {"width": 8, "blocks": [1, 1, 1, 1]}
    assert card["preprocessing"] == {**SETTINGS, "lung_threshold_hu": -400.0, "mask_outside_lungs": False,
                                     "mask_closing_mm": 20.0, "mask_margin_mm": 0.0}
    assert card["intensity"] == {"hu_window": [-1000.0, 300.0], "mean": 0.5, "std": 0.5}
    assert card["label_rule"] == LABEL_RULE and card["metrics"]["test"]["auc"] == 0.5
    assert is_risk_model_file(model_path)


def test_prediction_matches_the_training_path(model_path):
    model = RiskModel.from_file(model_path)
    case = generate_chest_case(11, positive=True, matrix=64)
    seen = []
    result = model.predict(case.volume, progress=lambda f, m: seen.append((f, m)))
    # The same crop and window the training data gets, through the network by hand.
    crop, meta = preprocess_volume(case.volume, PreprocessSettings(8.0, (36, 28, 44)))
    x = torch.from_numpy(normalise_crop(crop, (-1000.0, 300.0)))[None, None]
    with torch.no_grad():
        logit = float(model.network(x))
    assert result.logit == pytest.approx(logit, abs=1e-6)
    assert result.probability == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-9)
    assert result.model_name == model.name == "tiny risk" and result.lung_found and result.note == ""
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert result.to_dict() == dataclasses.asdict(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.probability = 1.0  # type: ignore[misc]


def test_cancel_raises_load_cancelled(model_path):
    model = RiskModel.from_file(model_path)
    volume = generate_chest_case(12, positive=False, matrix=48).volume
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= 2  # allow the first stage, stop before the lung mask

    with pytest.raises(LoadCancelled, match="risk scoring was cancelled"):
        model.predict(volume, cancel=cancel)


def test_no_lungs_gives_a_note(model_path):
    result = RiskModel.from_file(model_path).predict(Volume(np.full((12, 40, 40), 40, np.int16), (5.0, 4.0, 4.0)))
    assert isinstance(result, RiskResult) and not result.lung_found
    assert "no lungs were found" in result.note and 0.0 <= result.probability <= 1.0


def test_bad_files_are_named(tmp_path, model_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        RiskModel.from_file(missing)
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    detector = tmp_path / "detector.safetensors"
    save_model(detector, build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32),
               {"name": "det", "slice_interval_mm": 2.5})
    with pytest.raises(ValueError, match="detector.safetensors: this is a LesionViewer lesion detector file"):
        RiskModel.from_file(detector)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(model_path.read_bytes()[:-100])
    with pytest.raises(RiskModelFileError, match="truncated.safetensors: the file is truncated"):
        RiskModel.from_file(truncated)
    pickle = tmp_path / "pickle.safetensors"
    torch.save({"w": torch.ones(1)}, pickle)
    with pytest.raises(ValueError, match="pickle.safetensors: this is a PyTorch checkpoint"):
        RiskModel.from_file(pickle)
    assert not any(is_risk_model_file(p) for p in (missing, detector, truncated, pickle, tmp_path))


def test_a_deeply_nested_risk_card_is_a_clear_error_not_a_recursion_error(tmp_path):
    # Issue 14, item 9.
    import json as _json
    import struct

    from lesionviewer.risk.model_card import RISK_CARD_KEY
    from lesionviewer.risk.model_file import RiskModelFileError, read_risk_card

    header = _json.dumps({"__metadata__": {RISK_CARD_KEY: "[" * 100000 + "]" * 100000}}).encode()
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(RiskModelFileError, match="nested too deeply"):
        read_risk_card(path)
