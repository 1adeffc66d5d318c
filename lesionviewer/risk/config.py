"""Risk-model training configuration: the detector trainer's TOML format with risk-specific sections.

A risk config is TOML with the sections below; ``extends`` and ``--set section.key=value`` work as
for the detector (:mod:`lesionviewer.training.config`). The ``[optim]`` and ``[train]`` sections are
the detector's (same fields, so the trainer's loop reads them unchanged) with defaults from the
``lungs`` package: Adam at a fixed learning rate of 5e-5, two volumes per micro-batch, no warm-up
and no milestones. ``[data]`` names the ``.list`` files and the preprocessing the crops were made
with (checked against each ``.npz``), ``[model]`` the backbone, ``[loss]`` the loss and the class
balancing, ``[eval]`` the validation metrics.

Example:
    >>> cfg = RiskConfig.from_dict({"data": {"train_list": "t.list", "val_list": "v.list"}})
    >>> cfg.optim.optimizer, cfg.optim.lr, cfg.scaled_lr(world_size=4), cfg.model.backbone
    ('adam', 5e-05, 5e-05, 'i3d')
    >>> apply_overrides(cfg, ["loss.kind=focal"]).loss.kind
    'focal'
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from lesionviewer.common.config_tree import ConfigError, apply_overrides, build_section, check_rules, read_config_dict
from lesionviewer.risk.intensity import DEFAULT_HU_WINDOW
from lesionviewer.training.config import OptimConfig, TrainConfig

__all__ = ["RiskConfig", "ConfigError", "apply_overrides", "load_risk_config", "risk_config_from_json",
           "BACKBONES", "LOSSES", "BALANCING"]

BACKBONES = ("i3d", "mp3d")
LOSSES = ("bce", "focal")
BALANCING = ("none", "pos_weight", "sampler")


@dataclass
class RiskDataConfig:
    """The ``.list`` files, the preprocessing their crops were made with, online intensity and augmentation."""

    #: ``<volume.npz> <0|1>`` per line (``lesionviewer-train risk lists``); relative paths in a list
    #: are taken from the list's folder.
    train_list: str = ""
    val_list: str = ""
    #: Optional held-out list scored with the best checkpoint at the end (``eval.test_at_end``).
    test_list: str = ""
    #: What ``preprocess`` used (every ``.npz`` is checked against it; it goes into the model card).
    voxel_mm: float = 1.5
    crop_shape: list = field(default_factory=lambda: [192, 224, 224])
    lung_threshold_hu: float = -400.0
    #: Set everything outside the (closed, widened) lung mask to air (PreprocessSettings).
    mask_outside_lungs: bool = False
    mask_closing_mm: float = 20.0
    mask_margin_mm: float = 0.0
    #: Online windowing and normalisation (:func:`lesionviewer.risk.intensity.normalise_crop`).
    hu_window: list = field(default_factory=lambda: list(DEFAULT_HU_WINDOW))
    mean: float = 0.5
    std: float = 0.5
    #: Augmentation: probability of a left-right flip, and the largest random shift in voxels
    #: (each axis, filled with air).
    flip_lr: float = 0.5
    max_shift: int = 0
    #: Keep the decoded crops in memory after their first use (fast epochs on small cohorts).
    cache: bool = False
    num_workers: int = 0


@dataclass
class RiskModelConfig:
    """The backbone: ``i3d`` (:class:`~lesionviewer.risk.i3d.InceptionI3D`) or ``mp3d``
    (:class:`~lesionviewer.risk.mp3d_classifier.MP3DClassifier`), with its keyword options."""

    backbone: str = "i3d"
    options: dict = field(default_factory=dict)
    #: Initial weights: a 2D GoogLeNet state dict file for ``i3d`` (inflated), a detector file or
    #: checkpoint for ``mp3d`` (its trunk); empty = random initialisation.
    init_from: str = ""


@dataclass
class LossConfig:
    """Cross-entropy (``bce``) or focal loss, and how the classes are balanced.

    ``balance``: ``none``; ``pos_weight`` (the positive term weighted by negatives / positives of
    the training list, or by ``pos_weight`` when set > 0); ``sampler`` (each epoch draws positives
    and negatives equally often).
    """

    kind: str = "bce"
    focal_gamma: float = 2.0
    #: Focal loss weight of the positive class (0.25 in Lin et al.; 0.5 = none).
    focal_alpha: float = 0.5
    balance: str = "pos_weight"
    pos_weight: float = 0.0


@dataclass
class RiskOptimConfig(OptimConfig):
    """The detector's optimizer section with the ``lungs`` package's defaults (Adam, lr 5e-5, fixed)."""

    optimizer: str = "adam"
    lr: float = 5e-5
    scale_lr: bool = False
    reference_batch: int = 2
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    warmup_iters: int = 0
    epochs: int = 40
    milestones: list = field(default_factory=list)


@dataclass
class RiskTrainConfig(TrainConfig):
    """The detector's loop section; two volumes per micro-batch, two micro-batches per step."""

    images_per_gpu: int = 2
    iter_size: int = 2
    checkpoint_every: int = 50


@dataclass
class RiskEvalConfig:
    """Validation each epoch (ROC AUC picks the best checkpoint) and the final held-out test."""

    every_epochs: int = 1
    test_at_end: bool = False
    batch_size: int = 4
    #: Operating point reported: the highest threshold reaching this sensitivity (0 = Youden's J).
    min_sensitivity: float = 0.9
    bootstrap: int = 2000


@dataclass
class RiskConfig:
    """The whole risk training configuration (see the module docstring).

    Example:
        >>> RiskConfig().to_dict()["loss"]["kind"]
        'bce'
    """

    name: str = "risk"
    description: str = ""
    data: RiskDataConfig = field(default_factory=RiskDataConfig)
    model: RiskModelConfig = field(default_factory=RiskModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: RiskOptimConfig = field(default_factory=RiskOptimConfig)
    train: RiskTrainConfig = field(default_factory=RiskTrainConfig)
    eval: RiskEvalConfig = field(default_factory=RiskEvalConfig)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "RiskConfig":
        """Build and check a config from nested dicts; unknown keys and wrong types are errors.

        Example:
            >>> RiskConfig.from_dict({"model": {"backbone": "resnet"}})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.common.config_tree.ConfigError: config: model.backbone must be one of i3d, mp3d (got 'resnet')
        """
        cfg = build_section(cls, raw, source, "")
        cfg.validate(source)
        return cfg

    def to_dict(self) -> dict:
        """Plain nested dicts (JSON-ready).

        Example:
            >>> RiskConfig().to_dict()["data"]["crop_shape"]
            [192, 224, 224]
        """
        return dataclasses.asdict(self)

    def preprocess_settings(self):
        """The :class:`~lesionviewer.risk.preprocess.PreprocessSettings` of ``[data]``.

        Example:
            >>> RiskConfig().preprocess_settings().crop_mm
            (288.0, 336.0, 336.0)
        """
        from lesionviewer.risk.preprocess import PreprocessSettings

        d = self.data
        return PreprocessSettings(d.voxel_mm, tuple(d.crop_shape), d.lung_threshold_hu, d.mask_outside_lungs,
                                  d.mask_closing_mm, d.mask_margin_mm)

    def scaled_lr(self, world_size: int = 1) -> float:
        """The learning rate used (linear scaling by the total batch only when ``optim.scale_lr``).

        Example:
            >>> cfg = RiskConfig.from_dict({"optim": {"scale_lr": True, "lr": 1e-4, "reference_batch": 2},
            ...                             "train": {"images_per_gpu": 2, "iter_size": 2}})
            >>> cfg.scaled_lr(world_size=2)  # 8 volumes per step against a reference of 2
            0.0004
        """
        if not self.optim.scale_lr:
            return float(self.optim.lr)
        return float(self.optim.lr) * self.total_batch(world_size) / float(self.optim.reference_batch)

    def total_batch(self, world_size: int = 1) -> int:
        """Volumes per optimizer step over all processes.

        Example:
            >>> RiskConfig().total_batch(world_size=2)
            8
        """
        return int(self.train.images_per_gpu) * int(world_size) * int(self.train.iter_size)

    def validate(self, source: str = "config") -> None:
        """Range checks; raises :class:`ConfigError` naming the field.

        Example:
            >>> RiskConfig.from_dict({"data": {"crop_shape": [8, 8]}})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.common.config_tree.ConfigError: config: data.crop_shape must be three positive integers (z, y, x) (got [8, 8])
        """
        d, o, t, e = self.data, self.optim, self.train, self.eval
        window = d.hu_window
        checks = [
            ("data.voxel_mm", d.voxel_mm > 0, "> 0"),
            ("data.crop_shape", len(d.crop_shape) == 3 and all(isinstance(v, int) and v > 0 for v in d.crop_shape),
             "three positive integers (z, y, x)"),
            ("data.hu_window", len(window) == 2 and all(isinstance(v, (int, float)) for v in window)
             and window[1] > window[0], "[low, high] HU with high > low"),
            ("data.std", d.std > 0, "> 0"),
            ("data.flip_lr", 0 <= d.flip_lr <= 1, "in [0, 1]"),
            ("data.max_shift", d.max_shift >= 0, ">= 0"),
            ("data.num_workers", d.num_workers >= 0, ">= 0"),
            ("model.backbone", self.model.backbone in BACKBONES, "one of " + ", ".join(BACKBONES)),
            ("loss.kind", self.loss.kind in LOSSES, "one of " + ", ".join(LOSSES)),
            ("loss.balance", self.loss.balance in BALANCING, "one of " + ", ".join(BALANCING)),
            ("loss.focal_gamma", self.loss.focal_gamma >= 0, ">= 0"),
            ("loss.focal_alpha", 0 < self.loss.focal_alpha < 1, "in (0, 1)"),
            ("loss.pos_weight", self.loss.pos_weight >= 0, ">= 0 (0 = from the training list)"),
            *o.checks(),  # the detector's optim and train checks (shared sections, shared rules)
            *t.checks(),
            ("eval.batch_size", e.batch_size >= 1, ">= 1"),
            ("eval.min_sensitivity", 0 <= e.min_sensitivity <= 1, "in [0, 1]"),
            ("eval.bootstrap", e.bootstrap >= 0, ">= 0"),
        ]
        check_rules(self, checks, source)
        if e.test_at_end and not d.test_list:
            raise ConfigError(f"{source}: eval.test_at_end needs data.test_list")


def load_risk_config(path: str | Path, overrides: list[str] | None = None) -> RiskConfig:
    """Load a risk TOML config (with ``extends``) and apply ``--set`` style overrides.

    Example:
        >>> from lesionviewer.paths import resources_dir
        >>> cfg = load_risk_config(resources_dir() / "configs" / "risk_i3d_full.toml")
        >>> cfg.data.voxel_mm, cfg.optim.lr, cfg.model.backbone
        (1.5, 5e-05, 'i3d')
    """
    raw = read_config_dict(path)
    return apply_overrides(RiskConfig.from_dict(raw, source=str(path)), overrides or [])


def risk_config_from_json(text: str, source: str = "config.json") -> RiskConfig:
    """The config a run folder or checkpoint stores (JSON text) as a :class:`RiskConfig`.

    Example:
        >>> risk_config_from_json(json.dumps(RiskConfig().to_dict())).eval.min_sensitivity
        0.9
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    return RiskConfig.from_dict(raw, source=source)
