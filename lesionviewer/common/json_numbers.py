"""Numbers stored in a model card's JSON: plain Python numbers, and null where a metric is NaN.

Standard JSON has no NaN, and other readers of a safetensors header would reject a file holding one;
a metric that could not be computed (no lesion in a split, say) is stored as null instead.

Example:
    >>> import json
    >>> json.dumps(nan_to_null({"auc": float("nan"), "curve": [0.5, float("inf")]}))
    '{"auc": null, "curve": [0.5, null]}'
"""
from __future__ import annotations

import math
from typing import Any


def plain_number(value: Any) -> Any:
    """``json.dumps(default=plain_number)``: numpy or torch scalars (and small arrays) as plain numbers.

    Example:
        >>> import json, numpy as np
        >>> json.dumps({"recall": np.float32(0.5), "counts": np.array([1, 2])}, default=plain_number)
        '{"recall": 0.5, "counts": [1, 2]}'
    """
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def nan_to_null(value: Any) -> Any:
    """``value`` with every non-finite float (in nested dicts and lists too) replaced by None.

    Example:
        >>> nan_to_null([1.0, float("-inf"), {"x": float("nan")}])
        [1.0, None, {'x': None}]
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nan_to_null(v) for v in value]
    return value
