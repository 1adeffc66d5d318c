"""Training the risk model with the detector's loop: same run folder, logs, checkpoints, resume and DDP.

:class:`RiskTrainer` is :class:`lesionviewer.training.loop.Trainer` with a classification step
(logits of a batch of volumes, the configured loss) and ROC AUC as the metric that picks
``best.pt``. Everything else is the detector trainer's: gradient accumulation
(``train.iter_size``), AMP on GPU, finiteness checks, atomic checkpoints holding every state
(model, Adam, scheduler, scaler, random generators, the position in the epoch), ``--resume``
continuing exactly, and ``torchrun`` + DistributedDataParallel with rank 0 writing.

The run folder::

    config.json  metrics.jsonl  checkpoints/{last,best}.pt  summary.json
    eval/val_epoch_NNN.json (+ _roc.png, _cases.csv)   eval/test_best.json (with data.test_list)

Example:
    >>> RiskTrainer.best_metric_name
    'auc'
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from lesionviewer.risk.config import RiskConfig
from lesionviewer.risk.dataset import RiskDataset, collate_risk
from lesionviewer.risk.evaluate import predict_dataset, risk_metrics, write_risk_evaluation
from lesionviewer.risk.losses import build_loss
from lesionviewer.risk.networks import build_risk_network, initialise_risk_network
from lesionviewer.training.distributed import shutdown_distributed, start_training_process
from lesionviewer.training.loop import Trainer, checkpoint_paths


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as one would type it (the program by its name, not its path).

    Example:
        >>> command_line(["/venv/bin/lesionviewer-train", "risk", "train", "--run-dir", "runs/a b"])
        "lesionviewer-train risk train --run-dir 'runs/a b'"
    """
    argv = sys.argv if argv is None else argv
    return " ".join([Path(argv[0]).name] + [shlex.quote(a) for a in argv[1:]]) if argv else ""


class RiskTrainer(Trainer):
    """The trainer's loop on (volumes, labels) batches with a classification loss.

    Example:
        >>> RiskTrainer.collate_fn is collate_risk
        True
    """

    collate_fn = staticmethod(collate_risk)
    best_metric_name = "auc"

    def __init__(self, *args, loss_fn, **kwargs) -> None:
        self.loss_fn = loss_fn
        super().__init__(*args, **kwargs)

    def _forward(self, volumes, labels) -> tuple[torch.Tensor, dict[str, float]]:
        net = self.ddp if self.ddp is not None else self.model
        volumes = volumes.to(self.device, non_blocking=True)
        labels = labels.to(self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            logits = net(volumes)
        loss = self.loss_fn(logits.float(), labels)
        return loss, {"loss_cls": float(loss.detach())}


def dataset_for(cfg: RiskConfig, split: str, train: bool = False) -> RiskDataset:
    """The dataset of ``split`` (``train``/``val``/``test``) as the config says (augmentation and
    sampler balancing for training only).

    Example:
        >>> dataset_for(RiskConfig(), "val")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.common.config_tree.ConfigError: data.val_list is empty: ...
    """
    from lesionviewer.training.config import ConfigError

    d = cfg.data
    list_path = getattr(d, f"{split}_list")
    if not list_path:
        raise ConfigError(f"data.{split}_list is empty: make the lists with lesionviewer-train risk lists")
    return RiskDataset(list_path, cfg.preprocess_settings(), hu_window=d.hu_window,
                       mean=d.mean, std=d.std, augment=train, flip_lr=d.flip_lr, max_shift=d.max_shift,
                       seed=cfg.train.seed, balance=train and cfg.loss.balance == "sampler", cache=d.cache)


def build_network_for(cfg: RiskConfig, use_init: bool = True) -> tuple[torch.nn.Module, dict[str, Any] | None]:
    """The network of ``cfg.model`` and, with ``init_from`` set, what its initialisation copied.

    Example:
        >>> net, init = build_network_for(RiskConfig.from_dict({"model": {"options": {"width": 0.125}}}))
        >>> net.backbone, init is None
        ('i3d', True)
    """
    net = build_risk_network(cfg.model.backbone, cfg.model.options)
    init = None
    if use_init and cfg.model.init_from:
        init = initialise_risk_network(net, cfg.model.init_from)
    return net, init


def network_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, RiskConfig, dict[str, Any]]:
    """(network with the checkpoint's weights, its config, the raw checkpoint) of a risk training checkpoint.

    Raises ``CheckpointError`` naming the file when it is not a ``lesionviewer-train`` checkpoint.

    Example:
        >>> network_from_checkpoint("/nonexistent/best.pt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.training.checkpoint.CheckpointError: /nonexistent/best.pt: ...
    """
    from lesionviewer.risk.config import risk_config_from_json
    from lesionviewer.training.checkpoint import CheckpointError, load_checkpoint

    state = load_checkpoint(path)
    if "config_json" not in state or "model" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint of lesionviewer-train")
    cfg = risk_config_from_json(state["config_json"], source=str(path))
    net, _ = build_network_for(cfg, use_init=False)
    net.load_state_dict(state["model"])
    return net, cfg, state


def make_risk_evaluator(cfg: RiskConfig, datasets: dict[str, RiskDataset], run_dir: Path):
    """``evaluate(model, split, name)`` for the loop: AUC etc. on a split; writes ``eval/<name>.*``.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.risk.preprocess import write_npz
        >>> d = Path(tempfile.mkdtemp())
        >>> for name, hu in (("a", -800), ("b", 40), ("c", -700)):
        ...     write_npz(d / f"{name}.npz", np.full((8, 12, 12), hu, np.int16), {"layout": 1})
        >>> _ = (d / "val.list").write_text("a.npz 0\\nb.npz 1\\nc.npz 0\\n")
        >>> class Brightness(torch.nn.Module):  # the logit is the crop's mean: the bright positive ranks first
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scale = torch.nn.Parameter(torch.ones(1))
        ...     def forward(self, x):
        ...         return self.scale * x.mean(dim=(1, 2, 3, 4))
        >>> evaluate = make_risk_evaluator(RiskConfig.from_dict({"eval": {"bootstrap": 0}}),
        ...                                {"val": RiskDataset(d / "val.list")}, d / "run")
        >>> metrics = evaluate(Brightness(), "val", "val_epoch_001")
        >>> metrics["auc"], metrics["num_cases"], metrics["num_positive"]
        (1.0, 3, 1)
        >>> sorted(p.name for p in (d / "run" / "eval").iterdir())
        ['val_epoch_001.json', 'val_epoch_001_cases.csv', 'val_epoch_001_roc.png']
    """
    def evaluate(model: torch.nn.Module, split: str, name: str) -> dict[str, Any]:
        dataset = datasets[split]
        device = next(model.parameters()).device
        logits = predict_dataset(model, dataset, device, cfg.eval.batch_size, amp=cfg.train.amp)
        metrics = risk_metrics(dataset.labels, logits, cfg.eval.min_sensitivity, cfg.eval.bootstrap,
                               seed=cfg.train.seed)
        if metrics["auc"] is None:  # one class only: nothing to rank, never "best"
            metrics["auc"] = float("-inf")
        write_risk_evaluation(checkpoint_paths(run_dir)["eval"], name, metrics, dataset.paths, dataset.labels, logits)
        return metrics

    return evaluate


def describe_data(cfg: RiskConfig, datasets: dict[str, RiskDataset]) -> dict[str, Any]:
    """What the run trained and validated on (counts per class, lists, preprocessing) for the summary and card.

    Example:
        >>> describe_data(RiskConfig(), {})["preprocessing"]["voxel_mm"]
        1.5
    """
    d = cfg.data
    out: dict[str, Any] = {"preprocessing": cfg.preprocess_settings().to_dict(),
                           "intensity": {"hu_window": list(d.hu_window), "mean": d.mean, "std": d.std}}
    for split, ds in datasets.items():
        labels = [y for _, y in ds.base]
        out[split] = {"list": getattr(d, f"{split}_list"), "cases": len(labels), "positive": int(sum(labels))}
    return out


def train_risk(cfg: RiskConfig, run_dir: str | Path, resume: bool = False) -> dict[str, Any]:
    """Train the risk model as ``cfg`` says into ``run_dir`` (or continue it); returns the summary.

    Works the same in one process and under ``torchrun`` (DDP; only rank 0 writes).

    Example:
        >>> import tempfile
        >>> cfg = RiskConfig.from_dict({"data": {"train_list": "/nonexistent/train.list",
        ...                                      "val_list": "/nonexistent/val.list"}})
        >>> train_risk(cfg, tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/train.list: no such list file
    """
    run_dir = Path(run_dir)
    ctx = start_training_process(cfg.train)
    try:
        datasets = {"train": dataset_for(cfg, "train", train=True), "val": dataset_for(cfg, "val")}
        if cfg.data.test_list:
            datasets["test"] = dataset_for(cfg, "test")
        model, init = build_network_for(cfg, use_init=not resume)
        loss_fn, loss_info = build_loss(cfg.loss.kind, cfg.loss.balance, [y for _, y in datasets["train"].base],
                                        cfg.loss.pos_weight, cfg.loss.focal_gamma, cfg.loss.focal_alpha)
        extra = {"task": "risk", "training_data": describe_data(cfg, datasets), "loss": loss_info,
                 "command": command_line()}
        if init is not None:
            extra["initialization"] = init
        trainer = RiskTrainer(cfg, run_dir, model, datasets["train"], ctx=ctx, resume=resume,
                              evaluate=make_risk_evaluator(cfg, datasets, run_dir), extra_summary=extra,
                              loss_fn=loss_fn)
        return trainer.run()
    finally:
        shutdown_distributed(ctx)
