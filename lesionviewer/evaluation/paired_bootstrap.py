"""How far a gap in FROC mean sensitivity between two detectors on the same images can be trusted: a paired bootstrap.

Two detectors scored on one set differ by some mean sensitivity; part of that gap is which images the set happened
to hold. Drawing the set's images again with replacement (the same draw for both detectors, so the comparison stays
paired) and scoring both on every draw gives the spread of the gap that the images alone produce. What it cannot
see is the other source of chance, the training seed: two seeds of one recipe can differ by more than this interval
(docs/training.md, Run 47), so it bounds what the set can tell, not what a recipe is worth.

Example:
    >>> import numpy as np
    >>> truth = [np.array([[0, 0, 10, 10]])] * 4
    >>> good = [np.array([[0, 0, 10, 10, 0.9]])] * 4
    >>> blind = [np.array([[50, 50, 60, 60, 0.9]])] * 4
    >>> gap = paired_bootstrap(blind, good, truth, fps=(1.0,), resamples=50)
    >>> gap["difference"], gap["low"], gap["high"], gap["share_not_better"]
    (1.0, 1.0, 1.0, 0.0)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lesionviewer.evaluation.froc import DEFAULT_FPS, MEAN_RANGE, froc


def paired_bootstrap(detections_a: Sequence, detections_b: Sequence, ground_truth: Sequence,
                     fps: Sequence[float] = DEFAULT_FPS, iou: float = 0.5, resamples: int = 1000, seed: int = 0,
                     mean_range: tuple[float, float] = MEAN_RANGE) -> dict[str, Any]:
    """The gap ``b - a`` in FROC mean sensitivity and its 95 % interval over images drawn again with replacement.

    ``detections_a``/``detections_b`` hold one ``[x1, y1, x2, y2, score]`` array per image and ``ground_truth`` one
    ``[x1, y1, x2, y2]`` array per image, in the same image order (as :func:`~lesionviewer.evaluation.froc.froc`).
    Every draw takes ``len(ground_truth)`` images with replacement and scores both detectors on that same draw
    (a repeated image counts as many times as drawn, its lesions and its false positives alike). Returns
    ``difference`` (on the set as it is), ``low`` and ``high`` (the 2.5th and 97.5th percentiles of the drawn gaps),
    ``share_not_better`` (the share of draws where ``b`` does not beat ``a``), ``resamples`` and ``seed``; the same
    seed gives the same numbers. Raises ``ValueError`` for mismatched lengths or fewer than one resample.

    Example:
        >>> import numpy as np
        >>> truth = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 30, 30]])]
        >>> a = [np.array([[0, 0, 10, 10, 0.9]]), np.zeros((0, 5))]
        >>> b = [np.array([[0, 0, 10, 10, 0.9]]), np.array([[20, 20, 30, 30, 0.8]])]
        >>> gap = paired_bootstrap(a, b, truth, fps=(1.0,), resamples=200)
        >>> gap["difference"], gap["low"] >= 0.0, gap["share_not_better"] < 0.5
        (0.5, True, True)
    """
    if not len(detections_a) == len(detections_b) == len(ground_truth):
        raise ValueError(f"the two detectors cover {len(detections_a)} and {len(detections_b)} images and the truth "
                         f"{len(ground_truth)}; they must be the same images in the same order")
    if int(resamples) < 1:
        raise ValueError(f"resamples must be at least 1, not {resamples}")

    def mean_of(detections: Sequence, chosen: np.ndarray) -> float:
        return froc([detections[i] for i in chosen], [ground_truth[i] for i in chosen], fps=fps, iou=iou,
                    mean_range=mean_range).mean_sensitivity

    everything = np.arange(len(ground_truth))
    observed = mean_of(detections_b, everything) - mean_of(detections_a, everything)
    rng = np.random.default_rng(seed)
    gaps = np.empty(int(resamples))
    for k in range(gaps.size):
        chosen = rng.integers(0, len(ground_truth), len(ground_truth))
        gaps[k] = mean_of(detections_b, chosen) - mean_of(detections_a, chosen)
    gaps = gaps[np.isfinite(gaps)]  # a draw without any lesion has no sensitivity
    if gaps.size == 0:
        raise ValueError("no draw held a lesion: the set has none to compare the detectors on")
    return {"difference": float(observed), "low": float(np.percentile(gaps, 2.5)),
            "high": float(np.percentile(gaps, 97.5)), "share_not_better": float(np.mean(gaps <= 0)),
            "resamples": int(gaps.size), "seed": int(seed)}
