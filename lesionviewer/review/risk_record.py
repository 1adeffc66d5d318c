"""The whole-study risk score as the review keeps and exports it: a small, checked, JSON-ready dict.

The risk model (``lesionviewer.risk``) returns a ``RiskResult``; the review session stores this
record of it (so a reopened study still shows and exports its score) and the CSV export writes it
as the study-level ``risk`` row. Keys: ``probability`` (0..1), ``logit`` (or None), ``model_name``,
``model_version``, ``lung_found``, ``enough_lung`` (False when no lung or too little lung was found:
the viewer then shows no percentage, only the note) and ``note`` (the model's remark). A record
saved before ``enough_lung`` existed takes it from ``lung_found`` and the note.

Example:
    >>> from types import SimpleNamespace
    >>> result = SimpleNamespace(probability=0.123456, logit=-1.96, model_name="demo-risk",
    ...                          lung_found=False, note="no lung found; the volume centre was used")
    >>> record = risk_record(result, model_version="1")
    >>> record["probability"], record["lung_found"], record["enough_lung"], record["model_version"]
    (0.123456, False, False, '1')
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

RISK_FIELDS = ("probability", "logit", "model_name", "model_version", "lung_found", "enough_lung", "note")


def _fields_of(result: Any) -> dict[str, Any]:
    if isinstance(result, Mapping):
        return dict(result)
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    return {name: getattr(result, name) for name in RISK_FIELDS if hasattr(result, name)}


def risk_record(result: Any, model_version: str | None = None) -> dict[str, Any]:
    """The checked record of a risk result (a ``RiskResult``, an object with its fields, or a dict).

    ``model_version`` (from the model's card) overrides a version in ``result``. Raises
    ``ValueError`` naming the field when the probability is missing or outside 0..1, or the logit
    is not a finite number.

    Example:
        >>> risk_record({"probability": 0.5, "model_name": "m"})["note"]
        ''
        >>> risk_record({"probability": 1.5, "model_name": "m"})
        Traceback (most recent call last):
        ...
        ValueError: risk result: probability must be a number between 0 and 1, got 1.5
    """
    data = _fields_of(result)
    try:
        probability = float(data["probability"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"risk result: probability must be a number between 0 and 1, "
                         f"got {data.get('probability')!r}") from None
    if not 0.0 <= probability <= 1.0:  # also false for NaN
        raise ValueError(f"risk result: probability must be a number between 0 and 1, got {probability}")
    logit = data.get("logit")
    if logit is not None:
        try:
            logit = float(logit)
        except (TypeError, ValueError):
            raise ValueError(f"risk result: logit must be a number, got {logit!r}") from None
        if not math.isfinite(logit):
            logit = None  # a probability of exactly 0 or 1: the score still stands, the logit does not
    version = data.get("model_version", "") if model_version is None else model_version
    lung_found = bool(data.get("lung_found", True))
    note = str(data.get("note") or "")
    enough = data.get("enough_lung")
    if enough is None:  # saved by an older version: the model's note said "only N ml of lung"
        enough = lung_found and "ml of lung" not in note
    return {
        "probability": probability,
        "logit": logit,
        "model_name": str(data.get("model_name") or ""),
        "model_version": str(version or ""),
        "lung_found": lung_found,
        "enough_lung": bool(enough) and lung_found,
        "note": note,
    }
