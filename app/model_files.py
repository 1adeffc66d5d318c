"""Which shipped model file is the detector and which the risk model.

``resources/models/`` holds both kinds as ``*.safetensors`` with a JSON model card in the file's
metadata; a risk model's card says ``"task": "risk"``. The card is read from the file's header
without torch (start-up must stay fast); only a file whose card cannot tell asks the risk library
(``lesionviewer.risk.model.is_risk_model_file``, which imports torch), and without it the file name
decides ("risk" in it).
"""
from __future__ import annotations

import json
from pathlib import Path

from lesionviewer.paths import resources_dir


def read_card(path: str | Path) -> dict | None:
    """The model card in ``path``'s safetensors metadata (read from the header, without torch), or None.

    A card with a ``task`` is preferred; else the first JSON object found.
    """
    try:
        from lesionviewer.detection.model_file import CARD_METADATA_KEY, read_header

        _, metadata = read_header(path)
    except Exception:  # noqa: BLE001 - not a readable model file: no card
        return None
    texts = [metadata.get(CARD_METADATA_KEY)] + [v for k, v in metadata.items() if k != CARD_METADATA_KEY]
    cards = []
    for text in texts:
        try:
            card = json.loads(text) if isinstance(text, str) else None
        except (ValueError, RecursionError):  # not JSON, or nested absurdly deep: no card
            continue
        if isinstance(card, dict):
            cards.append(card)
    return next((c for c in cards if c.get("task")), cards[0] if cards else None)


def card_task(path: str | Path) -> str | None:
    """The ``task`` of the model card in ``path``'s safetensors metadata; None when unreadable or absent."""
    card = read_card(path)
    return str(card["task"]) if card and card.get("task") else None


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
