"""Export a risk training run as the viewer's risk model file (safetensors + risk card).

The card gets the backbone and its options, the preprocessing and intensity settings from the
run's config, the labelling rule of the training data (from the phantom cohort's metadata when
the crops are phantoms, or as given), a data description, the metrics the run *measured*
(validation of the best epoch; the held-out test when the run had one; any ``eval/*.json`` named
with ``--metrics``), and the commands that produced it.

Example:
    >>> export_risk_run("/nonexistent/run", "m.safetensors")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.training.checkpoint.CheckpointError: /nonexistent/run/checkpoints/best.pt: checkpoint not found
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lesionviewer.training.loop import checkpoint_paths

PHANTOM_DATA = "synthetic chest CT phantoms (lesionviewer.risk.phantom_cohort); not for clinical use"
_METRIC_KEYS = ("auc", "auc_ci95", "operating_point", "num_cases", "num_positive")


def _metric_subset(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: metrics[k] for k in _METRIC_KEYS if k in metrics}


def phantom_rule_of(list_path: str | Path) -> str:
    """The phantom labelling rule when the list's first crop is a risk phantom ("" otherwise).

    Example:
        >>> phantom_rule_of("/nonexistent.list")
        ''
    """
    from lesionviewer.risk.dataset import resolve_list
    from lesionviewer.risk.phantom_cohort import LABEL_RULE, RULE_VERSION
    from lesionviewer.risk.preprocess import read_npz

    try:
        first = resolve_list(list_path)[0][0]
        meta = read_npz(first)[1]
    except (OSError, ValueError):
        return ""
    if "phantom" in str(meta.get("source", "")) and int(meta.get("rule_version", 1)) == RULE_VERSION:
        return LABEL_RULE
    return ""


def export_risk_run(run_dir: str | Path, out: str | Path, name: str | None = None, which: str = "best",
                    label_rule: str | None = None, data_description: str | None = None,
                    extra_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``out`` from the run's ``best`` (or ``last``) checkpoint; returns the stored card.

    ``label_rule`` and ``data_description`` default to the phantom rule and "synthetic phantoms,
    not for clinical use" when the training crops are phantoms; ``extra_metrics`` (name -> metrics
    dict, e.g. a held-out evaluation) are added to the card's metrics.

    Example:
        >>> import tempfile
        >>> from lesionviewer.risk.config import RiskConfig
        >>> from lesionviewer.risk.networks import build_risk_network
        >>> from lesionviewer.training.checkpoint import save_checkpoint
        >>> options = {"width": 4, "blocks": [1, 1, 1, 1]}
        >>> cfg = RiskConfig.from_dict({"name": "tiny_risk", "data": {"voxel_mm": 10.0, "crop_shape": [8, 12, 12]},
        ...                             "model": {"backbone": "mp3d", "options": options}})
        >>> run = Path(tempfile.mkdtemp())
        >>> save_checkpoint(run / "checkpoints" / "best.pt", {"config_json": json.dumps(cfg.to_dict()), "epoch": 3,
        ...     "model": build_risk_network("mp3d", options).state_dict(), "metrics": json.dumps({"auc": 0.75})})
        >>> card = export_risk_run(run, run / "tiny.safetensors")
        >>> card["name"], card["metrics"], card["preprocessing"]["voxel_mm"]
        ('tiny_risk', {'val': {'auc': 0.75, 'epoch': 3}}, 10.0)
        >>> card["label_rule"], card["training_data"]["description"]  # not phantom crops: no rule claimed
        ('', "see the run's training lists")
    """
    from lesionviewer.risk.model_file import save_risk_model
    from lesionviewer.risk.trainer import command_line, network_from_checkpoint

    run_dir = Path(run_dir)
    net, cfg, state = network_from_checkpoint(checkpoint_paths(run_dir)[which])
    summary_path = checkpoint_paths(run_dir)["summary"]
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    metrics: dict[str, Any] = {}
    val = json.loads(state.get("metrics", "{}") or "{}")
    if val:
        metrics["val"] = {**_metric_subset(val), "epoch": int(state.get("epoch", -1))}
    if "test" in summary:
        metrics["test"] = _metric_subset(summary["test"])
    for key, value in (extra_metrics or {}).items():
        metrics[key] = _metric_subset(value) if isinstance(value, dict) and "auc" in value else value
    rule = label_rule if label_rule is not None else phantom_rule_of(cfg.data.train_list)
    description = data_description
    if description is None:
        description = PHANTOM_DATA if rule else "see the run's training lists"
    training = dict(summary.get("training_data", {}))
    training.update(description=description, config=cfg.name, checkpoint=which,
                    epoch=int(state.get("epoch", -1)), step=int(state.get("step", -1)),
                    loss=summary.get("loss"), optimizer={"name": cfg.optim.optimizer, "lr": cfg.optim.lr,
                                                         "epochs": cfg.optim.epochs,
                                                         "total_batch": cfg.total_batch(summary.get("world_size", 1))})
    commands = [c for c in (summary.get("command"), command_line()) if c]
    card = {
        "name": name or cfg.name,
        "description": cfg.description,
        "preprocessing": cfg.preprocess_settings().to_dict(),
        "intensity": {"hu_window": list(cfg.data.hu_window), "mean": cfg.data.mean, "std": cfg.data.std},
        "label_rule": rule,
        "training_data": training,
        "metrics": metrics,
        "command": " ; ".join(commands),
    }
    return save_risk_model(out, net, card)


def phantom_check(model_path: str | Path, cohort_seed: int, cohort_count: int, first: int,
                  matrix: int = 64) -> dict[str, Any]:
    """Score the first ``first`` cases of the phantom cohort ``(cohort_seed, cohort_count)`` through the
    viewer's path (:meth:`RiskModel.predict` on the generated CT) and record the result in the file's card.

    The cases are regenerated from their seeds, so anyone can repeat the check (the demo model's
    test does); the card gets ``metrics["phantom_check"]`` with the cohort, the labels, the
    probabilities and their AUC. Returns that entry.

    Example:
        >>> import tempfile
        >>> from lesionviewer.risk.model_file import read_risk_card, save_risk_model
        >>> from lesionviewer.risk.networks import build_risk_network
        >>> path = Path(tempfile.mkdtemp()) / "risk.safetensors"
        >>> _ = save_risk_model(path, build_risk_network("mp3d", {"width": 4, "blocks": [1, 1, 1, 1]}),
        ...                     {"name": "tiny", "preprocessing": {"voxel_mm": 8.0, "crop_shape": [16, 16, 16]}})
        >>> entry = phantom_check(path, cohort_seed=0, cohort_count=4, first=3, matrix=32)
        >>> entry["labels"], len(entry["probabilities"]), 0.0 <= entry["auc"] <= 1.0
        ([0, 0, 1], 3, True)
        >>> read_risk_card(path)["metrics"]["phantom_check"] == entry  # recorded in the file's card
        True
    """
    from lesionviewer.evaluation.roc import roc_auc
    from lesionviewer.risk.model import RiskModel
    from lesionviewer.risk.model_file import load_risk_network, save_risk_model

    labels, probabilities = score_phantom_cases(RiskModel.from_file(model_path), cohort_seed, cohort_count, first,
                                                matrix)
    entry = {"cohort_seed": int(cohort_seed), "cohort_count": int(cohort_count), "first": int(first),
             "matrix": int(matrix), "labels": labels, "probabilities": [round(p, 6) for p in probabilities],
             "auc": roc_auc(labels, probabilities) if 0 < sum(labels) < len(labels) else None}
    net, card = load_risk_network(model_path)
    card["metrics"]["phantom_check"] = entry
    save_risk_model(model_path, net, card)
    return entry


def score_phantom_cases(model, cohort_seed: int, cohort_count: int, first: int,
                        matrix: int = 64) -> tuple[list[int], list[float]]:
    """Labels and predicted probabilities of the first ``first`` cases of a phantom cohort.

    Example:
        >>> from types import SimpleNamespace
        >>> class Width:  # "scores" a volume by its width in voxels / 100
        ...     def predict(self, volume):
        ...         return SimpleNamespace(probability=volume.hu.shape[2] / 100)
        >>> score_phantom_cases(Width(), cohort_seed=0, cohort_count=4, first=3, matrix=32)
        ([0, 0, 1], [0.32, 0.32, 0.32])
    """
    from lesionviewer.risk.phantom_cohort import cohort_labels, generate_chest_case

    labels, probabilities = [], []
    for case_seed, label in cohort_labels(cohort_count, cohort_seed)[:first]:
        volume = generate_chest_case(case_seed, bool(label), matrix).volume
        labels.append(int(label))
        probabilities.append(float(model.predict(volume).probability))
    return labels, probabilities
