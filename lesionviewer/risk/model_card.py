"""The risk model's card: what the file is, how a volume must be prepared for it, what it was trained on and scored.

It travels as JSON inside the safetensors file (:mod:`lesionviewer.risk.model_file`), under its
own metadata key, so a risk file is never mistaken for a detector file (whose card has another
key and other fields) and vice versa. The card is the single source of the preprocessing: the
viewer's :class:`~lesionviewer.risk.model.RiskModel` resamples, crops and windows a volume exactly
as the training data was, from these fields.

Fields: ``task`` (always ``"risk"``), ``layout_version``, ``name``, ``backbone`` and
``backbone_options`` (rebuild the network), ``preprocessing`` (``voxel_mm``, ``crop_shape``,
``lung_threshold_hu``), ``intensity`` (``hu_window``, ``mean``, ``std``), ``label_rule`` (what a
positive meant in the training data), ``training_data`` (with ``description``), ``metrics``
(measured), ``command`` (how the file was produced), ``description``, ``library_version``,
``created``.

Example:
    >>> card = risk_card({"name": "demo", "backbone": "i3d", "backbone_options": {"width": 0.125},
    ...                   "preprocessing": {"voxel_mm": 4.0, "crop_shape": [72, 56, 88]}})
    >>> card["task"], card["intensity"]["hu_window"], card["preprocessing"]["lung_threshold_hu"]
    ('risk', [-1000.0, 400.0], -400.0)
"""
from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from lesionviewer.risk.intensity import DEFAULT_HU_WINDOW

#: Metadata key of the card in the safetensors header (the detector's is ``lesionviewer.model_card``).
RISK_CARD_KEY = "lesionviewer.risk_card"
RISK_CARD_LAYOUT = 1
TASK = "risk"

_REQUIRED = ("task", "layout_version", "name", "backbone", "backbone_options", "preprocessing", "intensity")
_OPTIONAL_TEXT = ("label_rule", "command", "description", "library_version", "created")
_OPTIONAL_DICT = ("training_data", "metrics")


class RiskCardError(ValueError):
    """A risk model card that is incomplete, of an unknown layout, or holds an impossible value."""


def _now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def risk_card(fields: dict[str, Any]) -> dict[str, Any]:
    """A complete, checked card from ``fields`` (defaults filled: intensity, threshold, version, time).

    Example:
        >>> risk_card({"name": "x", "backbone": "i3d", "preprocessing": {"voxel_mm": 0}})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.risk.model_card.RiskCardError: the risk model card is invalid: preprocessing.voxel_mm must be > 0 ...
    """
    import lesionviewer

    card: dict[str, Any] = {"task": TASK, "layout_version": RISK_CARD_LAYOUT, "backbone_options": {},
            "intensity": {"hu_window": list(DEFAULT_HU_WINDOW), "mean": 0.5, "std": 0.5},
            "label_rule": "", "training_data": {}, "metrics": {}, "command": "", "description": "",
            "library_version": lesionviewer.__version__, "created": _now_utc()}
    card.update(fields)
    from lesionviewer.risk.preprocess import PreprocessSettings

    pre = dict(card.get("preprocessing") or {})
    try:  # every preprocessing field stored, defaults filled in, so the viewer never guesses
        card["preprocessing"] = {**PreprocessSettings.from_dict(pre).to_dict(), **pre}
    except (TypeError, ValueError):
        card["preprocessing"] = pre  # check_risk_card names what is wrong
    card["intensity"] = {"hu_window": list(DEFAULT_HU_WINDOW), "mean": 0.5, "std": 0.5, **card["intensity"]}
    return check_risk_card(card)


def check_risk_card(card: Any) -> dict[str, Any]:
    """Validate a stored card strictly and return it with numbers normalised (lists, floats).

    Example:
        >>> check_risk_card({"task": "detection"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.risk.model_card.RiskCardError: not a risk model card (task is 'detection', not 'risk')
    """
    if not isinstance(card, dict):
        raise RiskCardError(f"the risk model card must be a JSON object, not {type(card).__name__}")
    if card.get("task") != TASK:
        raise RiskCardError(f"not a risk model card (task is {card.get('task')!r}, not {TASK!r})")
    layout = card.get("layout_version")
    if isinstance(layout, bool) or not isinstance(layout, int) or layout < 1:
        raise RiskCardError(f"the risk model card has no valid layout_version (got {layout!r})")
    if layout > RISK_CARD_LAYOUT:
        raise RiskCardError(f"the risk model card has layout {layout}, newer than this LesionViewer reads "
                            f"(up to {RISK_CARD_LAYOUT}); update LesionViewer")
    missing = [k for k in _REQUIRED if k not in card]
    if missing:
        raise RiskCardError(f"the risk model card lacks required fields: {', '.join(missing)}")
    unknown = sorted(set(card) - set(_REQUIRED) - set(_OPTIONAL_TEXT) - set(_OPTIONAL_DICT))
    if unknown:
        raise RiskCardError(f"the risk model card has unknown fields: {', '.join(unknown)}")
    problems = []
    card = dict(card)
    if not isinstance(card["name"], str) or not card["name"].strip():
        problems.append("name must be a non-empty text")
    if not isinstance(card["backbone"], str) or not card["backbone"]:
        problems.append("backbone must be a non-empty text")
    for key in ("backbone_options", "preprocessing", "intensity") + _OPTIONAL_DICT:
        if key in card and not isinstance(card[key], dict):
            problems.append(f"{key} must be a JSON object")
    if problems:
        raise RiskCardError("the risk model card is invalid: " + "; ".join(problems))
    pre, inten = dict(card["preprocessing"]), dict(card["intensity"])
    # JSON values, checked one by one below
    voxel: Any = pre.get("voxel_mm")
    if not _finite(voxel) or voxel <= 0:
        problems.append(f"preprocessing.voxel_mm must be > 0 (got {voxel!r})")
    shape: Any = pre.get("crop_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        problems.append(f"preprocessing.crop_shape must be three positive integers (got {shape!r})")
    if not _finite(pre.get("lung_threshold_hu")):
        problems.append("preprocessing.lung_threshold_hu must be a number")
    window: Any = inten.get("hu_window")
    if not (isinstance(window, (list, tuple)) and len(window) == 2 and all(_finite(v) for v in window)
            and window[1] > window[0]):
        problems.append(f"intensity.hu_window must be [low, high] with high > low (got {window!r})")
    if not _finite(inten.get("mean")) or not _finite(inten.get("std")) or not inten["std"] > 0:
        problems.append("intensity.mean and intensity.std must be numbers, std > 0")
    if problems:
        raise RiskCardError("the risk model card is invalid: " + "; ".join(problems))
    pre.update(voxel_mm=float(voxel), crop_shape=[int(v) for v in shape],
               lung_threshold_hu=float(pre["lung_threshold_hu"]))
    inten.update(hu_window=[float(v) for v in window], mean=float(inten["mean"]), std=float(inten["std"]))
    card.update(preprocessing=pre, intensity=inten)
    return card


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
