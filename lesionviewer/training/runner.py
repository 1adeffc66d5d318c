"""A whole training run from a config: processes, data, model, loop, evaluation - what ``train`` does.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.training.config import TrainingConfig
    >>> from lesionviewer.training.toy_data import write_toy_deeplesion
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> root = write_toy_deeplesion(work / "data", patients=4, size=32, slices=4)
    >>> cfg = TrainingConfig.from_dict({
    ...     "data": {"root": str(root), "num_slices": 3, "num_workers": 0, "train_sizes": [32], "test_size": 32},
    ...     "model": {"arch": "mp3d_small", "options": {"width": 4, "blocks": [1, 1, 1, 1],
    ...               "fpn_channels": 8, "representation_size": 16}},
    ...     "optim": {"epochs": 1, "milestones": [], "warmup_iters": 0},
    ...     "train": {"images_per_gpu": 1, "progress_bar": False},
    ...     "eval": {"every_epochs": 0, "test_at_end": False}})
    >>> summary = train(cfg, work / "run")
    >>> summary["steps_done"], summary["training_data"]["train_key_slices"]  # patients 1, 2 of 4 train
    (2, 2)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.data_check import check_training_data
from lesionviewer.training.distributed import shutdown_distributed, start_training_process
from lesionviewer.training.evaluate import evaluate_split, write_evaluation
from lesionviewer.training.loop import Trainer, checkpoint_paths
from lesionviewer.training.model_setup import build_model
from lesionviewer.training.splits import build_split_datasets, describe_training_data


def make_evaluator(cfg: TrainingConfig, datasets: dict, run_dir: Path, device_of) -> Any:
    """``evaluate(model, split, name)`` for the loop: scores a split, writes ``eval/<name>.json`` + PNG.

    Example:
        >>> import pathlib, tempfile, types
        >>> class Echo(torch.nn.Module):  # "finds" one box scored by the image's brightest value
        ...     transform = types.SimpleNamespace(min_size=(64,))
        ...     def forward(self, images):
        ...         return [{"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "scores": im.max().reshape(1)}
        ...                 for im in images]
        >>> class Val(list):
        ...     key_slices = [types.SimpleNamespace(image_id="000001_01_01_005", boxes=[[1, 2, 5, 6]],
        ...                                         lesion_types=(1,), long_diameters_mm=(12.0,), num_lesions=1)]
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> evaluate = make_evaluator(TrainingConfig(), {"val": Val([(torch.full((3, 8, 8), 0.75), {})])}, run,
        ...                           lambda model: "cpu")
        >>> evaluate(Echo(), "val", "val_epoch_001")["sensitivity"]["1"]
        1.0
        >>> sorted(p.name for p in (run / "eval").iterdir())
        ['val_epoch_001.json', 'val_epoch_001_froc.png']
    """
    def evaluate(model: torch.nn.Module, split: str, name: str) -> dict[str, Any]:
        dataset = datasets[split]
        metrics, detections, truth = evaluate_split(model, dataset, cfg, device_of(model))
        ids = [k.image_id for k in dataset.key_slices[: len(detections)]]
        write_evaluation(checkpoint_paths(run_dir)["eval"], name, metrics, detections, truth, ids)
        return metrics

    return evaluate


def train(cfg: TrainingConfig, run_dir: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train as ``cfg`` says into ``run_dir`` (or continue it with ``resume``); return the summary.

    Works the same in one process and under ``torchrun`` (DDP; only rank 0 writes). The config and
    the data are checked first (:func:`~lesionviewer.training.data_check.check_training_data`):
    ``ConfigError`` or ``TrainingDataError`` before any process, network or image is made.

    Example:
        >>> import tempfile
        >>> train(TrainingConfig.from_dict({"data": {"root": "/nonexistent/DeepLesion"}}), tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        lesionviewer.training.data_check.TrainingDataError: data.root /nonexistent/DeepLesion: no such folder
    """
    run_dir = Path(run_dir)
    cfg.validate(f"{run_dir}/config")  # a config changed after loading (--resume --set) is checked again
    check_training_data(cfg)  # folders, table, boxes and splits: a clear error before any heavy work
    ctx = start_training_process(cfg.train)
    try:
        datasets = build_split_datasets(cfg)
        model = build_model(cfg)
        evaluator = make_evaluator(cfg, datasets, run_dir, lambda m: next(m.parameters()).device)
        extra = {"training_data": describe_training_data(cfg, datasets)}
        init_report = getattr(model, "init_report", None)
        if init_report is not None:
            extra["initialization"] = {"from": cfg.model.init_from, "parts": cfg.model.init_parts,
                                       "report": init_report.summary()}
        trainer = Trainer(cfg, run_dir, model, datasets["train"], ctx=ctx, resume=resume, evaluate=evaluator,
                          extra_summary=extra)
        return trainer.run()
    finally:
        shutdown_distributed(ctx)


def evaluate_checkpoint(checkpoint: str | Path, split: str, out_dir: str | Path | None = None,
                        overrides: list[str] | None = None, device: str = "auto") -> dict[str, Any]:
    """Score a checkpoint (``best.pt``/``last.pt``, or a run folder = its best) on ``val`` or ``test``.

    Writes ``<split>.json`` and ``<split>_froc.png`` into ``out_dir`` (default: the run's ``eval/``).

    Example:
        >>> evaluate_checkpoint("/nonexistent/run", "test")
        Traceback (most recent call last):
        ...
        lesionviewer.training.checkpoint.CheckpointError: /nonexistent/run: checkpoint not found
    """
    from lesionviewer.training.checkpoint import load_checkpoint
    from lesionviewer.training.config import apply_overrides, config_from_json

    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path)
    cfg = apply_overrides(config_from_json(state["config_json"], source=str(path)), overrides or [])
    cfg = apply_overrides(cfg, ["model.init_from=\"\""])
    datasets = build_split_datasets(cfg, splits=(split,))
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    model.to(dev)
    metrics, detections, truth = evaluate_split(model, datasets[split], cfg, dev, progress=True)
    folder = Path(out_dir) if out_dir else path.parent.parent / "eval"
    ids = [k.image_id for k in datasets[split].key_slices[: len(detections)]]
    files = write_evaluation(folder, f"{split}_{path.stem}", metrics, detections, truth, ids)
    metrics["files"] = {k: str(v) for k, v in files.items()}
    metrics["checkpoint"] = str(path)
    return metrics


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint file from a file or run-folder argument (a run folder means its best model).

    Example:
        >>> resolve_checkpoint("/x/run/checkpoints/last.pt").name
        'last.pt'
    """
    path = Path(checkpoint)
    if path.is_dir():
        paths = checkpoint_paths(path)
        return paths["best"] if paths["best"].is_file() else paths["last"]
    return path


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The ``summary.json`` of a finished run.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> _ = (run / "summary.json").write_text('{"steps_done": 4, "finished": true}')
        >>> read_summary(run)
        {'steps_done': 4, 'finished': True}
    """
    return json.loads(checkpoint_paths(run_dir)["summary"].read_text(encoding="utf-8"))
