"""The default detector file: the first shipped ``*.safetensors`` that is not a risk model.

``resources/models/`` holds the default detector (first by name), the phantom demo detector and the demo
risk model; a risk model's card says
``"task": "risk"``. Both the viewer and ``lesionviewer-detect`` use :func:`default_detector_file`,
so the command line without ``--model`` runs the model the viewer runs. Only the file's header is
read (no torch, no weights).

Example:
    >>> default_detector_file().name
    'ct_mp3d_small.safetensors'
"""
from __future__ import annotations

import json
from pathlib import Path

from lesionviewer.paths import resources_dir


def model_task(path: str | Path) -> str | None:
    """The ``task`` named by a model card in ``path``'s safetensors metadata, or None (unreadable, none).

    Example:
        >>> model_task(resources_dir() / "models" / "demo_risk_mp3d.safetensors")
        'risk'
        >>> model_task("/no/such/file.safetensors") is None
        True
    """
    from lesionviewer.detection.model_file import read_header

    try:
        _, metadata = read_header(path)
    except Exception:  # noqa: BLE001 - not a readable model file: no task
        return None
    for text in metadata.values():
        try:
            card = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(card, dict) and card.get("task"):
            return str(card["task"])
    return None


def is_risk_model_file_name(path: str | Path) -> bool:
    """True when ``path`` holds a risk model: its card says so, or (no task in the card) its name does.

    Example:
        >>> is_risk_model_file_name("/nowhere/my_risk_v2.safetensors"), is_risk_model_file_name("/nowhere/det.safetensors")
        (True, False)
    """
    task = model_task(path)
    if task is not None:
        return task == "risk"
    return "risk" in Path(path).stem.lower()


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
    return next((p for p in shipped_model_files() if not is_risk_model_file_name(p)), None)
