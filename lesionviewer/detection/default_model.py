"""The default detector file: the first shipped ``*.safetensors`` that is not a risk model.

``resources/models/`` holds the default detector (first by name), the phantom demo detector and the demo
risk model; a risk model's card says ``"task": "risk"`` (the card decides, never the file's name).
Both the viewer and ``lesionviewer-detect`` use :func:`default_detector_file`, so the command line
without ``--model`` runs the model the viewer runs. Only the file's header is read (no torch, no
weights).

Example:
    >>> default_detector_file().name, default_risk_model_file().name
    ('ct_mp3d_small.safetensors', 'demo_risk_mp3d.safetensors')
"""
from __future__ import annotations

import os
from pathlib import Path

from lesionviewer.common.model_container import card_task
from lesionviewer.paths import resources_dir

__all__ = ["is_risk_model", "shipped_model_files", "default_detector_file", "default_risk_model_file"]


def is_risk_model(path: str | os.PathLike) -> bool:
    """True when ``path``'s model card says ``"task": "risk"``; the file's name plays no part.

    A detector's card has no task (or another one), and a file without a readable card is no risk
    model either: loading it as a detector then says what is wrong with it.

    Example:
        >>> import shutil, tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> models = resources_dir() / "models"
        >>> risk = shutil.copy(models / "demo_risk_mp3d.safetensors", folder / "detector.safetensors")
        >>> detector = shutil.copy(models / "demo_mp3d_small.safetensors", folder / "risk_x.safetensors")
        >>> is_risk_model(risk), is_risk_model(detector), is_risk_model(folder / "risk_missing.safetensors")
        (True, False, False)
    """
    return card_task(path) == "risk"


def shipped_model_files() -> list[Path]:
    """The ``*.safetensors`` files in ``resources/models/`` (else ``resources/``), sorted by name.

    Example:
        >>> [p.name for p in shipped_model_files()]
        ['ct_mp3d_small.safetensors', 'demo_mp3d_small.safetensors', 'demo_risk_mp3d.safetensors']
    """
    root = resources_dir()
    for folder in (root / "models", root):
        if folder.is_dir():
            found = sorted(folder.glob("*.safetensors"))
            if found:
                return found
    return []


def default_detector_file() -> Path | None:
    """The first shipped model file that is not a risk model, or None when none is shipped.

    Example:
        >>> default_detector_file().suffix
        '.safetensors'
    """
    return next((p for p in shipped_model_files() if not is_risk_model(p)), None)


def default_risk_model_file() -> Path | None:
    """The first shipped model file whose card says it is a risk model, or None when none is shipped.

    Example:
        >>> default_risk_model_file().name
        'demo_risk_mp3d.safetensors'
    """
    return next((p for p in shipped_model_files() if is_risk_model(p)), None)
