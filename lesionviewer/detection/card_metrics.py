"""Rewrite one entry of a model file's ``metrics`` in place (weights and the rest of the card unchanged).

The measuring commands record what they measured in the card they measured: ``lesionviewer-train
evaluate-real --record-in-card`` (``metrics.real_ct``) and ``lesionviewer-train evaluate
--record-in-card MODEL`` (``metrics.val`` / ``metrics.test``). The file is rewritten atomically.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.detection.factory import build_detector
    >>> from lesionviewer.detection.model_file import read_card, save_model
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = save_model(path, net, {"name": "m", "slice_interval_mm": 2.5, "metrics": {"test": {"map50": 0.5}}})
    >>> set_card_metric(path, "val", {"map50": 0.25})
    >>> read_card(path).metrics
    {'test': {'map50': 0.5}, 'val': {'map50': 0.25}}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def set_card_metric(model_path: str | Path, key: str, value: Any) -> None:
    """Set ``metrics[key] = value`` in the card of the model file at ``model_path`` (see the module's example).

    An ensemble file's own card is the one changed (its members' cards record what each measured alone).
    """
    from lesionviewer.detection.model_file import load_model, read_card, save_model

    if read_card(model_path).ensemble_members:
        from lesionviewer.detection.ensemble_file import set_ensemble_metric

        set_ensemble_metric(model_path, key, value)
        return
    model, card = load_model(model_path, device="cpu")
    fields = card.to_dict()
    fields["metrics"] = {**card.metrics, key: value}
    save_model(model_path, model, fields)
