"""Lesion detection: the MP3D FPN family of networks, model files, and the inference engine.

The names below are imported on first use, so ``import lesionviewer.detection.finding`` or reading a
model card (:func:`read_card`) does not pull in torch.

Example:
    >>> from lesionviewer.detection.finding import Finding
    >>> Finding(0, (0, 0, 1, 1), 0.5, "m").score
    0.5
    >>> import lesionviewer.detection as detection
    >>> from lesionviewer.detection.engine import Detector
    >>> detection.Detector is Detector  # imported from its module on first use
    True
    >>> detection.Detecter
    Traceback (most recent call last):
    ...
    AttributeError: module 'lesionviewer.detection' has no attribute 'Detecter'
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Detector": "lesionviewer.detection.engine",
    "SCORE_FLOOR": "lesionviewer.detection.engine",
    "Finding": "lesionviewer.detection.finding",
    "build_detector": "lesionviewer.detection.factory",
    "ARCHITECTURES": "lesionviewer.detection.factory",
    "ModelCard": "lesionviewer.detection.model_card",
    "ModelCardError": "lesionviewer.detection.model_card",
    "ModelFileError": "lesionviewer.detection.model_file",
    "load_model": "lesionviewer.detection.model_file",
    "save_model": "lesionviewer.detection.model_file",
    "read_card": "lesionviewer.detection.model_file",
    "pick_device": "lesionviewer.detection.device",
    "describe_device": "lesionviewer.detection.device",
    "DeviceUnavailableError": "lesionviewer.detection.device",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lesionviewer.detection' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
