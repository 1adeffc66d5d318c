"""ROC AUC, its bootstrap interval, operating points and the plot (lesionviewer.evaluation.roc)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from lesionviewer.evaluation.roc import bootstrap_auc_ci, operating_point, plot_roc, roc_auc, roc_curve


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(0, 1, n) + 1.2 * y
    s[:10] = np.round(s[:10])  # some ties
    return y, s


def test_auc_equals_mann_whitney_u():
    y, s = _data()
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert roc_auc(y, s) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()), abs=1e-12)


def test_auc_equals_the_trapezoid_area_under_the_curve():
    y, s = _data(seed=1)
    fpr, tpr, _ = roc_curve(y, s)
    assert roc_auc(y, s) == pytest.approx(np.trapezoid(tpr, fpr), abs=1e-12)


def test_perfect_and_inverted_scores():
    assert roc_auc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert roc_auc([0, 0, 1], [0.9, 0.8, 0.1]) == 0.0


def test_bootstrap_interval_holds_the_auc_and_narrows_with_more_cases():
    y, s = _data(60, seed=2)
    lo, hi = bootstrap_auc_ci(y, s, replicates=500)
    assert lo < roc_auc(y, s) < hi
    y2, s2 = _data(600, seed=2)
    lo2, hi2 = bootstrap_auc_ci(y2, s2, replicates=500)
    assert hi2 - lo2 < hi - lo
    assert bootstrap_auc_ci(y, s, replicates=200, seed=5) == bootstrap_auc_ci(y, s, replicates=200, seed=5)


def test_operating_points():
    y = [0, 0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.6, 0.5, 0.7, 0.9]
    assert operating_point(y, s, threshold=0.55) == {"threshold": 0.55, "sensitivity": 2 / 3, "specificity": 2 / 3}
    high = operating_point(y, s, min_sensitivity=1.0)
    assert high["sensitivity"] == 1.0 and high["threshold"] == 0.5
    assert operating_point(y, s)["sensitivity"] + operating_point(y, s)["specificity"] >= 4 / 3


def test_one_class_only_is_a_clear_error():
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc([1, 1], [0.2, 0.3])


def test_plot_is_a_png(tmp_path):
    y, s = _data(50)
    path = plot_roc(y, s, tmp_path / "roc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
