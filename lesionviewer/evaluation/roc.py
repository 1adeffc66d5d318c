"""ROC analysis of a study-level score: AUC with a bootstrap confidence interval, an operating point, a plot.

The AUC is the probability that a random positive scores above a random negative (ties count
half) - the Mann-Whitney form, computed from ranks in O(n log n). The confidence interval is the
percentile bootstrap over cases (resampling positives and negatives separately, so every
replicate has both classes), seeded for reproducibility.

Example:
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> op = operating_point([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.3)
    >>> op["sensitivity"], op["specificity"]
    (1.0, 0.5)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata


def _checked(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels).astype(int).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    if y.sum() == 0 or y.sum() == y.size:
        raise ValueError("the ROC needs both positive and negative cases")
    return y, s


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve (ties count half).

    Example:
        >>> roc_auc([1, 0], [0.5, 0.5])
        0.5
    """
    y, s = _checked(labels, scores)
    ranks = rankdata(s)
    pos = int(y.sum())
    neg = y.size - pos
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def roc_curve(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(false positive rate, true positive rate, thresholds)``, from (0, 0) to (1, 1).

    A case counts as positive when its score is >= the threshold.

    Example:
        >>> fpr, tpr, thr = roc_curve([0, 1, 1], [0.2, 0.6, 0.9])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
    """
    y, s = _checked(labels, scores)
    thresholds = np.unique(s)[::-1]
    tpr = [0.0] + [float((s[y == 1] >= t).mean()) for t in thresholds]
    fpr = [0.0] + [float((s[y == 0] >= t).mean()) for t in thresholds]
    return np.asarray(fpr), np.asarray(tpr), np.concatenate([[np.inf], thresholds])


def bootstrap_auc_ci(labels: ArrayLike, scores: ArrayLike, replicates: int = 2000,
                     confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the AUC (stratified by class, seeded).

    Example:
        >>> lo, hi = bootstrap_auc_ci([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.7, 0.9], replicates=200)
        >>> lo <= roc_auc([0, 0, 0, 1, 1, 1], [0.1, 0.2, 0.6, 0.5, 0.7, 0.9]) <= hi
        True
    """
    y, s = _checked(labels, scores)
    rng = np.random.default_rng(seed)
    pos, neg = s[y == 1], s[y == 0]
    values = np.empty(replicates)
    for i in range(replicates):
        p = pos[rng.integers(0, pos.size, pos.size)]
        n = neg[rng.integers(0, neg.size, neg.size)]
        values[i] = roc_auc(np.r_[np.ones(p.size), np.zeros(n.size)], np.r_[p, n])
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def operating_point(labels: ArrayLike, scores: ArrayLike, threshold: float | None = None,
                    min_sensitivity: float | None = None) -> dict[str, float]:
    """Sensitivity and specificity at ``threshold`` (score >= threshold is positive).

    Without a threshold, the highest threshold reaching ``min_sensitivity`` is used when given,
    else the one maximising Youden's J (sensitivity + specificity - 1).

    Example:
        >>> operating_point([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])["threshold"]
        0.8
    """
    y, s = _checked(labels, scores)
    if threshold is None:
        fpr, tpr, thresholds = roc_curve(y, s)
        if min_sensitivity is not None:
            index = int(np.flatnonzero(tpr >= min_sensitivity)[0])
        else:
            index = int(np.argmax(tpr - fpr))
        threshold = float(thresholds[max(index, 1)])
    predicted = s >= threshold
    return {"threshold": float(threshold), "sensitivity": float(predicted[y == 1].mean()),
            "specificity": float((~predicted[y == 0]).mean())}


def plot_roc(labels: ArrayLike, scores: ArrayLike, path: str | Path, title: str = "ROC") -> Path:
    """Write the ROC curve with its AUC as a PNG (matplotlib, no display needed).

    Example:
        >>> import tempfile, pathlib
        >>> p = plot_roc([0, 1, 0, 1], [0.2, 0.7, 0.4, 0.6], pathlib.Path(tempfile.mkdtemp()) / "roc.png")
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fpr, tpr, _ = roc_curve(labels, scores)
    auc = roc_auc(labels, scores)
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.subplots()
    axes.plot(fpr, tpr, drawstyle="steps-post", label=f"AUC {auc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set_xlabel("1 - specificity")
    axes.set_ylabel("sensitivity")
    axes.set_title(title)
    axes.legend(loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
