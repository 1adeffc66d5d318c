"""How long detection still needs, from the time the slices done so far took.

On a processor a study can take minutes, so the status bar says how long is left: the time per
slice measured so far (the first batch, then the running average) times the slices still to do.

Example::

    remaining_seconds(elapsed_s=8.0, done=4, total=12)   # 16.0
    describe_remaining(16.0)                             # "about 16 s left"
"""
from __future__ import annotations

import math

#: Shown until the first batch has been timed.
ESTIMATING = "estimating..."


def remaining_seconds(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds left at the average time per slice so far; None before any slice is done."""
    if done <= 0 or total <= 0:
        return None
    return max(float(elapsed_s), 0.0) / done * max(total - done, 0)


def describe_remaining(seconds: float | None) -> str:
    """``"about 16 s left"``, ``"about 3 min left"``, ``"about 1 h 5 min left"``; :data:`ESTIMATING` for None."""
    if seconds is None or not math.isfinite(seconds):
        return ESTIMATING
    seconds = max(seconds, 0.0)
    if seconds < 1.0:
        return "less than 1 s left"
    if seconds < 90:
        return f"about {seconds:.0f} s left"
    minutes = seconds / 60.0
    if minutes < 60:
        return f"about {minutes:.0f} min left"
    hours, rest = divmod(round(minutes), 60)
    return f"about {hours} h {rest} min left"
