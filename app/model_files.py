"""Which shipped model file is the detector and which the risk model.

``resources/models/`` holds both kinds as ``*.safetensors`` with a JSON model card in the file's
metadata; a risk model's card says ``"task": "risk"``. The card is read from the file's header
without torch (start-up must stay fast); only a file whose card cannot tell asks the risk library
(``lesionviewer.risk.model.is_risk_model_file``, which imports torch), and without it the file name
decides ("risk" in it).
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.common.model_container import card_task, read_card_dict
from lesionviewer.paths import resources_dir

__all__ = ["read_card", "card_task", "is_risk_model", "shipped_model_files", "default_detector_path",
           "default_risk_model_path"]

#: The model card in a file's safetensors metadata as a dict, or None (``lesionviewer.common``).
read_card = read_card_dict


def is_risk_model(path: str | Path) -> bool:
    """True when ``path`` is a risk model file: its card's task, else the library, else its name."""
    task = card_task(path)
    if task is not None:
        return task == "risk"
    try:
        from lesionviewer.risk.model import is_risk_model_file
    except ImportError:
        is_risk_model_file = None
    if is_risk_model_file is not None:
        try:
            return bool(is_risk_model_file(path))
        except Exception:  # noqa: BLE001 - an unreadable file: fall back to its name
            pass
    return "risk" in Path(path).stem.lower()


def shipped_model_files() -> list[Path]:
    """The ``*.safetensors`` files in ``resources/models/`` (else ``resources/``), sorted by name."""
    root = resources_dir()
    for folder in (root / "models", root):
        if folder.is_dir():
            found = sorted(folder.glob("*.safetensors"))
            if found:
                return found
    return []


def default_detector_path() -> Path | None:
    """The first shipped model file that is not a risk model, or None."""
    return next((p for p in shipped_model_files() if not is_risk_model(p)), None)


def default_risk_model_path() -> Path | None:
    """The first shipped risk model file, or None."""
    return next((p for p in shipped_model_files() if is_risk_model(p)), None)
