"""Model files: safetensors weights + JSON card round-trip; every bad file gives a clear ModelFileError."""
from __future__ import annotations

import json
import pickle
import struct
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


# Found by mutation testing (issue 18)

PREDICTOR = "roi_heads.box_predictor."  # FastRCNNPredictor(64, 2): cls_score Linear(64, 2), bbox_pred Linear(64, 2 * 4)


def stored_header(path):
    """The JSON header of a safetensors file, read by the format's spec: an 8-byte little-endian length, then JSON."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length])


def rewrite_header(path, change):
    """Apply ``change`` to a safetensors file's JSON header and write it back with its new 8-byte length."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    change(header)
    text = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])


def write_card_text(path, text):
    safetensors.torch.save_file({}, str(path), metadata={CARD_METADATA_KEY: text})
    return path


def load_error(path):
    with pytest.raises(ModelFileError) as err:
        load_model(path)
    assert err.value.path == str(path)
    return err.value.reason


def test_a_file_without_card_names_the_missing_metadata_key(tmp_path):
    path = tmp_path / "plain.safetensors"
    write_raw(path, {"w": torch.zeros(2)}, None)
    with pytest.raises(ModelFileError) as err:
        read_card(path)
    assert err.value.path == str(path)
    assert err.value.reason == ("a safetensors file without a LesionViewer model card (no 'lesionviewer.model_card' "
                                "metadata); it is not a LesionViewer detector file")


def test_a_card_of_exactly_the_size_limit_is_read_and_one_character_more_is_not(tmp_path):
    # The limit is 1 MiB of characters: 1024 * 1024 = 1_048_576. JSON allows whitespace after the value,
    # so padding the card's JSON with spaces makes it exactly that long without changing the card.
    text = json.dumps(ModelCard(**tiny_card()).to_dict())
    at_limit = write_card_text(tmp_path / "at.safetensors", text + " " * (1_048_576 - len(text)))
    assert read_card(at_limit).name == "tiny"
    over = write_card_text(tmp_path / "over.safetensors", text + " " * (1_048_577 - len(text)))
    with pytest.raises(ModelFileError) as err:
        read_card(over)
    assert err.value.path == str(over)
    assert err.value.reason == ("the model card is 1048577 characters long; a card is at most 1048576 "
                                "(refused unread)")


@pytest.mark.parametrize("text, reason", [
    ("{not json", "the model card is not valid JSON"),
    ("[" * 50_000 + "]" * 50_000, "the model card is nested too deeply to be a model card"),
])
def test_a_card_that_cannot_be_parsed_is_refused_naming_the_file(tmp_path, text, reason):
    path = write_card_text(tmp_path / "m.safetensors", text)
    with pytest.raises(ModelFileError) as err:
        read_card(path)
    assert (err.value.path, err.value.reason) == (str(path), reason)


def test_weights_that_safetensors_refuses_are_reported_naming_the_file(saved):
    # The safetensors format allows only strings as __metadata__ values: an integer passes the header
    # checks made without torch (the card is still readable) but not safetensors' own reader.
    path, _ = saved
    rewrite_header(path, lambda header: header["__metadata__"].update(extra=1))
    assert read_card(path).name == "tiny"
    assert load_error(path).startswith("cannot read the weights (")


def test_loading_does_not_draw_from_the_random_stream(saved):
    # The network is built on the meta device (no random initialisation): a seeded run is not disturbed.
    path, _ = saved
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    load_model(path)
    assert torch.equal(torch.rand(4), expected)


def test_saving_does_not_draw_from_the_random_stream(tmp_path):
    model = tiny_model()
    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    save_model(tmp_path / "m.safetensors", model, tiny_card())
    assert torch.equal(torch.rand(4), expected)


def test_a_buffer_outside_the_state_dict_is_built_for_real(saved, monkeypatch):
    from lesionviewer.detection import factory

    path, original = saved
    build = factory.build_detector

    def with_scale_buffer(*args, **kwargs):
        net = build(*args, **kwargs)
        net.register_buffer("scale", torch.full((2,), 2.5), persistent=False)  # not in the file
        return net

    monkeypatch.setattr(factory, "build_detector", with_scale_buffer)
    loaded, card = load_model(path)
    assert torch.equal(loaded.scale, torch.tensor([2.5, 2.5]))
    assert not any(t.is_meta for t in (*loaded.parameters(), *loaded.buffers()))
    for name, tensor in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert loaded.transform.min_size == (64,) and card.name == "tiny"


def test_a_network_that_cannot_be_built_on_meta_is_checked_on_the_cpu(tmp_path, monkeypatch):
    from lesionviewer.detection import factory

    build = factory.build_detector

    def refuses_meta(*args, **kwargs):
        if torch.empty(0).device.type == "meta":
            raise NotImplementedError("this layer cannot be built on the meta device")
        return build(*args, **kwargs)

    monkeypatch.setattr(factory, "build_detector", refuses_meta)
    path = tmp_path / "m.safetensors"
    assert save_model(path, tiny_model(), tiny_card()).name == "tiny"
    assert read_card(path).name == "tiny"


def test_an_error_while_the_network_takes_its_weights_names_the_file(saved, monkeypatch):
    from lesionviewer.detection import factory

    path, _ = saved
    build = factory.build_detector

    def refusing_weights(*args, **kwargs):
        net = build(*args, **kwargs)

        def refuse(*_):
            raise RuntimeError("refused by the network")

        net.register_load_state_dict_pre_hook(refuse)
        return net

    monkeypatch.setattr(factory, "build_detector", refusing_weights)
    assert load_error(path) == "the weights do not fit the architecture: refused by the network"


def test_a_network_without_transform_is_left_alone():
    from types import SimpleNamespace

    from lesionviewer.detection.model_file import apply_card_to_transform

    net = SimpleNamespace()
    assert apply_card_to_transform(net, ModelCard(**tiny_card())) is None
    assert vars(net) == {}


def test_the_model_is_moved_to_the_device_asked_for(saved):
    path, _ = saved
    model, _ = load_model(path, device="meta")  # a device every machine has; "cpu" is the default
    assert {t.device.type for t in model.parameters()} == {"meta"}


@pytest.mark.parametrize("changes, reason", [
    (dict(colour="red"),
     "cannot write the model: bad model card (ModelCard.__init__() got an unexpected keyword argument 'colour')"),
    (dict(slice_interval_mm=-1),
     "cannot write the model: the model card is invalid: slice_interval_mm must be positive (got -1.0)"),
    (dict(architecture="resnet9000"), "the model card names an unknown architecture 'resnet9000' (this"),
])
def test_save_refuses_a_bad_card_naming_the_file(tmp_path, changes, reason):
    path = tmp_path / "bad.safetensors"
    with pytest.raises(ModelFileError) as err:
        save_model(path, tiny_model(), tiny_card(**changes))
    assert err.value.path == str(path)
    assert err.value.reason.startswith(reason)
    assert not path.exists()


def test_the_saved_metadata_declares_the_pytorch_format_and_sorted_card_keys(saved):
    path, _ = saved
    metadata = stored_header(path)["__metadata__"]
    # "format": "pt" is the safetensors convention for PyTorch weights (transformers checks it).
    assert set(metadata) == {"format", "lesionviewer.model_card"} and metadata["format"] == "pt"
    keys = [key for key, _ in json.loads(metadata["lesionviewer.model_card"], object_pairs_hook=list)]
    assert keys == sorted(keys) and keys[:3] == ["architecture", "architecture_options", "created"]


def test_a_network_without_build_config_is_saved_from_a_full_card(tmp_path):
    model = tiny_model()
    del model.build_config  # a network not made by the factory
    path = tmp_path / "m.safetensors"
    assert save_model(path, model, tiny_card()).architecture_options["width"] == 8
    assert read_card(path).architecture == "mp3d_small"


def test_a_card_that_names_its_architecture_is_taken_as_written(tmp_path):
    # No options in the card: it describes the default mp3d_small (width 16), not this 8-wide network.
    card = {"name": "m", "architecture": "mp3d_small", "num_slices": 3, "slice_interval_mm": 2.0}
    with pytest.raises(ModelFileError, match="does not match its card"):
        save_model(tmp_path / "m.safetensors", tiny_model(), card)


def test_the_class_count_is_recorded_only_when_it_is_not_two(tmp_path):
    two = save_model(tmp_path / "two.safetensors", tiny_model(), {"name": "two", "slice_interval_mm": 2.0})
    assert "num_classes" not in two.architecture_options
    three = save_model(tmp_path / "three.safetensors", tiny_model(num_classes=3), {"name": "three", "slice_interval_mm": 2.0})
    assert three.architecture_options["num_classes"] == 3
    loaded, _ = load_model(tmp_path / "three.safetensors")
    assert loaded.roi_heads.box_predictor.cls_score.out_features == 3  # background + 2 classes


def test_a_minimal_build_config_fills_only_architecture_and_slices(tmp_path):
    model = build_detector("mp3d_small", 3)  # every option at its default
    model.build_config = {"arch": "mp3d_small", "num_slices": 3}  # no options, no class count recorded
    card = save_model(tmp_path / "m.safetensors", model, {"name": "m", "slice_interval_mm": 2.0})
    assert (card.architecture, card.num_slices, card.architecture_options) == ("mp3d_small", 3, {})


def test_an_option_the_architecture_rejects_is_named(tmp_path):
    card = ModelCard(**tiny_card()).to_dict()
    card["architecture_options"] = {"colour": "red"}
    path = write_card_text(tmp_path / "m.safetensors", json.dumps(card))
    assert load_error(path).startswith("the architecture 'mp3d_small' rejects the card's settings "
                                       "(num_slices=3, options={'colour': 'red'}): unknown option 'colour'")


def test_the_known_architectures_are_listed_comma_separated(tmp_path, monkeypatch):
    from lesionviewer.detection import factory

    monkeypatch.setattr(factory, "ARCHITECTURES", ("mp3d63", "mp3d_small"))
    path = write_card_text(tmp_path / "m.safetensors", json.dumps(ModelCard(**tiny_card(architecture="resnet9000")).to_dict()))
    assert load_error(path) == ("the model card names an unknown architecture 'resnet9000' "
                                "(this LesionViewer builds: mp3d63, mp3d_small)")


def test_missing_and_unexpected_tensors_list_the_first_three_of_each(tmp_path):
    tensors = dict(tiny_model().state_dict())
    for name in ("bbox_pred.bias", "bbox_pred.weight", "cls_score.bias", "cls_score.weight"):
        del tensors[PREDICTOR + name]
    tensors.update({f"extra.{c}": torch.zeros(1) for c in "abcd"})
    path = tmp_path / "edited.safetensors"
    write_raw(path, tensors, ModelCard(**tiny_card()).to_dict())
    assert load_error(path) == (
        "the weights do not fit the architecture in the card: 4 missing tensors (e.g. "
        f"{PREDICTOR}bbox_pred.bias, {PREDICTOR}bbox_pred.weight, {PREDICTOR}cls_score.bias); "
        "4 unexpected tensors (e.g. extra.a, extra.b, extra.c)"
    )


def test_tensors_of_the_wrong_shape_list_the_first_three_with_both_shapes(tmp_path):
    tensors = dict(tiny_model().state_dict())
    for name in ("bbox_pred.bias", "bbox_pred.weight", "cls_score.bias", "cls_score.weight"):
        tensors[PREDICTOR + name] = torch.zeros(1)
    path = tmp_path / "reshaped.safetensors"
    write_raw(path, tensors, ModelCard(**tiny_card()).to_dict())
    # Linear(64, 8) has weight [8, 64] and bias [8]; Linear(64, 2) bias [2].
    assert load_error(path) == (
        "the weights do not fit the architecture in the card: 4 tensors of the wrong shape (e.g. "
        f"{PREDICTOR}bbox_pred.bias: [1] instead of [8], {PREDICTOR}bbox_pred.weight: [1] instead of [8, 64], "
        f"{PREDICTOR}cls_score.bias: [1] instead of [2])"
    )


def test_only_missing_or_only_unexpected_tensors_are_each_refused(tmp_path):
    full = dict(tiny_model().state_dict())
    missing = {k: v for k, v in full.items() if k != PREDICTOR + "cls_score.bias"}
    write_raw(tmp_path / "missing.safetensors", missing, ModelCard(**tiny_card()).to_dict())
    assert load_error(tmp_path / "missing.safetensors") == (
        f"the weights do not fit the architecture in the card: 1 missing tensors (e.g. {PREDICTOR}cls_score.bias)")
    write_raw(tmp_path / "extra.safetensors", {**full, "extra.weight": torch.zeros(3)}, ModelCard(**tiny_card()).to_dict())
    assert load_error(tmp_path / "extra.safetensors") == (
        "the weights do not fit the architecture in the card: 1 unexpected tensors (e.g. extra.weight)")


def test_a_model_its_card_does_not_describe_is_refused_with_the_writing_message(tmp_path):
    path = tmp_path / "wrong.safetensors"
    with pytest.raises(ModelFileError) as err:
        save_model(path, tiny_model(num_slices=5), tiny_card(num_slices=3))
    assert err.value.path == str(path)
    assert err.value.reason.startswith("the model does not match its card: ")


def test_a_network_that_cannot_be_built_on_meta_still_loads(saved, monkeypatch):
    from lesionviewer.detection import factory

    path, original = saved
    build = factory.build_detector

    def refuses_meta(*args, **kwargs):
        if torch.empty(0).is_meta:  # inside `with torch.device("meta")`
            raise NotImplementedError("a layer that computes with its weights while it is built")
        return build(*args, **kwargs)

    monkeypatch.setattr(factory, "build_detector", refuses_meta)
    loaded, card = load_model(path)
    assert not any(t.is_meta for t in loaded.parameters())
    for name, tensor in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert card.name == "tiny"


def test_the_model_fingerprint_follows_the_file_bytes_and_names_a_missing_file(tmp_path):
    from lesionviewer.detection.model_fingerprint import model_fingerprint

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"first weights")
    first = model_fingerprint(path)
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 16
    assert model_fingerprint(tmp_path / "." / "model.safetensors") == first  # the same file by another path
    path.write_bytes(b"second weights, saved over the first")
    assert model_fingerprint(path) != first
    with pytest.raises(FileNotFoundError, match="gone.safetensors"):
        model_fingerprint(tmp_path / "gone.safetensors")
