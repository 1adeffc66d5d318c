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

import copy
import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file or key."""


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
    progress_bar: bool = True


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
        cfg = _build(cls, raw, source, "")
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
            lesionviewer.training.config.ConfigError: config: data.num_slices must be >= 1 (got 0)
            >>> TrainingConfig.from_dict({"optim": {"lr": float("inf")}})
            Traceback (most recent call last):
            ...
            lesionviewer.training.config.ConfigError: config: optim.lr must be a finite number (got inf)
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
            ("model.init_parts", self.model.init_parts in ("backbone", "detector"), '"backbone" or "detector"'),
            ("optim.optimizer", self.optim.optimizer in ("sgd", "adam", "adamw"), '"sgd", "adam" or "adamw"'),
            ("optim.lr", self.optim.lr > 0, "> 0"),
            ("optim.reference_batch", self.optim.reference_batch >= 1, ">= 1"),
            ("optim.epochs", self.optim.epochs >= 1, ">= 1"),
            ("optim.warmup_iters", self.optim.warmup_iters >= 0, ">= 0"),
            ("optim.warmup_factor", 0 < self.optim.warmup_factor <= 1, "in (0, 1]"),
            ("optim.grad_clip", self.optim.grad_clip >= 0, ">= 0"),
            ("optim.milestones", all(isinstance(m, int) for m in self.optim.milestones)
             and list(self.optim.milestones) == sorted(self.optim.milestones), "increasing integers"),
            ("train.images_per_gpu", self.train.images_per_gpu >= 1, ">= 1"),
            ("train.iter_size", self.train.iter_size >= 1, ">= 1"),
            ("train.amp_dtype", self.train.amp_dtype in ("float16", "bfloat16"), '"float16" or "bfloat16"'),
            ("train.max_nonfinite", self.train.max_nonfinite >= 0, ">= 0"),
            ("train.checkpoint_every", self.train.checkpoint_every >= 1, ">= 1"),
            ("train.log_every", self.train.log_every >= 1, ">= 1"),
            ("train.steps_per_epoch", self.train.steps_per_epoch >= 0, ">= 0"),
            ("train.stop_after_steps", self.train.stop_after_steps >= 0, ">= 0"),
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
            ("optim.momentum", 0 <= self.optim.momentum <= 1, "in [0, 1]"),
            ("optim.weight_decay", self.optim.weight_decay >= 0, ">= 0"),
            ("optim.gamma", self.optim.gamma > 0, "> 0"),
            ("train.loss_scale", self.train.loss_scale > 0, "> 0"),
            ("train.torch_threads", self.train.torch_threads >= 0, ">= 0"),
            ("eval.fps", len(self.eval.fps) > 0 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
                for v in self.eval.fps), "a non-empty list of positive numbers (false positives per image)"),
            ("eval.every_epochs", self.eval.every_epochs >= 0, ">= 0"),
            ("eval.max_images", self.eval.max_images >= 0, ">= 0"),
        ]
        for key, value in _float_fields(self):
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{source}: {key} must be a finite number (got {value!r})")
        for key, ok, rule in checks:
            if not ok:
                value = _get_path(self, key)
                raise ConfigError(f"{source}: {key} must be {rule} (got {value!r})")
        if not self.model.builder:
            from lesionviewer.training.model_options_check import model_options_problem

            problem = model_options_problem(self.model.arch, self.model.options)
            if problem is not None:
                raise ConfigError(f"{source}: {problem}")


def _float_fields(cfg: Any, prefix: str = ""):
    # Every float setting and every number in a list setting, with its dotted name.
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from _float_fields(value, key + ".")
        elif isinstance(value, float):
            yield key, value
        elif isinstance(value, list):
            yield from ((key, v) for v in value if isinstance(v, float))


def _get_path(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _build(cls, raw: Any, source: str, prefix: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(prefix + u for u in unknown)}; "
                          f"known: {', '.join(prefix + n for n in sorted(names))}")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, source, key + ".")
        else:
            kwargs[name] = _coerce(hint, value, source, key)
    return cls(**kwargs)


def _coerce(hint, value, source: str, key: str):
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = {float: float, int: int, bool: bool, str: str, list: list, dict: dict}[hint]
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{source}: {key} must be {expected.__name__} (got {value!r})")
    return copy.deepcopy(value)


def _deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "options":
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_dict(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a TOML config as nested dicts, resolving ``extends`` chains (cycles are an error).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "base.toml").write_text('[optim]\\nlr = 0.02\\nepochs = 24\\n')
        >>> _ = (d / "short.toml").write_text('extends = "base.toml"\\n[optim]\\nepochs = 12\\n')
        >>> read_config_dict(d / "short.toml")["optim"]
        {'lr': 0.02, 'epochs': 12}
    """
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: 'extends' chain loops back to this file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must be a file name")
    base = read_config_dict(path.parent / parent, _seen + (path,))
    return _deep_merge(base, raw)


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


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"section.key=value"`` into the key path and its value read as TOML.

    Example:
        >>> parse_override("optim.milestones=[8, 11]")
        (['optim', 'milestones'], [8, 11])
        >>> parse_override("model.arch=mp3d63_ctm")
        (['model', 'arch'], 'mp3d63_ctm')
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, value_text = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return key.split("."), value


def apply_overrides(cfg, overrides: list[str]):
    """A new config with ``section.key=value`` overrides applied and checked.

    Example:
        >>> apply_overrides(TrainingConfig(), ["train.amp=false"]).train.amp
        False
        >>> apply_overrides(TrainingConfig(), ["train.nope=1"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.training.config.ConfigError: --set: unknown key train.nope; known: train.amp, ...
    """
    raw = cfg.to_dict()
    for text in overrides:
        path, value = parse_override(text)
        target = raw
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                raise ConfigError(f"--set {text!r}: unknown section {part!r}")
            target = target[part]
        if path[-1] not in target and path[-2:-1] != ["options"]:
            known = ", ".join(".".join(path[:-1] + [k]) for k in sorted(target))
            raise ConfigError(f"--set: unknown key {'.'.join(path)}; known: {known}")
        target[path[-1]] = value
    return type(cfg).from_dict(raw, source="--set")  # any config class with from_dict/to_dict (the risk one too)


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
