"""Training configuration: typed sections loaded from TOML, with ``extends`` and ``--set`` overrides.

A config file is TOML with the sections below. A file may start with ``extends = "base.toml"``
(a path relative to the file): the base is loaded first and this file's keys replace the base's,
table by table, so an ablation only lists what it changes. Any field can be replaced on the
command line with ``--set section.field=value``; the value is read as a TOML value (``0.01``,
``true``, ``[448, 512]``, ``"text"``), and a bare word that is not valid TOML is taken as a string.

The learning-rate rule (linear scaling): the rate actually used is
``optim.lr * total_batch / optim.reference_batch`` where ``total_batch = train.images_per_gpu *
world_size * train.iter_size``; the paper's recipe is lr 0.02 at 16 images per batch
(2 per GPU on 8 GPUs), so one GPU with 2 images trains at 0.0025. Set ``optim.scale_lr = false``
to use ``optim.lr`` as given.

Example:
    >>> cfg = TrainingConfig.from_dict({"optim": {"lr": 0.01}})
    >>> cfg = apply_overrides(cfg, ["train.images_per_gpu=4", "data.train_sizes=[448, 512]"])
    >>> cfg.optim.lr, cfg.train.images_per_gpu, cfg.data.train_sizes
    (0.01, 4, [448, 512])
    >>> cfg.scaled_lr(world_size=2)
    0.005
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from lesionviewer.common.config_tree import (  # noqa: F401 - parse_override: re-exported for older importers
    ConfigError,
    apply_overrides,
    build_section,
    check_rules,
    parse_override,
    read_config_dict,
)

#: The most context slices a config may ask for (MP3D uses 9; 3DCE at most 27).
MAX_NUM_SLICES = 64
#: The largest image side, in pixels, a config may ask for.
MAX_IMAGE_SIZE = 8192


@dataclass
class DataConfig:
    """Where the data is and how a training sample is made."""

    #: Folder holding ``Images_png/`` and ``DL_info.csv`` (DeepLesion as downloaded, or phantoms
    #: written in the same layout by ``lesionviewer-phantom``). Relative paths are taken from the
    #: current folder.
    root: str = "data/DeepLesion"
    #: The annotation table; empty means ``<root>/DL_info.csv``.
    dl_info: str = ""
    #: Context slices per sample (D) and their physical spacing (MP3D: 9 at 2.5 mm).
    num_slices: int = 9
    slice_interval_mm: float = 2.5
    #: HU range clipped and scaled to 0..255 (MP3D: [-1024, 1050]); stored in the exported model card,
    #: which the viewer's engine applies the same way.
    hu_clip: list = field(default_factory=lambda: [-1024.0, 1050.0])
    #: Leave out lesions flagged ``Possibly_noisy`` (from training and from evaluation).
    drop_noisy: bool = True
    #: Fraction of the training *patients* used (the paper's Table 5), drawn with ``fraction_seed``.
    train_fraction: float = 1.0
    fraction_seed: int = 0
    #: DataLoader worker processes (0 = load in the training process).
    num_workers: int = 2
    #: Augmentation probabilities (MP3D: each 0.5).
    hflip: float = 0.5
    vflip: float = 0.5
    reverse_slices: float = 0.5
    #: Shorter-side sizes drawn at random in training, and the test size; the model's own
    #: transform resizes and pads to ``size_divisible`` (one source of truth for train and test).
    train_sizes: list = field(default_factory=lambda: [448, 512, 576])
    test_size: int = 512
    max_size: int = 1024
    size_divisible: int = 32
    #: Physical zoom in training: each stack is resampled so that its pixels measure a size drawn
    #: from this [low, high] range in mm (empty = keep the file's pixels). Puts phantoms (2.5-3.9 mm
    #: pixels) and real CT (0.6-1 mm) on one scale.
    pixel_mm_range: list = field(default_factory=list)
    #: Square random crop in pixels after the zoom (0 = the whole image): native resolution on a CPU
    #: budget; evaluation and the viewer still see whole images.
    crop_size: int = 0
    #: Probability that a crop is placed around a lesion (else anywhere in the image).
    crop_on_lesion: float = 0.7
    #: Probability that the context is the key slice repeated (how single key slices are scored).
    repeat_key_slice: float = 0.0
    #: HU jitter in training (``lesionviewer.training.intensity_jitter``): soft-tissue offset (+- HU),
    #: gain (+- fraction), noise (standard deviation up to this many HU) and blur probability.
    intensity_offset_hu: float = 0.0
    intensity_gain: float = 0.0
    intensity_noise_hu: float = 0.0
    intensity_blur: float = 0.0
    #: Coarse-scan jitter (``lesionviewer.training.resolution_jitter``): probability that a training stack
    #: is averaged down to a pixel size drawn from ``coarse_pixel_mm`` before the zoom.
    coarse_probability: float = 0.0
    coarse_pixel_mm: list = field(default_factory=lambda: [1.5, 3.5])
    #: Pose and body-shape jitter (``lesionviewer.training.affine_jitter``): probability that a training stack
    #: is rotated within +- ``affine_rotation_deg`` and scaled per axis by a factor in ``affine_scale``.
    affine_probability: float = 0.0
    affine_rotation_deg: float = 10.0
    affine_scale: list = field(default_factory=lambda: [0.9, 1.1])


@dataclass
class ModelConfig:
    """Which network to train."""

    #: A name from ``lesionviewer.detection.factory.ARCHITECTURES``.
    arch: str = "mp3d63"
    #: Extra keyword options for ``build_detector``.
    options: dict = field(default_factory=dict)
    #: Optional ``"package.module:function"`` building the model instead of the factory
    #: (called as ``function(num_slices=..., num_classes=..., **options)``); used for smoke tests.
    builder: str = ""
    #: Initial weights: a pre-training checkpoint or run folder from ``lesionviewer-train pretrain``
    #: (its backbone is adapted to this D), or empty to start from scratch.
    init_from: str = ""
    #: What to copy from ``init_from``: "backbone" (the paper: trunk + GTM) or "detector" (all that fits).
    init_parts: str = "backbone"
    #: Share of the box head's background samples taken from the proposals ranked highest
    #: (``lesionviewer.training.hard_negatives``); 0 = torchvision's random draw.
    hard_negative_fraction: float = 0.0


@dataclass
class OptimConfig:
    """SGD, the warm-up and the step schedule (the paper's 2x recipe by default)."""

    #: "sgd" (the paper's), "adam" or "adamw" (``momentum`` applies to SGD only).
    optimizer: str = "sgd"
    lr: float = 0.02
    reference_batch: int = 16
    scale_lr: bool = True
    momentum: float = 0.9
    weight_decay: float = 1e-4
    #: Gradient norm clipping (0 = off).
    grad_clip: float = 35.0
    warmup_iters: int = 500
    warmup_factor: float = 1.0 / 3.0
    epochs: int = 24
    #: Epochs after which the rate is multiplied by ``gamma``.
    milestones: list = field(default_factory=lambda: [16, 22])
    gamma: float = 0.1

    def checks(self, prefix: str = "optim.") -> list[tuple[str, bool, str]]:
        """The range checks of this section as ``(key, ok, rule)`` (the detector's and the risk model's).

        Example:
            >>> [key for key, ok, _ in OptimConfig(reference_batch=0).checks() if not ok]
            ['optim.reference_batch']
        """
        return [
            (prefix + "optimizer", self.optimizer in ("sgd", "adam", "adamw"), '"sgd", "adam" or "adamw"'),
            (prefix + "lr", self.lr > 0, "> 0"),
            (prefix + "reference_batch", self.reference_batch >= 1, ">= 1"),
            (prefix + "epochs", self.epochs >= 1, ">= 1"),
            (prefix + "warmup_iters", self.warmup_iters >= 0, ">= 0"),
            (prefix + "warmup_factor", 0 < self.warmup_factor <= 1, "in (0, 1]"),
            (prefix + "grad_clip", self.grad_clip >= 0, ">= 0"),
            (prefix + "milestones", all(isinstance(m, int) for m in self.milestones)
             and list(self.milestones) == sorted(self.milestones), "increasing integers"),
            (prefix + "momentum", 0 <= self.momentum <= 1, "in [0, 1]"),
            (prefix + "weight_decay", self.weight_decay >= 0, ">= 0"),
            (prefix + "gamma", self.gamma > 0, "> 0"),
        ]


@dataclass
class TrainConfig:
    """The loop: batch, precision, reproducibility, checkpoints and fault tolerance."""

    images_per_gpu: int = 2
    #: Gradient accumulation (3DCE's ``iter_size``): micro-batches per optimizer step.
    iter_size: int = 1
    #: Mixed precision on GPU (ignored on CPU). ``amp_dtype``: "float16" (with a GradScaler,
    #: initial scale ``loss_scale``) or "bfloat16".
    amp: bool = True
    amp_dtype: str = "float16"
    loss_scale: float = 512.0
    device: str = "auto"
    seed: int = 0
    #: ``torch.use_deterministic_algorithms`` (bit-exact resume on CPU; slower on GPU).
    deterministic: bool = False
    #: CPU threads for torch in each process (0 = torch's default).
    torch_threads: int = 0
    #: Non-finite losses skipped before the run stops with an error.
    max_nonfinite: int = 10
    #: Optimizer steps between checkpoints (the end of each epoch always writes one).
    checkpoint_every: int = 200
    log_every: int = 10
    #: Optimizer steps per epoch (0 = one pass over the training data).
    steps_per_epoch: int = 0
    #: Stop after this many optimizer steps in total without changing the schedule (0 = never);
    #: the run can be continued with ``--resume``.
    stop_after_steps: int = 0
    #: Stochastic weight averaging along the run (Izmailov et al., "Averaging weights leads to wider optima
    #: and better generalization", UAI 2018): every this many optimizer steps the weights join a running
    #: mean, and the mean is the model the run keeps (``checkpoints/best.pt``); 0 = off.
    average_every: int = 0
    #: The first step whose weights join the mean (0 = the starting weights too), then every
    #: ``average_every`` steps after it.
    average_from_step: int = 0
    progress_bar: bool = True

    def checks(self, prefix: str = "train.") -> list[tuple[str, bool, str]]:
        """The range checks of this section as ``(key, ok, rule)`` (the detector's and the risk model's).

        Example:
            >>> [key for key, ok, _ in TrainConfig(iter_size=0, amp_dtype="int8").checks() if not ok]
            ['train.iter_size', 'train.amp_dtype']
        """
        return [
            (prefix + "images_per_gpu", self.images_per_gpu >= 1, ">= 1"),
            (prefix + "iter_size", self.iter_size >= 1, ">= 1"),
            (prefix + "amp_dtype", self.amp_dtype in ("float16", "bfloat16"), '"float16" or "bfloat16"'),
            (prefix + "max_nonfinite", self.max_nonfinite >= 0, ">= 0"),
            (prefix + "checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
            (prefix + "log_every", self.log_every >= 1, ">= 1"),
            (prefix + "steps_per_epoch", self.steps_per_epoch >= 0, ">= 0"),
            (prefix + "stop_after_steps", self.stop_after_steps >= 0, ">= 0"),
            (prefix + "average_every", self.average_every >= 0, ">= 0"),
            (prefix + "average_from_step", self.average_from_step >= 0, ">= 0"),
            (prefix + "loss_scale", self.loss_scale > 0, "> 0"),
            (prefix + "torch_threads", self.torch_threads >= 0, ">= 0"),
        ]


@dataclass
class EvalConfig:
    """Validation after each epoch and the final test."""

    fps: list = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    iou: float = 0.5
    #: Validate every this many epochs (0 = never; then the last checkpoint counts as best).
    every_epochs: int = 1
    #: Evaluate the test split with the best checkpoint when training ends.
    test_at_end: bool = True
    #: Images per inference batch.
    batch_size: int = 4
    #: Use at most this many key slices per evaluation (0 = all); for quick looks only.
    max_images: int = 0
    #: Read each key slice also mirrored left-right and fuse the two passes (as the viewer does for a model
    #: whose card says ``test_time_flip``); ``export`` writes this into the card.
    test_time_flip: bool = False
    #: Read every evaluated key slice alone, repeated as its own context, as ``evaluate-real`` reads DeepLesion's
    #: key slices and as the goals are scored (training stacks are unaffected; ``data.repeat_key_slice`` is theirs).
    key_slice_alone: bool = False


@dataclass
class TrainingConfig:
    """The whole training configuration (see the module docstring for the file format)."""

    name: str = "run"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "TrainingConfig":
        """Build and check a config from nested dicts; unknown keys and wrong types are errors.

        Example:
            >>> TrainingConfig.from_dict({"train": {"seed": 3}}).train.seed
            3
        """
        cfg = build_section(cls, raw, source, "")
        cfg.validate(source)
        return cfg

    def to_dict(self) -> dict:
        """Plain nested dicts (JSON-ready).

        Example:
            >>> TrainingConfig().to_dict()["optim"]["lr"]
            0.02
        """
        return dataclasses.asdict(self)

    def scaled_lr(self, world_size: int = 1) -> float:
        """The learning rate used: linear scaling by the total batch (see the module docstring).

        Example:
            >>> TrainingConfig().scaled_lr(world_size=8)
            0.02
        """
        if not self.optim.scale_lr:
            return float(self.optim.lr)
        return float(self.optim.lr) * self.total_batch(world_size) / float(self.optim.reference_batch)

    def total_batch(self, world_size: int = 1) -> int:
        """Images per optimizer step over all processes.

        Example:
            >>> TrainingConfig().total_batch(world_size=8)
            16
        """
        return int(self.train.images_per_gpu) * int(world_size) * int(self.train.iter_size)

    def validate(self, source: str = "config") -> None:
        """Range checks of every field (finite numbers, probabilities, sizes, model options); :class:`ConfigError` naming it.

        Example:
            >>> TrainingConfig.from_dict({"data": {"num_slices": 0}})
            Traceback (most recent call last):
            ...
            lesionviewer.common.config_tree.ConfigError: config: data.num_slices must be >= 1 (got 0)
            >>> TrainingConfig.from_dict({"optim": {"lr": float("inf")}})
            Traceback (most recent call last):
            ...
            lesionviewer.common.config_tree.ConfigError: config: optim.lr must be a finite number (got inf)
        """
        checks = [
            ("data.num_slices", self.data.num_slices >= 1, ">= 1"),
            ("data.slice_interval_mm", self.data.slice_interval_mm > 0, "> 0"),
            ("data.hu_clip", len(self.data.hu_clip) == 2 and all(isinstance(v, (int, float)) for v in self.data.hu_clip)
             and self.data.hu_clip[1] > self.data.hu_clip[0], "[low, high] HU with high > low"),
            ("data.train_fraction", 0 < self.data.train_fraction <= 1, "in (0, 1]"),
            ("data.num_workers", self.data.num_workers >= 0, ">= 0"),
            ("data.train_sizes", len(self.data.train_sizes) > 0 and all(
                isinstance(s, int) and s > 0 for s in self.data.train_sizes), "a non-empty list of positive integers"),
            ("data.test_size", self.data.test_size > 0, "> 0"),
            ("data.size_divisible", self.data.size_divisible >= 1, ">= 1"),
            ("data.pixel_mm_range", len(self.data.pixel_mm_range) == 0 or (
                len(self.data.pixel_mm_range) == 2 and 0 < self.data.pixel_mm_range[0] <= self.data.pixel_mm_range[1]
                <= 20), "empty or [low, high] mm with 0 < low <= high <= 20"),
            ("data.crop_size", 0 <= self.data.crop_size <= 4096, "0 (off) or a size in pixels up to 4096"),
            ("data.crop_on_lesion", 0 <= self.data.crop_on_lesion <= 1, "in [0, 1]"),
            ("data.repeat_key_slice", 0 <= self.data.repeat_key_slice <= 1, "in [0, 1]"),
            ("data.intensity_offset_hu", 0 <= self.data.intensity_offset_hu <= 500, "in [0, 500] HU"),
            ("data.intensity_gain", 0 <= self.data.intensity_gain < 1, "in [0, 1)"),
            ("data.intensity_noise_hu", 0 <= self.data.intensity_noise_hu <= 500, "in [0, 500] HU"),
            ("data.intensity_blur", 0 <= self.data.intensity_blur <= 1, "in [0, 1]"),
            ("data.coarse_probability", 0 <= self.data.coarse_probability <= 1, "in [0, 1]"),
            ("data.coarse_pixel_mm", len(self.data.coarse_pixel_mm) == 2
             and 0 < self.data.coarse_pixel_mm[0] <= self.data.coarse_pixel_mm[1] <= 20, "[low, high] mm, 0 < low <= high <= 20"),
            ("data.affine_probability", 0 <= self.data.affine_probability <= 1, "in [0, 1]"),
            ("data.affine_rotation_deg", 0 <= self.data.affine_rotation_deg <= 180, "in [0, 180] degrees"),
            ("data.affine_scale", len(self.data.affine_scale) == 2
             and 0.25 <= self.data.affine_scale[0] <= self.data.affine_scale[1] <= 4, "[low, high], 0.25 <= low <= high <= 4"),
            ("model.init_parts", self.model.init_parts in ("backbone", "detector"), '"backbone" or "detector"'),
            ("model.hard_negative_fraction", 0 <= self.model.hard_negative_fraction <= 1, "in [0, 1]"),
            *self.optim.checks(),
            *self.train.checks(),
            ("eval.iou", 0 < self.eval.iou <= 1, "in (0, 1]"),
            ("eval.batch_size", self.eval.batch_size >= 1, ">= 1"),
            # Issue 14: absurd values are refused here, before any data or network is touched.
            ("data.num_slices", self.data.num_slices <= MAX_NUM_SLICES, f"<= {MAX_NUM_SLICES}"),
            ("data.train_sizes", all(isinstance(s, int) and s <= MAX_IMAGE_SIZE for s in self.data.train_sizes),
             f"sizes up to {MAX_IMAGE_SIZE} pixels"),
            ("data.test_size", self.data.test_size <= MAX_IMAGE_SIZE, f"<= {MAX_IMAGE_SIZE}"),
            ("data.max_size", 1 <= self.data.max_size <= MAX_IMAGE_SIZE, f"from 1 to {MAX_IMAGE_SIZE}"),
            ("data.size_divisible", self.data.size_divisible <= 1024, "<= 1024"),
            ("data.hflip", 0 <= self.data.hflip <= 1, "a probability in [0, 1]"),
            ("data.vflip", 0 <= self.data.vflip <= 1, "a probability in [0, 1]"),
            ("data.reverse_slices", 0 <= self.data.reverse_slices <= 1, "a probability in [0, 1]"),
            ("eval.fps", len(self.eval.fps) > 0 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                for v in self.eval.fps), "a non-empty list of positive numbers (false positives per image)"),
            ("eval.every_epochs", self.eval.every_epochs >= 0, ">= 0"),
            ("eval.max_images", self.eval.max_images >= 0, ">= 0"),
        ]
        check_rules(self, checks, source)
        if not self.model.builder:
            from lesionviewer.training.model_options_check import model_options_problem

            problem = model_options_problem(self.model.arch, self.model.options)
            if problem is not None:
                raise ConfigError(f"{source}: {problem}")
            given = self.model.options.get("input_hu_clip")
            if given is not None and [float(v) for v in given] != [float(v) for v in self.data.hu_clip]:
                raise ConfigError(f"{source}: model.options.input_hu_clip must be data.hu_clip {list(self.data.hu_clip)}, "
                                  f"the HU the input spans (got {given!r}); leave it out to take data.hu_clip")


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainingConfig:
    """Load a TOML config (with ``extends``) and apply ``--set`` style overrides.

    Example:
        >>> from lesionviewer.paths import resources_dir
        >>> cfg = load_config(resources_dir() / "configs" / "mp3d63_9slice_2x.toml", ["optim.epochs=12"])
        >>> cfg.model.arch, cfg.data.num_slices, cfg.optim.epochs
        ('mp3d63', 9, 12)
    """
    raw = read_config_dict(path)
    return apply_overrides(TrainingConfig.from_dict(raw, source=str(path)), overrides or [])


def config_to_json(cfg: TrainingConfig) -> str:
    """The resolved config as JSON text (what a run folder stores).

    Example:
        >>> json.loads(config_to_json(TrainingConfig()))["data"]["num_slices"]
        9
    """
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def config_from_json(text: str, source: str = "config.json") -> TrainingConfig:
    """Inverse of :func:`config_to_json`.

    Example:
        >>> config_from_json(config_to_json(TrainingConfig())).optim.milestones
        [16, 22]
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from None
    return TrainingConfig.from_dict(raw, source=source)
