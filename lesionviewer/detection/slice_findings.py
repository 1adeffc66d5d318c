"""A detector's findings per slice: the score floor, one slice's findings from a detection dict, reporting a batch.

Shared by :class:`~lesionviewer.detection.engine.Detector` and
:class:`~lesionviewer.detection.ensemble.EnsembleDetector`, so that both drop, order and report findings the same
way (and the GUI sees the same stream from either).

Example:
    >>> import numpy as np, torch
    >>> from lesionviewer.io import Volume
    >>> vol = Volume(np.zeros((1, 8, 8), np.int16), (1.0, 1.0, 1.0))
    >>> out = {"boxes": torch.tensor([[0., 0., 2., 2.]]), "scores": torch.tensor([0.01])}
    >>> slice_findings(vol, 0, out, SCORE_FLOOR, "m")  # under the floor
    []
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Union

import torch

from lesionviewer.detection.finding import Finding

#: Findings scoring below this are dropped; the GUI's threshold slider filters the rest.
SCORE_FLOOR = 0.05

#: What ``cancel`` may be: None, a ``threading.Event``, or a callable returning True to stop.
Cancel = Union[Callable[[], bool], threading.Event, None]


def slice_findings(volume, index: int, output: dict[str, torch.Tensor], score_floor: float,
                   model_name: str) -> list[Finding]:
    """The findings on slice ``index`` from one detection dict (pixel ``boxes``, ``scores``): those
    scoring at least ``score_floor``, by falling score.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> vol = Volume(np.zeros((1, 8, 8), np.int16), (1.0, 1.0, 1.0))
        >>> out = {"boxes": torch.tensor([[0., 0., 2., 2.], [1., 1., 3., 3.]]), "scores": torch.tensor([0.3, 0.9])}
        >>> [f.score for f in slice_findings(vol, 0, out, 0.5, "m")]
        [0.8999999761581421]
    """
    keep = output["scores"] >= score_floor
    boxes, scores = output["boxes"][keep].tolist(), output["scores"][keep].tolist()
    return sorted((Finding.from_pixel_box(volume, index, box, score, model_name) for box, score in zip(boxes, scores)),
                  key=lambda f: -f.score)


def report_batch(found: list[Finding], per_slice: list[tuple[int, list[Finding]]], done: int, total: int,
                 progress: Callable[[int, int], Any] | None,
                 on_findings: Callable[[int, list[Finding]], Any] | None) -> int:
    """Add a finished batch's ``(slice, findings)`` to ``found``, tell ``on_findings`` per slice and
    ``progress(done, total)`` once; returns the new count of slices done.

    Example:
        >>> seen = []
        >>> report_batch([], [(4, []), (3, [])], 2, 9, lambda d, t: seen.append((d, t)), lambda i, f: seen.append(i))
        4
        >>> seen
        [4, 3, (4, 9)]
    """
    for index, on_slice in per_slice:
        found.extend(on_slice)
        if on_findings is not None:
            on_findings(index, on_slice)
    done += len(per_slice)
    if progress is not None:
        progress(done, total)
    return done


def is_cancelled(cancel: Cancel) -> bool:
    """Whether ``cancel`` (None, a ``threading.Event`` or a callable returning True) asks to stop.

    Example:
        >>> stop = threading.Event(); stop.set()
        >>> is_cancelled(None), is_cancelled(stop), is_cancelled(lambda: False)
        (False, True, False)
    """
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())
