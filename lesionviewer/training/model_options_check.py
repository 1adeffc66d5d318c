"""Check a training config's ``model.options`` before a network is built from them.

``width = -8`` or ``blocks = [2000, 2000, 2000, 2000]`` would otherwise fail deep inside torch
(a raw traceback) or spend minutes and gigabytes first. Each known option gets a type and a range;
an unknown option name is refused with the list of known ones (the factory's own check).

Example:
    >>> model_options_problem("mp3d_small", {"width": -8})
    'model.options.width must be an integer from 1 to 1024 (got -8)'
    >>> model_options_problem("mp3d_small", {"width": 8, "blocks": [1, 1, 1, 1]}) is None
    True
"""
from __future__ import annotations

import math
from typing import Any

#: Integer options and their allowed range (inclusive).
INT_RANGES: dict[str, tuple[int, int]] = {
    "width": (1, 1024),
    "fpn_channels": (1, 4096),
    "representation_size": (1, 16384),
    "max_size": (1, 8192),
    "rpn_pre_nms_top_n_train": (1, 100000),
    "rpn_post_nms_top_n_train": (1, 100000),
    "rpn_pre_nms_top_n_test": (1, 100000),
    "rpn_post_nms_top_n_test": (1, 100000),
    "rpn_batch_size_per_image": (1, 100000),
    "box_detections_per_img": (1, 100000),
    "box_batch_size_per_image": (1, 100000),
}
#: Options that are fractions or thresholds in [0, 1].
UNIT_FLOATS = ("rpn_nms_thresh", "rpn_fg_iou_thresh", "rpn_bg_iou_thresh", "rpn_positive_fraction",
               "box_score_thresh", "box_nms_thresh", "box_fg_iou_thresh", "box_bg_iou_thresh",
               "box_positive_fraction")
#: Blocks per stage: this many stages at most, each from 1 to this many blocks.
MAX_STAGES, MAX_BLOCKS = 8, 64


def _is_hu_range(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 2 and all(_is_number(v) and math.isfinite(v) for v in value)
            and value[1] > value[0])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def model_options_problem(arch: str, options: dict[str, Any]) -> str | None:
    """What is wrong with ``options`` for architecture ``arch`` (one sentence), or None when usable.

    Example:
        >>> model_options_problem("mp3d63", {"blocks": [3, 4, 6000, 3]})
        'model.options.blocks must be a list of 1 to 8 integers from 1 to 64 (got [3, 4, 6000, 3])'
        >>> model_options_problem("mp3d63", {"rpn_nms_thresh": 7})
        'model.options.rpn_nms_thresh must be a number from 0 to 1 (got 7)'
        >>> model_options_problem("mp3d_small", {"input_windows": [[240, -160]]})
        'model.options.input_windows must be 1 to 4 [low, high] HU windows with high > low (got [[240, -160]])'
    """
    from lesionviewer.detection.factory import resolve_options

    try:
        resolve_options(arch, options)
    except ValueError as err:
        return str(err)
    for key, value in options.items():
        name = f"model.options.{key}"
        if key in INT_RANGES:
            low, high = INT_RANGES[key]
            if not _is_int(value) or not low <= value <= high:
                return f"{name} must be an integer from {low} to {high} (got {value!r})"
        elif key in UNIT_FLOATS:
            if not _is_number(value) or not math.isfinite(value) or not 0 <= value <= 1:
                return f"{name} must be a number from 0 to 1 (got {value!r})"
        elif key == "blocks":
            ok = isinstance(value, (list, tuple)) and 1 <= len(value) <= MAX_STAGES and all(
                _is_int(v) and 1 <= v <= MAX_BLOCKS for v in value)
            if not ok:
                return f"{name} must be a list of 1 to {MAX_STAGES} integers from 1 to {MAX_BLOCKS} (got {value!r})"
        elif key == "min_size":
            sizes = value if isinstance(value, (list, tuple)) else [value]
            if not sizes or not all(_is_int(v) and 1 <= v <= 8192 for v in sizes):
                return f"{name} must be sizes from 1 to 8192 pixels (got {value!r})"
        elif key == "input_windows":
            if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 4 or not all(_is_hu_range(w) for w in value):
                return f"{name} must be 1 to 4 [low, high] HU windows with high > low (got {value!r})"
        elif key == "input_hu_clip":
            if not _is_hu_range(value):
                return f"{name} must be [low, high] HU with high > low (got {value!r})"
        elif key == "bbox_reg_weights":
            if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
                    _is_number(v) and math.isfinite(v) and v > 0 for v in value):
                return f"{name} must be 4 positive numbers (got {value!r})"
    return None
