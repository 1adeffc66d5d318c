"""Risk training through the trainer's loop: run folder, exact resume, class balancing, losses, configs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lesionviewer.paths import resources_dir
from lesionviewer.risk.config import ConfigError, RiskConfig, load_risk_config
from lesionviewer.risk.dataset import RiskDataset
from lesionviewer.risk.losses import bce_loss, build_loss, focal_loss
from lesionviewer.risk.phantom_cohort import generate_chest_case
from lesionviewer.risk.preprocess import PreprocessSettings, preprocess_volume, write_npz
from lesionviewer.risk.trainer import train_risk

CROP = (8, 12, 12)


def write_toy_lists(folder, n_train=12, n_val=8, positives_every=3):
    """Crops with a bright cube in positives; lists with relative paths (resolved from the list's folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lists = {}
    for split, count in (("train", n_train), ("val", n_val)):
        lines = []
        for i in range(count):
            label = int(i % positives_every == 0) if split == "train" else i % 2
            hu = rng.normal(-800, 60, CROP).astype(np.int16)
            if label:
                hu[3:6, 4:8, 4:8] = 40
            write_npz(folder / "npz" / f"{split}{i}.npz", hu, {"layout": 1, "voxel_mm": 10.0})
            lines.append(f"npz/{split}{i}.npz {label}\n")
        (folder / f"{split}.list").write_text("".join(lines))
        lists[split] = str(folder / f"{split}.list")
    return lists


def tiny_config(lists, **sections) -> RiskConfig:
    raw = {"name": "tiny_risk",
           "data": {"train_list": lists["train"], "val_list": lists["val"], "voxel_mm": 10.0,
                    "crop_shape": list(CROP), "max_shift": 1},
           "model": {"backbone": "mp3d", "options": {"width": 8, "blocks": [1, 1, 1, 1]}},
           "optim": {"lr": 1e-3, "epochs": 2},
           "train": {"images_per_gpu": 2, "iter_size": 2, "checkpoint_every": 1, "progress_bar": False,
                     "deterministic": True, "torch_threads": 1},
           "eval": {"bootstrap": 50}}
    for key, values in sections.items():
        raw[key] = {**raw.get(key, {}), **values}
    return RiskConfig.from_dict(raw)


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return write_toy_lists(tmp_path_factory.mktemp("risk_lists"))


def test_run_folder_holds_config_log_checkpoints_and_evaluations(tmp_path, lists):
    summary = train_risk(tiny_config(lists), tmp_path / "run")
    run = tmp_path / "run"
    # 12 training crops, 2 x 2 per step -> 3 steps per epoch, 2 epochs
    assert summary["steps_done"] == 6 and summary["finished"] and summary["task"] == "risk"
    assert summary["loss"] == {"kind": "bce", "pos_weight": 2.0}  # 8 negatives / 4 positives
    assert summary["training_data"]["train"] == {"list": lists["train"], "cases": 12, "positive": 4}
    assert 0.0 <= summary["best_val_auc"] <= 1.0 and summary["best_epoch"] in (1, 2)
    assert summary["kept_model"] == "best validation epoch"
    assert json.loads((run / "config.json").read_text())["model"]["backbone"] == "mp3d"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2] and all("auc" in r for r in evals)
    assert [r["step"] for r in records if r["kind"] == "iter"] == [1, 2, 3, 4, 5, 6]
    val = json.loads((run / "eval" / "val_epoch_002.json").read_text())
    assert val["num_cases"] == 8 and val["num_positive"] == 4 and len(val["auc_ci95"]) == 2
    assert set(val["operating_point"]) >= {"threshold", "sensitivity", "specificity"}
    assert (run / "eval" / "val_epoch_002_roc.png").read_bytes()[:4] == b"\x89PNG"
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert json.loads(best["metrics"])["auc"] == pytest.approx(summary["best_val_auc"])


def test_stop_then_resume_equals_straight_run(tmp_path, lists):
    straight = train_risk(tiny_config(lists), tmp_path / "straight")
    assert straight["steps_done"] == 6
    half = train_risk(tiny_config(lists, train={"stop_after_steps": 3}), tmp_path / "resumed")
    assert half["steps_done"] == 3 and not half["finished"]
    from lesionviewer.risk.config import apply_overrides

    cfg = apply_overrides(tiny_config(lists), ["train.stop_after_steps=0"])
    train_risk(cfg, tmp_path / "resumed", resume=True)
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    adam_a = [s["exp_avg"] for s in a["optimizer"]["state"].values()]
    adam_b = [s["exp_avg"] for s in b["optimizer"]["state"].values()]
    assert len(adam_a) > 0 and all(torch.equal(x, y) for x, y in zip(adam_a, adam_b))
    assert a["best_metric"] == b["best_metric"]


def test_sampler_balancing_and_focal_loss(tmp_path, lists):
    summary = train_risk(tiny_config(lists, loss={"kind": "focal", "balance": "sampler"}, optim={"epochs": 1}),
                         tmp_path / "run")
    # the balanced view repeats the 4 positives to 8: 16 crops -> 4 steps of 4
    assert summary["steps_done"] == 4 and summary["loss"]["kind"] == "focal" and summary["loss"]["alpha"] == 0.5
    view = RiskDataset(lists["train"], balance=True)
    assert len(view) == 16 and sum(view.labels) == 8


def test_augmentation_is_seeded_by_epoch_and_index(lists):
    ds = RiskDataset(lists["train"], augment=True, flip_lr=0.5, max_shift=2, seed=3)
    a, b = ds[(1, 4)][0], ds[(1, 4)][0]
    assert torch.equal(a, b)
    assert any(not torch.equal(ds[(e, 4)][0], a) for e in range(2, 6))
    plain = RiskDataset(lists["train"])[4][0]
    assert float(plain.min()) >= -1.0 and float(plain.max()) <= 1.0


def test_crops_made_with_other_settings_are_refused(lists):
    ds = RiskDataset(lists["train"], PreprocessSettings(10.0, (8, 12, 16)))
    with pytest.raises(ValueError, match=r"train0\.npz: crop shape \[8, 12, 12\] differs"):
        ds[0]
    with pytest.raises(ValueError, match=r"other settings than the config's \(voxel_mm: 10.0 != 4.0\)"):
        RiskDataset(lists["train"], PreprocessSettings(4.0, CROP))[0]
    assert RiskDataset(lists["train"], PreprocessSettings(10.0, CROP))[0][0].shape == (1, *CROP)


def test_lung_masking_blanks_the_outside_and_must_match(tmp_path):
    case = generate_chest_case(1, positive=True, matrix=64)
    plain = PreprocessSettings(8.0, (40, 32, 48))
    masked = PreprocessSettings(8.0, (40, 32, 48), mask_outside_lungs=True)
    a, meta_a = preprocess_volume(case.volume, plain)
    b, meta_b = preprocess_volume(case.volume, masked)
    assert meta_b["lungs_found"] and (b != a).any()
    assert (b[b != a] == -1024).all()  # only air was put in, outside the lungs
    assert (b > -200).sum() < (a > -200).sum() / 3  # most of the body (soft tissue, bone) is gone
    nodule = [n for n in case.nodules if n["kind"] == "large irregular solid"][0]
    index = np.round((np.array(nodule["centre_mm"]) - meta_b["crop_first_voxel_mm"]) / 8.0).astype(int)[::-1]
    assert b[tuple(index)] > -300  # the mass is kept
    write_npz(tmp_path / "m.npz", b, meta_b)
    with pytest.raises(ValueError, match="mask_outside_lungs: True != False"):
        RiskDataset([(tmp_path / "m.npz", 1)], plain)[0]


def test_losses():
    logits, targets = torch.tensor([3.0, -2.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    p = torch.sigmoid(logits)
    p_t = torch.where(targets == 1, p, 1 - p)
    expected = (-(0.25 * targets + 0.75 * (1 - targets)) * (1 - p_t) ** 2 * torch.log(p_t)).mean()
    assert float(focal_loss(logits, targets, gamma=2.0, alpha=0.25)) == pytest.approx(float(expected), rel=1e-6)
    weighted = bce_loss(logits, targets, pos_weight=4.0)
    manual = (-(4.0 * torch.log(p[0])) - torch.log(1 - p[1]) - torch.log(1 - p[2])) / 3
    assert float(weighted) == pytest.approx(float(manual), rel=1e-6)
    fn, info = build_loss("bce", "none", [0, 1])
    assert info["pos_weight"] is None and float(fn(logits, targets)) == pytest.approx(float(bce_loss(logits, targets)))


def test_shipped_configs_load_and_bad_values_are_named():
    full = load_risk_config(resources_dir() / "configs" / "risk_i3d_full.toml")
    assert (full.data.voxel_mm, full.data.crop_shape, full.optim.optimizer, full.optim.lr) == (1.5, [192, 224, 224], "adam", 5e-5)
    assert full.model.backbone == "i3d" and full.model.options["width"] == 1.0 and full.train.amp
    demo = load_risk_config(resources_dir() / "configs" / "risk_i3d_phantom.toml")
    assert demo.data.test_list and demo.eval.test_at_end
    with pytest.raises(ConfigError, match="loss.kind must be one of bce, focal"):
        RiskConfig.from_dict({"loss": {"kind": "hinge"}})
    with pytest.raises(ConfigError, match="eval.test_at_end needs data.test_list"):
        RiskConfig.from_dict({"eval": {"test_at_end": True}})
