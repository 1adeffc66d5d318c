"""A model card's declared sizes are checked before anything is built from them (issue 14, item 6)."""
from __future__ import annotations

import json
import time
import tracemalloc

import pytest
import safetensors.torch

from lesionviewer.detection.model_card import ModelCard, ModelCardError
from lesionviewer.detection.model_file import CARD_METADATA_KEY, MAX_CARD_CHARS, ModelFileError, load_model, read_card

TINY = dict(width=8, blocks=[1, 1, 1, 1], fpn_channels=32, representation_size=64)


def card_dict(**changes):
    card = ModelCard(name="tiny", architecture="mp3d_small", architecture_options=TINY, num_slices=3,
                     slice_interval_mm=2.0, input_min_size=64, input_max_size=128).to_dict()
    card.update(changes)
    return card


def write_card_only(path, card):
    """A safetensors file holding no tensors, only the card: enough for every check made before building."""
    text = card if isinstance(card, str) else json.dumps(card)
    safetensors.torch.save_file({}, str(path), metadata={CARD_METADATA_KEY: text})
    return path


@pytest.mark.parametrize("changes, phrase", [
    (dict(input_min_size=40000, input_max_size=40000), "input_min_size 40000 is larger than 4096"),
    (dict(input_max_size=100000), "input_max_size 100000 is larger than 4096"),
    (dict(num_slices=100000), "num_slices 100000 is more than 128"),
    (dict(size_divisible=1 << 20), "size_divisible"),
    (dict(slice_interval_mm=1e9), "slice_interval_mm"),
    (dict(architecture_options={**TINY, "blocks": [2000] * 4}), "more than 64 blocks in a stage"),
    (dict(architecture_options={**TINY, "width": 10**7}), "width 10000000 is outside"),
    (dict(architecture_options={**TINY, "rpn_pre_nms_top_n_test": 10**12}), "rpn_pre_nms_top_n_test"),
    (dict(name="x" * 100_000), "name is 100000 characters long"),
    (dict(description="d" * 200_000), "description is 200000 characters long"),
    (dict(metrics={"curve": list(range(100_000))}), "metrics is larger than"),
])
def test_implausible_declared_sizes_are_refused_before_building(tmp_path, changes, phrase):
    path = write_card_only(tmp_path / "m.safetensors", card_dict(**changes))
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=phrase):
        load_model(path)
    assert time.perf_counter() - start < 2.0  # blocks=[2000]*4 used to take 23 s and 1 GB before refusal


def test_a_huge_card_string_is_refused_unread(tmp_path):
    text = json.dumps(card_dict(description="")) [:-1] + ', "pad": "' + "p" * (MAX_CARD_CHARS + 10) + '"}'
    path = write_card_only(tmp_path / "huge.safetensors", text)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="a card is at most"):
            read_card(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_a_deeply_nested_card_is_a_clear_error(tmp_path):
    path = write_card_only(tmp_path / "deep.safetensors", "[" * 50_000 + "]" * 50_000)
    with pytest.raises(ModelFileError):
        read_card(path)


def test_the_shipped_demo_card_is_within_every_limit():
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "resources" / "models" / "demo_mp3d_small.safetensors"
    assert read_card(demo).name


def test_sane_cards_still_build():
    card = ModelCard(name="m", architecture="mp3d63", num_slices=9, slice_interval_mm=2.5,
                     architecture_options={"blocks": [3, 8, 36, 3]}, input_min_size=800, input_max_size=1333)
    assert card.architecture_options["blocks"] == [3, 8, 36, 3]
    with pytest.raises(ModelCardError):
        ModelCard(name="m", architecture="mp3d63", num_slices=9, slice_interval_mm=2.5,
                  architecture_options={"blocks": [3, 8, 36.5, 3]})
