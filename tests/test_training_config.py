"""Training configs: the paper's recipe, its ablations through `extends`, overrides, checks, LR rules."""
from __future__ import annotations

import torch

import pytest

from lesionviewer.paths import resources_dir
from lesionviewer.training.config import (ConfigError, TrainingConfig, apply_overrides, load_config,
                                          read_config_dict)
from lesionviewer.training.optimization import build_optimizer, build_scheduler

CONFIGS = resources_dir() / "configs"
BASE = CONFIGS / "mp3d63_9slice_2x.toml"


def test_paper_recipe():
    cfg = load_config(BASE)
    assert (cfg.model.arch, cfg.data.num_slices, cfg.data.slice_interval_mm) == ("mp3d63", 9, 2.5)
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.grad_clip) == (0.02, 0.9, 1e-4, 35.0)
    assert (cfg.optim.warmup_iters, cfg.optim.epochs, cfg.optim.milestones) == (500, 24, [16, 22])
    assert cfg.optim.warmup_factor == pytest.approx(1 / 3)
    assert cfg.data.train_sizes == [448, 512, 576] and cfg.data.test_size == 512 and cfg.data.size_divisible == 32
    assert cfg.train.amp and cfg.train.amp_dtype == "float16" and cfg.train.loss_scale == 512
    assert cfg.total_batch(world_size=8) == 16 and cfg.scaled_lr(world_size=8) == pytest.approx(0.02)
    assert cfg.scaled_lr(world_size=1) == pytest.approx(0.0025)


@pytest.mark.parametrize("name, changed", [
    ("mp3d63_5slice_2x", {"data.num_slices": 5}),
    ("mp3d63_7slice_2x", {"data.num_slices": 7}),
    ("mp3d63_11slice_2x", {"data.num_slices": 11}),
    ("mp3d63_ctm_9slice_2x", {"model.arch": "mp3d63_ctm"}),
    ("mp3d63_isopool_9slice_2x", {"model.arch": "mp3d63_isopool"}),
    ("mr3d50_9slice_2x", {"model.arch": "mr3d50"}),
    ("fpn3dce_3slice_2x", {"model.arch": "fpn3dce", "data.num_slices": 3, "data.slice_interval_mm": 2.0}),
    ("fpn3dce_9slice_2x", {"model.arch": "fpn3dce", "data.slice_interval_mm": 2.0}),
    ("fpn3dce_27slice_2x", {"model.arch": "fpn3dce", "data.num_slices": 27, "data.slice_interval_mm": 2.0}),
    ("mp3d63_9slice_1x", {"optim.epochs": 12, "optim.milestones": [8, 11]}),
    ("mp3d63_9slice_6x", {"optim.epochs": 72, "optim.milestones": [48, 66]}),
    ("mp3d63_9slice_2x_pretrained", {"model.init_from": "runs/coco_pretrain"}),
    ("mp3d63_9slice_2x_scratch", {}),
    ("mp3d63_9slice_2x_fraction20", {"model.init_from": "runs/coco_pretrain", "data.train_fraction": 0.2}),
])
def test_ablation_changes_only_what_it_names(name, changed):
    base = load_config(BASE).to_dict()
    ablation = load_config(CONFIGS / f"{name}.toml").to_dict()
    assert ablation["name"] == name

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and k != "options":
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[prefix + k] = v
        return out

    diff = {k: v for k, v in flat(ablation).items() if flat(base)[k] != v and k not in ("name", "description")}
    assert diff == changed


def test_every_shipped_config_loads_and_its_arch_exists():
    from lesionviewer.detection.factory import ARCHITECTURES

    files = sorted(p for p in CONFIGS.glob("*.toml") if not p.name.startswith("risk_"))  # risk: tests/test_risk_*
    assert len(files) >= 16
    for path in files:
        cfg = load_config(path)
        assert cfg.model.arch in ARCHITECTURES, path.name


def test_overrides_are_typed_and_checked():
    cfg = apply_overrides(load_config(BASE), ["optim.lr=0.01", "train.amp=false", "data.train_sizes=[512]",
                                              "model.arch=mp3d63_ctm", "model.options.width=32"])
    assert (cfg.optim.lr, cfg.train.amp, cfg.data.train_sizes, cfg.model.arch) == (0.01, False, [512], "mp3d63_ctm")
    assert cfg.model.options == {"width": 32}
    with pytest.raises(ConfigError, match="unknown key optim.lrate"):
        apply_overrides(cfg, ["optim.lrate=0.1"])
    with pytest.raises(ConfigError, match="train.images_per_gpu must be int"):
        apply_overrides(cfg, ["train.images_per_gpu=two"])
    with pytest.raises(ConfigError, match="data.train_fraction must be in"):
        apply_overrides(cfg, ["data.train_fraction=1.5"])
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides(cfg, ["optim.lr"])


def test_file_errors_name_the_file(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ConfigError, match="loops back"):
        read_config_dict(tmp_path / "a.toml")
    (tmp_path / "bad.toml").write_text("[optim\nlr = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text("[optim]\nlearning_rate = 1\n")
    with pytest.raises(ConfigError, match="typo.toml: unknown key.*optim.learning_rate"):
        load_config(tmp_path / "typo.toml")
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


def test_lr_scaling_rule_with_accumulation():
    cfg = TrainingConfig.from_dict({"train": {"images_per_gpu": 2, "iter_size": 4}, "optim": {"lr": 0.02}})
    assert cfg.total_batch(world_size=2) == 16 and cfg.scaled_lr(world_size=2) == pytest.approx(0.02)
    fixed = apply_overrides(cfg, ["optim.scale_lr=false"])
    assert fixed.scaled_lr(world_size=1) == 0.02


def test_paper_schedule_warmup_and_steps():
    import torch

    cfg = load_config(BASE)
    model = torch.nn.Linear(2, 2)
    opt = build_optimizer(model, 0.02, cfg.optim.momentum, cfg.optim.weight_decay)
    steps_per_epoch = 1000
    sched = build_scheduler(opt, cfg.optim.warmup_iters, cfg.optim.warmup_factor, cfg.optim.milestones,
                            steps_per_epoch, cfg.optim.gamma)
    lrs = {}
    for step in range(23 * steps_per_epoch + 1):
        if step in (0, 250, 500, 15999, 16000, 21999, 22000, 23000):
            lrs[step] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.02 / 3)
    assert lrs[250] == pytest.approx(0.02 * (1 / 3 + (2 / 3) * 0.5))
    assert lrs[500] == pytest.approx(0.02) and lrs[15999] == pytest.approx(0.02)
    assert lrs[16000] == pytest.approx(0.002) and lrs[21999] == pytest.approx(0.002)
    assert lrs[22000] == pytest.approx(0.0002) and lrs[23000] == pytest.approx(0.0002)


def test_optimizer_choice_is_validated_and_built():

    with pytest.raises(ConfigError, match="optim.optimizer"):
        TrainingConfig.from_dict({"optim": {"optimizer": "rmsprop"}})
    cfg = TrainingConfig.from_dict({"optim": {"optimizer": "adamw", "lr": 1e-3}})
    model = torch.nn.Linear(3, 1)
    opt = build_optimizer(model, cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay, cfg.optim.optimizer)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.param_groups[0]["lr"] == 1e-3
