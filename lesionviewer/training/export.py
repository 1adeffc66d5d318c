"""Export a trained run as the viewer's model file: safetensors weights + a model card.

The card (``lesionviewer.detection.model_card.ModelCard``) carries the architecture and its options,
the context (slices, interval), the HU clip and normalisation, the test-time resize rule, the
training data description, and the metrics *measured* by the run (validation of the best epoch
and the final test), so the viewer shows how good the model is and prepares its inputs the way
it was trained.

Example:
    >>> import json, tempfile, pathlib
    >>> from lesionviewer.training.checkpoint import save_checkpoint
    >>> from lesionviewer.training.config import TrainingConfig, config_to_json
    >>> from lesionviewer.training.model_setup import build_model
    >>> cfg = TrainingConfig.from_dict({"name": "tiny", "data": {"num_slices": 3, "test_size": 64, "max_size": 64,
    ...     "train_sizes": [64]}, "model": {"arch": "mp3d_small", "options": {"width": 4, "blocks": [1, 1, 1, 1],
    ...     "fpn_channels": 8, "representation_size": 16}}})
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> save_checkpoint(run / "checkpoints" / "best.pt", {"config_json": config_to_json(cfg), "epoch": 2,
    ...     "model": build_model(cfg).state_dict(), "metrics": json.dumps({"mean_sensitivity": 0.5, "loss": 1})})
    >>> card = export_run(run, run / "tiny.safetensors")
    >>> card.name, card.input_min_size, card.metrics["val"], card.training_data["epoch"]
    ('tiny', 64, {'mean_sensitivity': 0.5, 'epoch': 2}, 2)
    >>> export_run(run, run / "tiny96.safetensors", input_size=96).input_min_size
    96
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lesionviewer.detection.weights_check import check_finite_weights
from lesionviewer.training.checkpoint import CheckpointError, load_checkpoint
from lesionviewer.training.config import config_from_json
from lesionviewer.training.loop import checkpoint_paths

#: What a split's scores keep in a model card (the curves and per-image detections stay in the run's eval/).
CARD_SCORE_FIELDS = ("sensitivity", "mean_sensitivity", "map50", "num_images", "num_lesions")


def record_split_in_card(model_path: str | Path, split: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``model_path`` with ``metrics.<split>`` set to these scores (``lesionviewer-train evaluate``'s).

    The record says whether the scores were measured with test-time flipping and from which checkpoint.

    Example:
        >>> from unittest import mock
        >>> with mock.patch("lesionviewer.detection.card_metrics.set_card_metric") as written:
        ...     record_split_in_card("m.safetensors", "val", {"map50": 0.5, "test_time_flip": True, "curve_fps": [1.0]})
        {'map50': 0.5, 'test_time_flip': True}
        >>> written.call_args.args
        ('m.safetensors', 'val', {'map50': 0.5, 'test_time_flip': True})
    """
    from lesionviewer.detection.card_metrics import set_card_metric

    record = {k: metrics[k] for k in CARD_SCORE_FIELDS if k in metrics}
    record["test_time_flip"] = bool(metrics.get("test_time_flip", False))
    if "checkpoint" in metrics:
        record["checkpoint"] = str(metrics["checkpoint"])
    set_card_metric(model_path, split, record)
    return record


def _measured_metrics(run_dir: Path, best_state: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    val = json.loads(best_state.get("metrics", "{}") or "{}")
    if val:
        metrics["val"] = {k: val[k] for k in CARD_SCORE_FIELDS if k in val}
        metrics["val"]["epoch"] = int(best_state.get("epoch", -1))
    summary_path = checkpoint_paths(run_dir)["summary"]
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if "test" in summary:
            metrics["test"] = {k: summary["test"][k] for k in CARD_SCORE_FIELDS if k in summary["test"]}
        metrics["training"] = {k: summary[k] for k in ("epochs_done", "steps_done", "total_batch", "lr",
                                                       "world_size", "nonfinite_losses") if k in summary}
        if "training_data" in summary:
            metrics["_training_data"] = summary["training_data"]
    return metrics


def export_run(run_dir: str | Path, out: str | Path, name: str | None = None, which: str = "best",
               description: str | None = None, data_notes: dict[str, str] | None = None,
               test_time_flip: bool | None = None, input_size: int | None = None):
    """Write ``out`` from the run's ``best`` (or ``last``) checkpoint; returns the stored card.

    A checkpoint whose weights hold NaN or infinity is refused
    (:class:`~lesionviewer.detection.weights_check.NonFiniteWeightsError`, a ``ValueError``) and
    nothing is written.

    ``description`` replaces the config's description in the card; ``data_notes`` are added to the
    card's ``training_data`` (e.g. the command that generated synthetic data). ``test_time_flip``
    (default: the run's ``eval.test_time_flip``) goes into the card for the engine. ``input_size``
    (default: the run's ``data.test_size``) is the size the engine resizes each slice's shorter side to;
    measure it first with ``evaluate --set data.test_size=N --set data.max_size=N``.

    Example:
        >>> export_run("/nonexistent/run", "m.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.training.checkpoint.CheckpointError: /nonexistent/run/checkpoints/best.pt: checkpoint not found
    """
    from lesionviewer.detection.model_file import save_model
    from lesionviewer.training.model_setup import build_model

    run_dir = Path(run_dir)
    path = checkpoint_paths(run_dir)[which]
    state = load_checkpoint(path)
    if "config_json" not in state or "model" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint of lesionviewer-train")
    if isinstance(state["model"], dict):  # a diverged run (NaN/inf weights) must not become a model file
        check_finite_weights(state["model"], f"{path}: cannot export")
    cfg = config_from_json(state["config_json"], source=str(path))
    cfg.model.init_from = ""  # the weights below replace any initialisation
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    metrics = _measured_metrics(run_dir, state)
    training_data = metrics.pop("_training_data", {})
    training_data.update({"config": cfg.name, "checkpoint": which, "epoch": int(state.get("epoch", -1)),
                          "step": int(state.get("step", -1))})
    training_data.update(data_notes or {})
    min_size = int(cfg.data.test_size if input_size is None else input_size)
    if min_size < 1:
        raise ValueError(f"input size must be a positive number of pixels (got {min_size})")
    card = {
        "name": name or cfg.name,
        "description": description if description is not None else cfg.description,
        "slice_interval_mm": cfg.data.slice_interval_mm,
        "hu_clip": list(cfg.data.hu_clip),
        "input_min_size": min_size,
        "input_max_size": max(cfg.data.max_size, min_size),
        "size_divisible": cfg.data.size_divisible,
        "test_time_flip": bool(cfg.eval.test_time_flip if test_time_flip is None else test_time_flip),
        "training_data": training_data,
        "metrics": metrics,
    }
    return save_model(out, model, card)
