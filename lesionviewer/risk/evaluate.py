"""Scoring a risk network on a list of crops: probabilities, ROC AUC with a bootstrap CI, an operating point.

:func:`predict_dataset` runs the network over a :class:`~lesionviewer.risk.dataset.RiskDataset`
(no augmentation, eval mode, autocast on GPU); :func:`risk_metrics` turns labels and scores into
the numbers a run logs and a model card stores; :func:`write_risk_evaluation` writes
``<name>.json`` (metrics and per-case scores), ``<name>_roc.png`` and ``<name>_cases.csv``, each
atomically.

Example:
    >>> m = risk_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], bootstrap=100)
    >>> m["auc"], m["num_cases"], m["num_positive"], m["operating_point"]["sensitivity"]
    (0.75, 4, 2, 1.0)
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch.utils.data import DataLoader

from lesionviewer.evaluation.roc import bootstrap_auc_ci, operating_point, plot_roc, roc_auc
from lesionviewer.risk.dataset import RiskDataset, collate_risk
from lesionviewer.util.atomic import atomic_write_text


@torch.no_grad()
def predict_dataset(model: torch.nn.Module, dataset: RiskDataset, device: torch.device | str = "cpu",
                    batch_size: int = 4, amp: bool = True, progress: bool = False) -> np.ndarray:
    """The logits of every item of ``dataset`` (in order), float64.

    Example:
        >>> import tempfile, pathlib
        >>> from lesionviewer.risk.preprocess import write_npz
        >>> from lesionviewer.risk.networks import build_risk_network
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> write_npz(d / "a.npz", np.zeros((16, 32, 32), np.int16), {"layout": 1})
        >>> predict_dataset(build_risk_network("i3d", {"width": 0.125}), RiskDataset([(d / "a.npz", 1)])).shape
        (1,)
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_risk, num_workers=0)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, unit="batch", desc="evaluate", dynamic_ncols=True)
    out = []
    use_amp = amp and device.type == "cuda"
    for volumes, _ in loader:
        with torch.autocast(device.type, enabled=use_amp):
            logits = model(volumes.to(device))
        out.append(logits.float().cpu().numpy().astype(np.float64))
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0)


def risk_metrics(labels: ArrayLike, scores: ArrayLike, min_sensitivity: float = 0.9,
                 bootstrap: int = 2000, seed: int = 0) -> dict[str, Any]:
    """AUC, its percentile bootstrap 95 % CI, and sensitivity/specificity at an operating point.

    The operating point is the highest threshold reaching ``min_sensitivity`` (0 = Youden's J).
    With one class only, the AUC is None. Thresholds are on the scores given (logits or probabilities).

    Example:
        >>> risk_metrics([1, 1], [0.2, 0.9])["auc"] is None
        True
    """
    y = np.asarray(labels, int)
    s = np.asarray(scores, float)
    metrics: dict[str, Any] = {"num_cases": int(y.size), "num_positive": int(y.sum())}
    if y.size == 0 or y.min() == y.max():
        metrics.update(auc=None, auc_ci95=None, operating_point=None)
        return metrics
    metrics["auc"] = roc_auc(y, s)
    metrics["auc_ci95"] = list(bootstrap_auc_ci(y, s, replicates=bootstrap, seed=seed)) if bootstrap else None
    point = operating_point(y, s, min_sensitivity=min_sensitivity if min_sensitivity > 0 else None)
    rule = f"sensitivity >= {min_sensitivity}" if min_sensitivity > 0 else "Youden's J"
    metrics["operating_point"] = {**point, "rule": rule}
    return metrics


def sigmoid(logits) -> np.ndarray:
    """Probabilities from logits (numerically safe).

    Example:
        >>> sigmoid([0.0, 1000.0, -1000.0]).tolist()
        [0.5, 1.0, 0.0]
    """
    x = np.asarray(logits, float)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def write_risk_evaluation(folder: str | Path, name: str, metrics: dict[str, Any], paths: Sequence[str | Path],
                          labels: Sequence[int] | np.ndarray, logits: Sequence[float] | np.ndarray) -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>_cases.csv`` and (both classes present) ``<name>_roc.png``.

    Example:
        >>> import tempfile
        >>> files = write_risk_evaluation(tempfile.mkdtemp(), "val", {"auc": 1.0}, ["a.npz", "b.npz"], [0, 1], [-1.0, 2.0])
        >>> sorted(files), json.loads(files["json"].read_text())["cases"][1]["probability"]
        (['cases', 'json', 'roc'], 0.8808)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probs = sigmoid(logits)
    cases = [{"volume": str(p), "label": int(y), "logit": round(float(lo), 5), "probability": round(float(q), 4)}
             for p, y, lo, q in zip(paths, labels, logits, probs)]
    files = {"json": folder / f"{name}.json", "cases": folder / f"{name}_cases.csv"}
    atomic_write_text(files["json"], json.dumps({**metrics, "cases": cases}, indent=2))
    lines = ["volume,label,logit,probability\n"] + [f"{c['volume']},{c['label']},{c['logit']},{c['probability']}\n"
                                                     for c in cases]
    atomic_write_text(files["cases"], "".join(lines))
    if len(set(int(v) for v in labels)) == 2:
        files["roc"] = _write_roc_png(folder / f"{name}_roc.png", labels, probs, f"ROC - {name}")
    return files


def _write_roc_png(path: Path, labels, scores, title: str) -> Path:
    # plot_roc writes in place; draw into a temporary file of the same folder and rename it over.
    handle, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(handle)
    try:
        plot_roc(labels, scores, tmp, title=title)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
