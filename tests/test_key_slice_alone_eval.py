"""``eval.key_slice_alone``: evaluation reads every key slice alone, repeated as its own context (as the goals are scored)."""
from __future__ import annotations

import json
import types

import pytest
import torch

from lesionviewer.training.config import ConfigError, TrainingConfig
from lesionviewer.training.ensemble_scores import StoredDetectionsError, score_combinations
from lesionviewer.training.evaluate import evaluate_split, score_split, write_evaluation
from lesionviewer.training.splits import build_split_datasets
from lesionviewer.training.toy_data import write_toy_deeplesion


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_toy_deeplesion(tmp_path_factory.mktemp("toy"), patients=8, size=32, slices=8)


def _config(root, alone: bool) -> TrainingConfig:
    return TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3, "slice_interval_mm": 2.0},
                                     "eval": {"key_slice_alone": alone, "fps": [0.5, 4.0]}})


def test_evaluated_stacks_are_the_key_slice_repeated_and_nothing_else_changes(toy_root):
    with_context = build_split_datasets(_config(toy_root, False), splits=("val", "test"))
    alone = build_split_datasets(_config(toy_root, True), splits=("val", "test"))
    for split in ("val", "test"):
        assert len(alone[split]) == len(with_context[split]) > 0
        for index in range(len(alone[split])):
            stack, target = alone[split][index]
            context, context_target = with_context[split][index]
            assert stack.shape == context.shape == (3, 32, 32)
            for depth in range(3):  # every slice is the key slice the context reading has in its middle
                assert torch.equal(stack[depth], context[1])
            assert not torch.equal(context[0], context[1])  # the toy series' neighbours do differ
            assert torch.equal(target["boxes"], context_target["boxes"])


def test_training_stacks_keep_their_context(toy_root):
    cfg = _config(toy_root, True)
    train = build_split_datasets(cfg, splits=("train",))["train"]
    assert train.key_slice_alone is False
    for index in range(len(train)):  # the samples the trainer reads (flips drawn, no repeat: data.repeat_key_slice 0)
        stack, _ = train[(0, index)]
        assert not torch.equal(stack[0], stack[1]) and not torch.equal(stack[2], stack[1])


class _ContextSensitive(torch.nn.Module):
    """Finds the lesion box scored by how much the context differs from the key slice (0 when read alone)."""

    transform = types.SimpleNamespace(min_size=(32,))

    def __init__(self, boxes):
        super().__init__()
        self.boxes = boxes

    def forward(self, images):
        out = []
        for image in images:
            spread = float((image[0] - image[1]).abs().mean() + (image[2] - image[1]).abs().mean())
            out.append({"boxes": self.boxes.clone(), "scores": torch.full((len(self.boxes),), min(spread, 1.0))})
        return out


def test_the_reading_reaches_the_model_and_is_recorded(toy_root, tmp_path):
    results = {}
    for alone in (False, True):
        cfg = _config(toy_root, alone)
        dataset = build_split_datasets(cfg, splits=("val",))["val"]
        truth = dataset[0][1]["boxes"]
        metrics, detections, _ = evaluate_split(_ContextSensitive(truth), dataset, cfg)
        results[alone] = (metrics, detections)
        assert metrics["key_slice_alone"] is alone
        write_evaluation(tmp_path / str(alone), "val", metrics, detections, [truth] * len(detections))
    # with its context each image's boxes score above 0; alone they score exactly 0
    assert all(float(d[:, 4].min()) > 0 for d in results[False][1])
    assert all(float(d[:, 4].max()) == 0.0 for d in results[True][1])
    assert json.loads((tmp_path / "True" / "val.json").read_text())["key_slice_alone"] is True
    assert json.loads((tmp_path / "False" / "val.json").read_text())["key_slice_alone"] is False
    # score_split names the reading too, so an ensemble's per-member records (scored by it alone) carry it
    dataset = build_split_datasets(_config(toy_root, True), splits=("val",))["val"]
    assert score_split(results[True][1], dataset, _config(toy_root, True))[0]["key_slice_alone"] is True
    assert score_split(results[True][1], [(None, {"boxes": torch.zeros((0, 4))})] * len(results[True][1]),
                       _config(toy_root, True))[0]["key_slice_alone"] is False


def _record(folder, name, alone):
    rows = [{"image": "k", "boxes": [[0, 0, 8, 8]], "scores": [0.9]}]
    record = {"detections": rows}
    if alone is not None:
        record["key_slice_alone"] = alone
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record))
    return path


def test_ensemble_scores_refuses_records_of_two_readings(tmp_path):
    items = [(None, {"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0]])})]
    cfg = TrainingConfig.from_dict({"eval": {"fps": [0.5]}})
    alone_a, alone_b = _record(tmp_path, "a", True), _record(tmp_path, "b", True)
    assert [r["sensitivity"]["0.5"] for r in score_combinations([alone_a, alone_b], items, cfg)] == [1.0, 1.0, 1.0]
    older = _record(tmp_path, "older", None)  # records written before the option read with their context
    context = _record(tmp_path, "context", False)
    assert len(score_combinations([older, context], items, cfg)) == 3
    with pytest.raises(StoredDetectionsError, match=r"older\.json: read its key slices with their context"):
        score_combinations([alone_a, older], items, cfg)


def test_the_option_must_be_a_boolean():
    with pytest.raises(ConfigError, match="key_slice_alone"):
        TrainingConfig.from_dict({"eval": {"key_slice_alone": "yes"}})
