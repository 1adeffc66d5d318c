"""Supervised 3D pre-training on a tiny COCO-format dataset, then initialising a lesion detector of another D."""
from __future__ import annotations

import json

import torch

from lesionviewer.training import cli
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.model_setup import build_model
from lesionviewer.training.pretrain_coco import CocoStackDataset, write_toy_coco
from test_training_run import TINY_MODEL, tiny_config_file


def test_coco_images_become_three_slice_stacks(tmp_path):
    folder = write_toy_coco(tmp_path, images=2, size=32)
    ds = CocoStackDataset(folder / "annotations.json", folder / "images")
    stack, target = ds[0]
    ann = json.loads((folder / "annotations.json").read_text())
    x, y, w, h = ann["annotations"][0]["bbox"]
    assert stack.shape == (3, 32, 32)
    # The red rectangle is bright in slice 0 (R) only.
    assert stack[0, y + 1, x + 1] == 230 and stack[2, y + 1, x + 1] == 20
    assert target["boxes"][0].tolist() == [x, y, x + w, y + h]
    assert target["labels"].tolist() == [1, 2]  # COCO ids 3 and 7 -> labels 1 and 2
    assert ds.num_classes == 3


def test_pretrain_then_initialise_a_nine_slice_detector(tmp_path):
    folder = write_toy_coco(tmp_path / "coco", images=4, size=64)
    config = tiny_config_file(tmp_path, tmp_path, data={"num_slices": 3, "vflip": 0.0, "reverse_slices": 0.0},
                              optim={"epochs": 1, "milestones": []}, train={"images_per_gpu": 2})
    run = tmp_path / "pre"
    code = cli.main(["pretrain", "--coco-json", str(folder / "annotations.json"), "--images",
                     str(folder / "images"), "--config", config, "--run-dir", str(run)])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps_done"] == 2 and summary["pretraining_data"]["num_classes"] == 3
    assert [c["name"] for c in json.loads((run / "categories.json").read_text())] == ["red box", "green box"]
    pre = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert pre["roi_heads.box_predictor.cls_score.weight"].shape[0] == 3  # multi-class head

    cfg = TrainingConfig.from_dict({"data": {"num_slices": 9}, "model": {**TINY_MODEL, "init_from": str(run)}})
    lesion = build_model(cfg)
    state = lesion.state_dict()
    report = lesion.init_report
    trunk = [k for k in pre if k.startswith("backbone.body.")]
    assert trunk and all(torch.equal(state[k], pre[k]) for k in trunk)
    gtm = [k for k in state if k.startswith("backbone.to_2d.")]
    assert sorted(report.adapted) == sorted(gtm)
    for k in gtm:  # 3 taps resampled to 9, each channel's sum kept
        assert state[k].shape[1] == 9 and pre[k].shape[1] == 3
        torch.testing.assert_close(state[k].sum(1), pre[k].sum(1))
    # The paper initialises the backbone only: the RPN keeps its fresh weights.
    assert not torch.equal(state["rpn.head.conv.0.0.weight"], pre["rpn.head.conv.0.0.weight"])
