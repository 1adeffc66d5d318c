"""Model files: safetensors weights + JSON card round-trip; every bad file gives a clear ModelFileError."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import safetensors.torch
import torch

from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.model_card import CURRENT_LAYOUT, ModelCard
from lesionviewer.detection.model_file import (
    CARD_METADATA_KEY,
    ModelFileError,
    load_model,
    read_card,
    save_model,
)

# A few thousand parameters of the real small MP3D design: every test here runs in milliseconds.
TINY = dict(width=8, blocks=[1, 1, 1, 1], fpn_channels=32, representation_size=64,
            rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50)


def tiny_model(num_slices=3, **overrides):
    torch.manual_seed(0)
    return build_detector("mp3d_small", num_slices, **{**TINY, **overrides}).eval()


def tiny_card(**overrides):
    card = dict(name="tiny", architecture="mp3d_small", architecture_options=TINY, num_slices=3,
                slice_interval_mm=2.0, input_min_size=64, input_max_size=128,
                training_data={"dataset": "none (random weights)"}, metrics={"mAP@0.5": 0.0})
    card.update(overrides)
    return card


def write_raw(path, tensors, card_dict):
    metadata = {} if card_dict is None else {CARD_METADATA_KEY: json.dumps(card_dict)}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)


@pytest.fixture
def saved(tmp_path):
    model = tiny_model()
    path = tmp_path / "tiny.safetensors"
    save_model(path, model, tiny_card())
    return path, model


def test_round_trip_restores_weights_card_and_predictions(saved):
    path, original = saved
    loaded, card = load_model(path)
    assert card.name == "tiny" and card.num_slices == 3 and card.slice_interval_mm == 2.0
    assert card.metrics == {"mAP@0.5": 0.0} and card.layout_version == CURRENT_LAYOUT
    for name, tensor in original.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    # The card's resize rule is what the loaded network's own transform applies.
    assert loaded.transform.min_size == (64,) and loaded.transform.max_size == 128
    assert not loaded.training
    image = torch.linspace(0, 255, 3 * 64 * 64).reshape(3, 64, 64)
    original.transform.min_size, original.transform.max_size = (64,), 128
    with torch.inference_mode():
        expected, got = original([image])[0], loaded([image])[0]
    assert torch.allclose(expected["boxes"], got["boxes"]) and torch.allclose(expected["scores"], got["scores"])


def test_half_precision_weights_load_into_a_float32_network(tmp_path):
    model = tiny_model()
    path = tmp_path / "half.safetensors"
    write_raw(path, {k: v.half() for k, v in model.state_dict().items()}, ModelCard(**tiny_card()).to_dict())
    loaded, _ = load_model(path)
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor.half().float())
    assert not any(t.is_meta for t in loaded.parameters())


def test_card_is_read_without_torch(saved):
    path, _ = saved
    # A fresh interpreter where importing torch fails: reading the card must not need it.
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from lesionviewer.detection.model_file import read_card\n"
        f"print(read_card({str(path)!r}).architecture)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "mp3d_small"


def test_card_architecture_is_taken_from_the_factory_build_config(tmp_path):
    model = tiny_model(num_slices=5)
    card = save_model(tmp_path / "m.safetensors", model, {"name": "auto", "slice_interval_mm": 2.5})
    assert card.architecture == "mp3d_small" and card.num_slices == 5
    assert card.architecture_options["width"] == 8
    assert load_model(tmp_path / "m.safetensors")[1] == card


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_pickle_renamed_safetensors_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    payload = {"weights": torch.zeros(2), "x": _RunsCodeWhenUnpickled(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(ModelFileError, match="PyTorch checkpoint") as err:
        load_model(path)
    assert err.value.path == str(path)
    assert not marker.exists()


def test_a_truncated_file_is_reported_as_truncated(saved, tmp_path):
    path, _ = saved
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ModelFileError, match="truncated") as err:
        load_model(cut)
    assert "cut.safetensors" in str(err.value)


@pytest.mark.parametrize("data, message", [
    (b"", "only 0 bytes"),
    (b"hello, this is a text file and no model", "not a safetensors model"),
    (b"\x05\x00\x00\x00\x00\x00\x00\x00{abcd", "not valid JSON"),
    (b"\xff\xff\x00\x00\x00\x00\x00\x00{", "header claims"),
])
def test_garbage_files_are_refused(tmp_path, data, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=message):
        load_model(path)


def test_missing_file_and_folder_are_named(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "absent.safetensors")
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)


def test_a_safetensors_file_without_card_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    write_raw(path, tiny_model().state_dict(), None)
    with pytest.raises(ModelFileError, match="without a LesionViewer model card"):
        load_model(path)


def test_a_card_missing_fields_names_them(tmp_path):
    card = ModelCard(**tiny_card()).to_dict()
    del card["num_slices"], card["hu_clip"]
    path = tmp_path / "incomplete.safetensors"
    write_raw(path, tiny_model().state_dict(), card)
    with pytest.raises(ModelFileError, match="lacks required fields: hu_clip, num_slices"):
        load_model(path)


def test_a_card_with_an_impossible_value_is_refused(tmp_path):
    card = ModelCard(**tiny_card()).to_dict()
    card["slice_interval_mm"] = -1
    path = tmp_path / "neg.safetensors"
    write_raw(path, tiny_model().state_dict(), card)
    with pytest.raises(ModelFileError, match="slice_interval_mm must be positive"):
        load_model(path)


def test_an_unknown_architecture_is_named(tmp_path):
    card = ModelCard(**tiny_card()).to_dict()
    card["architecture"] = "resnet9000"
    path = tmp_path / "unknown.safetensors"
    write_raw(path, tiny_model().state_dict(), card)
    with pytest.raises(ModelFileError, match="unknown architecture 'resnet9000'.*mp3d63"):
        load_model(path)


def test_weights_of_another_shape_are_refused(tmp_path):
    # Weights of a 16-wide network under a card describing the 8-wide one.
    path = tmp_path / "wide.safetensors"
    write_raw(path, tiny_model(width=16).state_dict(), ModelCard(**tiny_card()).to_dict())
    with pytest.raises(ModelFileError, match="wrong shape"):
        load_model(path)


def test_missing_and_unexpected_tensors_are_listed(tmp_path):
    tensors = dict(tiny_model().state_dict())
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    tensors["extra.weight"] = torch.zeros(3)
    path = tmp_path / "edited.safetensors"
    write_raw(path, tensors, ModelCard(**tiny_card()).to_dict())
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert "1 missing tensors" in err.value.reason and dropped in err.value.reason
    assert "1 unexpected tensors (e.g. extra.weight)" in err.value.reason


def test_save_refuses_a_card_that_does_not_describe_the_model(tmp_path):
    path = tmp_path / "wrong.safetensors"
    with pytest.raises(ModelFileError, match="does not match its card"):
        save_model(path, tiny_model(num_slices=5), tiny_card(num_slices=3))
    assert not path.exists()


def test_a_layout_1_card_still_loads(tmp_path):
    layout_1 = {
        "layout_version": 1, "model_name": "early", "arch": "mp3d_small", "arch_options": TINY,
        "slices": 3, "interval_mm": 2.5, "window": [-1024, 1050], "trained_on": "DeepLesion train split",
        "metrics": {"sensitivity@4fp": 0.5}, "library_version": "0.0.1", "created": "2026-01-01T00:00:00Z",
    }
    path = tmp_path / "old.safetensors"
    write_raw(path, tiny_model().state_dict(), layout_1)
    model, card = load_model(path)
    assert (card.name, card.architecture, card.num_slices, card.slice_interval_mm) == ("early", "mp3d_small", 3, 2.5)
    assert card.training_data == {"description": "DeepLesion train split"}
    assert card.pixel_mean == 123.675 and card.input_min_size == 512 and card.layout_version == CURRENT_LAYOUT
    assert model.transform.min_size == (512,)


def test_a_card_from_a_newer_version_asks_for_an_update(tmp_path):
    card = ModelCard(**tiny_card()).to_dict()
    card["layout_version"] = CURRENT_LAYOUT + 1
    path = tmp_path / "future.safetensors"
    write_raw(path, tiny_model().state_dict(), card)
    with pytest.raises(ModelFileError, match="update LesionViewer"):
        read_card(path)


def test_numpy_and_torch_metric_values_are_stored_as_numbers(tmp_path):
    import numpy as np

    path = tmp_path / "m.safetensors"
    metrics = {"map50": np.float32(0.5), "sens": torch.tensor([0.25, 0.75]), "n": np.int64(3)}
    save_model(path, tiny_model(), tiny_card(metrics=metrics))
    assert read_card(path).metrics == {"map50": 0.5, "sens": [0.25, 0.75], "n": 3}


def test_a_card_value_json_cannot_store_is_a_clear_error(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ModelFileError, match="JSON cannot store"):
        save_model(path, tiny_model(), tiny_card(metrics={"when": object()}))
    assert not path.exists()


def test_a_metric_that_is_not_a_number_is_stored_as_null(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, tiny_model(), tiny_card(metrics={"map": float("nan"), "sens": [1.0, float("inf")]}))
    assert read_card(path).metrics == {"map": None, "sens": [1.0, None]}
