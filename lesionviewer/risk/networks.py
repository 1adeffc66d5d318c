"""Building a risk network by name (what a config's ``[model]`` and a model card's ``backbone`` say).

``i3d`` is :class:`~lesionviewer.risk.i3d.InceptionI3D` (options ``width``, ``dropout``, ``pool``),
initialised from a local 2D GoogLeNet state dict file when ``init_from`` names one (inflated,
:mod:`lesionviewer.risk.inflation`). ``mp3d`` is
:class:`~lesionviewer.risk.mp3d_classifier.MP3DClassifier` (options ``width``, ``blocks``,
``depth_pooling``, ``dropout``, ``pool``, ``stem_pool``), its trunk initialised from a detector model file or
training checkpoint when ``init_from`` names one. Nothing is downloaded.

Example:
    >>> net = build_risk_network("mp3d", {"width": 8, "blocks": [1, 1, 1, 1]})
    >>> type(net).__name__, net.backbone_options["blocks"]
    ('MP3DClassifier', [1, 1, 1, 1])
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from lesionviewer.risk.i3d import InceptionI3D
from lesionviewer.risk.mp3d_classifier import MP3DClassifier

_BUILDERS = {"i3d": InceptionI3D, "mp3d": MP3DClassifier}


def build_risk_network(backbone: str, options: dict[str, Any] | None = None) -> nn.Module:
    """A randomly initialised risk network; ``net.backbone`` and ``net.backbone_options`` record how.

    Example:
        >>> build_risk_network("i3d", {"width": 0.125}).num_features
        128
        >>> build_risk_network("resnet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown risk backbone 'resnet' (known: i3d, mp3d)
    """
    if backbone not in _BUILDERS:
        raise ValueError(f"unknown risk backbone {backbone!r} (known: {', '.join(_BUILDERS)})")
    options = dict(options or {})
    try:
        net = _BUILDERS[backbone](**options)
    except TypeError as err:
        raise ValueError(f"risk backbone {backbone!r} rejects the options {options}: {err}") from None
    net.backbone = backbone
    net.backbone_options = options
    return net


def initialise_risk_network(net: nn.Module, init_from: str | Path) -> dict[str, Any]:
    """Load ``init_from`` into ``net`` (GoogLeNet 2D -> I3D, detector trunk -> MP3D); a summary of what was copied.

    Example:
        >>> initialise_risk_network(build_risk_network("i3d", {"width": 1.0}), "/nonexistent/googlenet.pth")
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/googlenet.pth: no such weights file
    """
    if getattr(net, "backbone", None) == "i3d":
        from lesionviewer.risk.inflation import load_googlenet_2d

        report = load_googlenet_2d(net, init_from)
    else:
        from lesionviewer.risk.mp3d_classifier import MP3DClassifier, load_detector_trunk

        if not isinstance(net, MP3DClassifier):
            raise TypeError(f"a detector trunk initialises an MP3D risk network, not a {type(net).__name__}")
        # A detector .safetensors or a training checkpoint (its "model" weights, read weights_only).
        report = load_detector_trunk(net, Path(init_from))
    return {"from": str(init_from), "loaded": len(report.loaded) + len(report.adapted),
            "skipped": len(report.skipped), "missing": len(report.missing)}
