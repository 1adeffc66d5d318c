"""The network a config describes: built by the detector factory, sized, optionally pre-initialised.

Resizing belongs to the detector's own ``GeneralizedRCNNTransform`` (one rule for training, the
trainer's evaluation and the viewer): in training it draws the shorter side from
``data.train_sizes`` per image; for evaluation :func:`eval_input_size` switches it to
``data.test_size`` (torchvision uses the last ``min_size`` in eval mode). Both pad to
``data.size_divisible``.

Example:
    >>> from lesionviewer.training.config import TrainingConfig
    >>> cfg = TrainingConfig.from_dict({"model": {"arch": "mp3d_small", "options": {"width": 8,
    ...     "blocks": [1, 1, 1, 1], "fpn_channels": 32, "representation_size": 64}},
    ...     "data": {"num_slices": 3, "train_sizes": [64, 96], "test_size": 64}})
    >>> model = build_model(cfg)
    >>> model.transform.min_size
    (64, 96)
    >>> with eval_input_size(model, cfg):
    ...     model.transform.min_size
    (64,)
"""
from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Protocol, cast

import torch

from lesionviewer.training.config import TrainingConfig


def _builder(spec: str):
    module_name, _, func = spec.partition(":")
    if not module_name or not func:
        raise ValueError(f"model.builder must be 'package.module:function', not {spec!r}")
    return getattr(importlib.import_module(module_name), func)


def build_model(cfg: TrainingConfig, num_classes: int = 2) -> torch.nn.Module:
    """Build the detector of ``cfg.model`` for ``cfg.data.num_slices`` slices, sized for training.

    Example:
        >>> cfg = TrainingConfig.from_dict({"data": {"num_slices": 3, "train_sizes": [32, 48], "max_size": 64},
        ...     "model": {"arch": "mp3d_small", "options": {"width": 4, "blocks": [1, 1, 1, 1], "fpn_channels": 8,
        ...                                                 "representation_size": 16}}})
        >>> model = build_model(cfg)
        >>> type(model).__name__, model.transform.min_size, model.transform.max_size
        ('FasterRCNN', (32, 48), 64)
        >>> model.roi_heads.box_predictor.cls_score.out_features  # lesion + background
        2
    """
    options = dict(cfg.model.options)
    if options.get("input_windows"):
        # the windows are computed from the input, so the network keeps the HU range the input spans (checked
        # against data.hu_clip by the config)
        options.setdefault("input_hu_clip", [float(v) for v in cfg.data.hu_clip])
    if cfg.model.builder:
        model = _builder(cfg.model.builder)(num_slices=cfg.data.num_slices, num_classes=num_classes, **options)
    else:
        from lesionviewer.detection.factory import build_detector

        model = build_detector(cfg.model.arch, cfg.data.num_slices, num_classes=num_classes, **options)
    set_train_input_sizes(model, cfg)
    if cfg.model.hard_negative_fraction > 0:
        from lesionviewer.training.hard_negatives import use_hard_negatives

        use_hard_negatives(model, cfg.model.hard_negative_fraction)
    if cfg.model.init_from:
        model.init_report = initialize_from(model, cfg.model.init_from, cfg.model.init_parts)
    return model


class ResizingTransform(Protocol):
    """What the trainer sets on a detector's ``transform`` (torchvision's ``GeneralizedRCNNTransform``)."""

    min_size: tuple[int, ...]
    max_size: int
    size_divisible: int


def resizing_transform(model: torch.nn.Module) -> ResizingTransform:
    """``model.transform``, typed as the resizing transform it is (``nn.Module`` types attributes as
    ``Tensor | Module``).

    Example:
        >>> from types import SimpleNamespace
        >>> resizing_transform(SimpleNamespace(transform=SimpleNamespace(min_size=(8,)))).min_size
        (8,)
    """
    return cast(ResizingTransform, model.transform)


def set_train_input_sizes(model: torch.nn.Module, cfg: TrainingConfig) -> None:
    """Training sizes on the model's transform (random shorter side from ``data.train_sizes``).

    Example:
        >>> from types import SimpleNamespace
        >>> model = SimpleNamespace(transform=SimpleNamespace())
        >>> set_train_input_sizes(model, TrainingConfig.from_dict({"data": {"train_sizes": [448, 512],
        ...                                                                 "max_size": 800}}))
        >>> model.transform.min_size, model.transform.max_size, model.transform.size_divisible
        ((448, 512), 800, 32)
    """
    transform = resizing_transform(model)
    transform.min_size = tuple(int(s) for s in cfg.data.train_sizes)
    transform.max_size = int(cfg.data.max_size)
    transform.size_divisible = int(cfg.data.size_divisible)


@contextlib.contextmanager
def eval_input_size(model: torch.nn.Module, cfg: TrainingConfig):
    """Within the block the model resizes to ``data.test_size`` (then restores the training sizes).

    Example:
        >>> from types import SimpleNamespace
        >>> model = SimpleNamespace(transform=SimpleNamespace(min_size=(448, 512)))
        >>> with eval_input_size(model, TrainingConfig.from_dict({"data": {"test_size": 512}})):
        ...     print(model.transform.min_size)
        (512,)
        >>> model.transform.min_size
        (448, 512)
    """
    transform = resizing_transform(model)
    saved = transform.min_size
    transform.min_size = (int(cfg.data.test_size),)
    try:
        yield model
    finally:
        transform.min_size = saved


#: What ``model.init_parts`` copies from a pre-trained detector: the paper initialises the MP3D
#: ResNet (trunk + its 3D-to-2D modules) only; "detector" also takes the FPN, RPN and box head.
INIT_PREFIXES = {"backbone": ("backbone.body.", "backbone.to_2d."), "detector": ("",)}


def initialize_from(model: torch.nn.Module, source: str | Path, parts: str = "backbone"):
    """Initialise ``model`` from a pre-trained detector (checkpoint, run folder or model file) of any D.

    ``lesionviewer.detection.initialization.load_pretrained_detector`` adapts the depth-dependent
    weights (GTM) to this model's number of slices; ``parts`` chooses what is copied (see
    :data:`INIT_PREFIXES`). Returns its report (loaded / adapted / skipped names).

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> small = dict(width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64)
        >>> coco = build_detector("mp3d_small", 3, num_classes=5, **small)
        >>> lesion = build_detector("mp3d_small", 7, **small)
        >>> report = initialize_from(lesion, coco.state_dict())
        >>> len(report.adapted), all(n.startswith("backbone.") for n in report.loaded)
        (4, True)
    """
    from lesionviewer.detection.initialization import load_pretrained_detector, read_state_dict

    if parts not in INIT_PREFIXES:
        raise ValueError(f"model.init_parts must be one of {sorted(INIT_PREFIXES)}, not {parts!r}")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            for candidate in (path / "checkpoints" / "best.pt", path / "checkpoints" / "last.pt"):
                if candidate.is_file():
                    path = candidate
                    break
            else:
                raise FileNotFoundError(f"{source}: no checkpoints/best.pt or last.pt to initialise from")
        source = path
    state = read_state_dict(source)
    prefixes = INIT_PREFIXES[parts]
    state = {k: v for k, v in state.items() if k.startswith(prefixes)}
    return load_pretrained_detector(model, state)
