"""The training loop: epochs of optimizer steps, validation, best model, test, exact resume.

One optimizer step = ``train.iter_size`` micro-batches of ``train.images_per_gpu`` images on each
process (gradients accumulate; with DDP the gradient all-reduce happens on the last micro-batch
only). Per step: forward under autocast (GPU + ``train.amp``), a finiteness check agreed by all
processes (a non-finite loss skips the step and is counted; more than ``train.max_nonfinite``
stops the run with :class:`NonFiniteLossError`), backward through the GradScaler, unscale,
gradient clipping, optimizer and scheduler step, then a check that every weight is still finite
(an absurd ``optim.lr`` such as ``inf`` makes them NaN in one step): if not, the run stops at once
with :class:`NonFiniteWeightsError` (exit code 3, as for non-finite losses) and the broken weights
are never saved; the last checkpoint written before stays.

The run folder (written by rank 0 only)::

    config.json              the resolved config
    metrics.jsonl            every iteration, epoch and evaluation record
    checkpoints/last.pt      the full state (see checkpoint.py), every checkpoint_every steps and per epoch
    checkpoints/best.pt      the model with the best validation mean sensitivity, or with
                             ``train.average_every`` the running mean of the weights (torch's AveragedModel)
    eval/val_epoch_NNN.json  validation results;  eval/test_best.json + eval/test_best_froc.png
    summary.json             the final numbers

Resuming restores model, optimizer, scheduler, scaler, RNG states, epoch, step and the position in
the epoch's sample order, so the resumed run takes exactly the steps the uninterrupted run would.

Example:
    >>> RunError("runs/x: no checkpoint to resume").args[0]
    'runs/x: no checkpoint to resume'
"""
from __future__ import annotations

import contextlib
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader

from lesionviewer.detection.weights_check import non_finite_tensors
from lesionviewer.training import checkpoint as ckpt
from lesionviewer.training.config import TrainingConfig, config_from_json, config_to_json
from lesionviewer.training.dataset import collate_detection
from lesionviewer.training.distributed import DistributedContext, all_reduce_sum, barrier, weights_in_sync
from lesionviewer.training.optimization import build_optimizer, build_scheduler
from lesionviewer.training.run_log import MetricLog
from lesionviewer.training.sampler import ResumableSampler, micro_batches_per_epoch, seed_everything
from lesionviewer.util.atomic import atomic_write_text


class RunError(RuntimeError):
    """The run folder cannot be used as asked (missing run to resume, or an existing run to overwrite)."""


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses: the run stopped (its last checkpoint is kept)."""


class NonFiniteWeightsError(NonFiniteLossError):
    """An optimizer step made weights NaN or infinite: the run stopped before saving them.

    Example:
        >>> issubclass(NonFiniteWeightsError, NonFiniteLossError)  # the same exit code, 3
        True
    """


def pick_training_device(requested: str, ctx: DistributedContext) -> torch.device:
    """``auto`` -> this process's GPU when there is one, else the CPU.

    Example:
        >>> pick_training_device("cpu", DistributedContext()).type
        'cpu'
    """
    if requested == "auto":
        return torch.device("cuda", ctx.local_rank) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ctx.local_rank)
    return device


def checkpoint_paths(run_dir: str | Path) -> dict[str, Path]:
    """Where a run keeps its files.

    Example:
        >>> sorted(checkpoint_paths("r"))
        ['best', 'config', 'eval', 'last', 'log', 'summary']
    """
    run_dir = Path(run_dir)
    return {"config": run_dir / "config.json", "last": run_dir / "checkpoints" / "last.pt",
            "best": run_dir / "checkpoints" / "best.pt", "log": run_dir / "metrics.jsonl",
            "eval": run_dir / "eval", "summary": run_dir / "summary.json"}


def load_run_config(run_dir: str | Path) -> TrainingConfig:
    """The resolved config of an existing run (``--resume``); a missing run is a :class:`RunError`.

    Example:
        >>> load_run_config("/nonexistent/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.training.loop.RunError: cannot resume /nonexistent/run: ...
    """
    paths = checkpoint_paths(run_dir)
    if not paths["config"].is_file() or not paths["last"].is_file():
        raise RunError(f"cannot resume {run_dir}: it holds no training run "
                       f"(expected {paths['config'].name} and checkpoints/{paths['last'].name})")
    return config_from_json(paths["config"].read_text(encoding="utf-8"), source=str(paths["config"]))


class Trainer:
    """Trains ``model`` on ``train_set`` as ``cfg`` says, writing into ``run_dir``.

    ``evaluate`` (optional) is called as ``evaluate(model, split, name) -> metrics dict`` (``name``
    names its output files) with a ``"mean_sensitivity"`` entry (:attr:`best_metric_name`); the best checkpoint follows it. ``resume`` continues from
    ``run_dir/checkpoints/last.pt``.

    Subclasses for other tasks (the risk model) set :attr:`collate_fn` and :attr:`best_metric_name`
    and override :meth:`_forward`.

    Example:
        >>> Trainer.best_metric_name, Trainer.collate_fn([("image 1", {"boxes": 1}), ("image 2", {"boxes": 2})])
        ('mean_sensitivity', (['image 1', 'image 2'], [{'boxes': 1}, {'boxes': 2}]))
    """

    #: Turns a list of dataset items into the batch :meth:`_forward` takes.
    collate_fn = staticmethod(collate_detection)
    #: The validation metric (higher is better) that picks ``best.pt``.
    best_metric_name = "mean_sensitivity"

    def __init__(self, cfg: TrainingConfig, run_dir: str | Path, model: torch.nn.Module, train_set,
                 ctx: DistributedContext | None = None, resume: bool = False,
                 evaluate: Callable[[torch.nn.Module, str, str], dict[str, Any]] | None = None,
                 extra_summary: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.paths = checkpoint_paths(self.run_dir)
        self.ctx = ctx or DistributedContext()
        self.resume = resume
        self.evaluate = evaluate
        self.extra_summary = dict(extra_summary or {})
        self.device = pick_training_device(cfg.train.device, self.ctx)
        if cfg.train.torch_threads:
            torch.set_num_threads(int(cfg.train.torch_threads))
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=False)
        if resume:
            if not self.paths["last"].is_file():
                raise RunError(f"cannot resume {self.run_dir}: checkpoints/last.pt not found")
        elif self.paths["last"].exists():
            raise RunError(f"{self.run_dir} already holds a training run; continue it with --resume "
                           f"{self.run_dir} or choose another --run-dir")
        seed_everything(cfg.train.seed)
        self.model = model.to(self.device)
        self.train_set = train_set
        world = self.ctx.world_size
        self.lr = cfg.scaled_lr(world)
        self.optimizer = build_optimizer(self.model, self.lr, cfg.optim.momentum, cfg.optim.weight_decay,
                                         cfg.optim.optimizer)
        samples = None
        if cfg.train.steps_per_epoch:
            samples = cfg.train.steps_per_epoch * cfg.train.iter_size * cfg.train.images_per_gpu
        self.sampler = ResumableSampler(len(train_set), samples, seed=cfg.train.seed, rank=self.ctx.rank,
                                        world_size=world)
        micro = micro_batches_per_epoch(self.sampler.samples_per_epoch, cfg.train.images_per_gpu)
        self.steps_per_epoch = max(1, micro // cfg.train.iter_size)
        # Draw only whole steps' worth of samples: a remainder micro-batch would never reach the optimizer.
        self.sampler.samples_per_epoch = min(self.sampler.samples_per_epoch,
                                             self.steps_per_epoch * cfg.train.iter_size * cfg.train.images_per_gpu)
        self.scheduler = build_scheduler(self.optimizer, cfg.optim.warmup_iters, cfg.optim.warmup_factor,
                                         cfg.optim.milestones, self.steps_per_epoch, cfg.optim.gamma)
        self.use_amp = bool(cfg.train.amp) and self.device.type == "cuda"
        self.amp_dtype = torch.float16 if cfg.train.amp_dtype == "float16" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda", init_scale=cfg.train.loss_scale,
                                           enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.ddp = None
        if self.ctx.enabled:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.epoch = 0
        self.step = 0
        self.position = 0  # micro-batches of the current epoch already consumed
        self.nonfinite = 0
        self.best_metric = -math.inf
        self.best_epoch = -1
        # Stochastic weight averaging: a CPU copy of the parameters, averaged as they go (buffers are not averaged).
        self.average = AveragedModel(self.model, device=torch.device("cpu")) if cfg.train.average_every else None
        if self.average is not None and cfg.train.average_from_step > self.steps_per_epoch * cfg.optim.epochs:
            raise RunError(f"train.average_from_step {cfg.train.average_from_step} is after the run's last step "
                           f"({self.steps_per_epoch * cfg.optim.epochs}): no weights would be averaged")
        self.log = MetricLog(self.paths["log"], enabled=self.ctx.is_main)
        if resume:
            self._load_state()
        else:
            if self.ctx.is_main:
                self.run_dir.mkdir(parents=True, exist_ok=True)
            self._maybe_average()  # the starting weights, when train.average_from_step is 0
        if self.ctx.is_main:
            atomic_write_text(self.paths["config"], config_to_json(cfg))

    # ----------------------------------------------------------------- state
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": ckpt.capture_rng_state(),
            "epoch": self.epoch, "step": self.step, "position": self.position,
            "nonfinite": self.nonfinite, "best_metric": self.best_metric, "best_epoch": self.best_epoch,
            "world_size": self.ctx.world_size, "config_json": config_to_json(self.cfg),
            **({"weight_average": self.average.state_dict()} if self.average is not None else {}),
        }

    def _save_last(self) -> None:
        if self.ctx.is_main:
            ckpt.save_checkpoint(self.paths["last"], self._state())
        barrier(self.ctx)

    def _load_state(self) -> None:
        state = ckpt.load_checkpoint(self.paths["last"], map_location=self.device)
        if int(state.get("world_size", 1)) != self.ctx.world_size:
            raise RunError(f"{self.paths['last']}: written by {state['world_size']} process(es); resume with the "
                           f"same number (now {self.ctx.world_size}) so the sample order continues exactly")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step, self.position = int(state["epoch"]), int(state["step"]), int(state["position"])
        self.nonfinite = int(state["nonfinite"])
        self.best_metric, self.best_epoch = float(state["best_metric"]), int(state["best_epoch"])
        if self.average is not None:
            if "weight_average" not in state:
                raise RunError(f"{self.paths['last']}: this run kept no weight average; resume it without "
                               f"train.average_every (or start a new run with it)")
            self.average.load_state_dict(state["weight_average"])
        ckpt.restore_rng_state(state["rng"])
        self.log.write("resume", self.step, epoch=self.epoch, position=self.position)

    # ----------------------------------------------------------------- loop
    def _loader(self) -> DataLoader:
        self.sampler.set_epoch(self.epoch, start=self.position * self.cfg.train.images_per_gpu)
        workers = int(self.cfg.data.num_workers)
        # A private generator: creating the loader must not draw from the global RNG, or a resumed
        # epoch (a second loader) would shift every random number after it.
        generator = torch.Generator().manual_seed(self.cfg.train.seed * 100003 + self.epoch)
        return DataLoader(self.train_set, batch_size=self.cfg.train.images_per_gpu, sampler=self.sampler,
                          collate_fn=self.collate_fn, num_workers=workers, generator=generator,
                          pin_memory=self.device.type == "cuda", prefetch_factor=2 if workers else None)

    def _forward(self, images, targets) -> tuple[torch.Tensor, dict[str, float]]:
        net = self.ddp if self.ddp is not None else self.model
        images = [im.to(self.device, non_blocking=True) for im in images]
        targets = [{"boxes": t["boxes"].to(self.device), "labels": t["labels"].to(self.device)} for t in targets]
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            losses = net(images, targets)
        total = sum(losses.values())
        return total, {k: float(v.detach()) for k, v in losses.items()}

    def run(self) -> dict[str, Any]:
        """Train to the end (or ``train.stop_after_steps``), validate, test the best model.

        Returns the summary (also written to ``summary.json``).

        Example:
            >>> import tempfile
            >>> class Fit(torch.nn.Module):  # one weight pulled towards each image's mean
            ...     def __init__(self):
            ...         super().__init__()
            ...         self.w = torch.nn.Parameter(torch.zeros(1))
            ...     def forward(self, images, targets):
            ...         return {"loss_fit": sum(((self.w - im.mean()) ** 2).sum() for im in images)}
            >>> class Items(list):  # the loop asks for (epoch, index)
            ...     def __getitem__(self, key):
            ...         return super().__getitem__(key[1])
            >>> empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
            >>> cfg = TrainingConfig.from_dict({"data": {"num_workers": 0},
            ...     "optim": {"epochs": 2, "lr": 0.1, "milestones": [], "warmup_iters": 0, "reference_batch": 2},
            ...     "train": {"images_per_gpu": 2, "progress_bar": False}})
            >>> run = Path(tempfile.mkdtemp()) / "run"
            >>> summary = Trainer(cfg, run, Fit(), Items([(torch.ones(1, 2, 2), empty)] * 4)).run()
            >>> summary["steps_done"], summary["epochs_done"], summary["finished"]  # 4 images / 2 per step, 2 epochs
            (4, 2, True)
            >>> sorted(p.name for p in run.iterdir())
            ['checkpoints', 'config.json', 'metrics.jsonl', 'summary.json']
        """
        cfg = self.cfg
        total_steps = self.steps_per_epoch * cfg.optim.epochs
        stopped_early = False
        self.log.write("start", self.step, lr=self.lr, total_batch=cfg.total_batch(self.ctx.world_size),
                       steps_per_epoch=self.steps_per_epoch, total_steps=total_steps, device=str(self.device),
                       amp=self.use_amp, world_size=self.ctx.world_size, train_images=len(self.train_set))
        bar = None
        if self.ctx.is_main and cfg.train.progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=total_steps, initial=self.step, unit="step", dynamic_ncols=True, desc="train")
        try:
            while self.epoch < cfg.optim.epochs:
                stopped_early = self._train_epoch(bar)
                if stopped_early:
                    break
                self.epoch += 1
                self.position = 0
                self._end_of_epoch()
        finally:
            if bar is not None:
                bar.close()
        summary = self._finish(stopped_early)
        self.log.close()
        return summary

    def _train_epoch(self, bar) -> bool:
        cfg = self.cfg
        net = self.ddp if self.ddp is not None else self.model
        net.train()
        iter_size = cfg.train.iter_size
        accumulated: dict[str, float] = {}
        skip_step = False
        tick = time.perf_counter()
        images_done = 0
        self.optimizer.zero_grad(set_to_none=True)
        for images, targets in self._loader():
            micro_in_step = self.position % iter_size
            last_micro = micro_in_step == iter_size - 1
            sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if self.ddp is not None and not last_micro:
                sync = self.ddp.no_sync()
            with sync:
                loss, parts = self._forward(images, targets)
                finite = bool(torch.isfinite(loss.detach()).item())
                # Every process must agree, or DDP's gradient all-reduce would wait for a rank that skipped.
                finite = all_reduce_sum(self.ctx, [0.0 if finite else 1.0])[0] == 0.0
                if finite and not skip_step:
                    self.scaler.scale(loss / iter_size).backward()
                    for k, v in parts.items():
                        accumulated[k] = accumulated.get(k, 0.0) + v / iter_size
                elif not finite:
                    skip_step = True
            self.position += 1
            images_done += len(images)
            if not last_micro:
                continue
            grad_norm = float("nan")
            if skip_step:
                self.nonfinite += 1
                self.optimizer.zero_grad(set_to_none=True)
                self.log.write("nonfinite", self.step, epoch=self.epoch, count=self.nonfinite)
                if self.nonfinite > cfg.train.max_nonfinite:
                    self._save_last()
                    raise NonFiniteLossError(
                        f"stopped: {self.nonfinite} non-finite losses (more than train.max_nonfinite = "
                        f"{cfg.train.max_nonfinite}) at step {self.step}, epoch {self.epoch}; lower optim.lr, "
                        f"check the data, or resume from {self.paths['last']} with --set train.max_nonfinite=N")
            else:
                self.scaler.unscale_(self.optimizer)
                if cfg.optim.grad_clip > 0:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip))
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
                self._check_weights()
            lr = self.optimizer.param_groups[0]["lr"]
            with warnings.catch_warnings():
                # A skipped step still advances the schedule (it stays tied to the data position);
                # torch warns about a scheduler step without an optimizer step, which is intended here.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                self.scheduler.step()
            self.step += 1
            self._maybe_average()
            now = time.perf_counter()
            speed = images_done * self.ctx.world_size / max(now - tick, 1e-9)
            tick, images_done = now, 0
            if not skip_step:
                total = sum(accumulated.values())
                self.log.write("iter", self.step, epoch=self.epoch, lr=lr, loss=total, grad_norm=grad_norm,
                               images_per_s=speed, **accumulated)
                if bar is not None:
                    bar.update(1)
                    if self.step % cfg.train.log_every == 0 or self.step == 1:
                        bar.set_postfix(loss=f"{total:.3f}", lr=f"{lr:.2e}", img_s=f"{speed:.1f}", ep=self.epoch)
            elif bar is not None:
                bar.update(1)
            accumulated, skip_step = {}, False
            if self.step % cfg.train.checkpoint_every == 0 and self.position < self.steps_per_epoch * iter_size:
                self._save_last()
            if cfg.train.stop_after_steps and self.step >= cfg.train.stop_after_steps:
                self._save_last()
                return True
        return False

    def _maybe_average(self) -> None:
        every, first = self.cfg.train.average_every, self.cfg.train.average_from_step
        if self.average is None or self.step < first or (self.step - first) % every:
            return
        self.average.update_parameters(self.model)
        self.log.write("average", self.step, epoch=self.epoch, snapshots=self._snapshots())

    def _snapshots(self) -> int:
        return int(self.average.n_averaged) if self.average is not None else 0

    def _averaged_weights(self, average: AveragedModel) -> dict[str, torch.Tensor]:
        # Averaged parameters; any buffer (the detector has none) as the live model holds it now.
        averaged = {name: p.detach().clone() for name, p in average.module.named_parameters()}
        return {name: averaged.get(name, tensor.detach().to("cpu")) for name, tensor in self.model.state_dict().items()}

    def _average_record(self) -> dict[str, int]:
        every, first = self.cfg.train.average_every, self.cfg.train.average_from_step
        count = self._snapshots()
        return {"snapshots": count, "every": every, "from_step": first,
                "last_step": first + every * (count - 1) if count else -1}

    def _check_weights(self) -> None:
        params = [p.detach() for p in self.model.parameters() if p.is_floating_point() and p.numel()]
        if not params or bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return
        bad = non_finite_tensors(self.model.named_parameters())
        kept = self.paths["last"]
        where = f"the last checkpoint {kept} (before this step) is kept" if kept.is_file() else "nothing was saved"
        raise NonFiniteWeightsError(
            f"stopped: the optimizer step {self.step + 1} (epoch {self.epoch}, lr "
            f"{self.optimizer.param_groups[0]['lr']:g}) made {len(bad)} weight tensors NaN or infinite "
            f"(e.g. {', '.join(bad[:3])}); {where}. Lower optim.lr (or optim.grad_clip) and train again")

    def _end_of_epoch(self) -> None:
        cfg = self.cfg
        self._save_last()
        if self.evaluate is not None and cfg.eval.every_epochs and self.epoch % cfg.eval.every_epochs == 0:
            if self.ctx.is_main:  # the others wait at the barrier below
                metrics = {k: v for k, v in self.evaluate(self.model, "val", f"val_epoch_{self.epoch:03d}").items() if k != "detections"}
                self.log.write("eval", self.step, split="val", epoch=self.epoch, **_scalars(metrics))
                if metrics[self.best_metric_name] > self.best_metric:
                    self.best_metric = float(metrics[self.best_metric_name])
                    self.best_epoch = self.epoch
                    ckpt.save_checkpoint(self.paths["best"], {
                        "model": self.model.state_dict(), "epoch": self.epoch, "step": self.step,
                        "metrics": json.dumps(metrics), "config_json": config_to_json(cfg)})
                    # last.pt must know the new best, or a resumed run would forget it.
                    ckpt.save_checkpoint(self.paths["last"], self._state())
            barrier(self.ctx)
        self.log.write("epoch", self.step, epoch=self.epoch, nonfinite=self.nonfinite,
                       best_epoch=self.best_epoch, **{f"best_{self.best_metric_name}": self.best_metric})

    def _finish(self, stopped_early: bool) -> dict[str, Any]:
        cfg = self.cfg
        summary: dict[str, Any] = {
            "name": cfg.name, "run_dir": str(self.run_dir), "finished": not stopped_early,
            "epochs_done": self.epoch, "steps_done": self.step, "steps_per_epoch": self.steps_per_epoch,
            "lr": self.lr, "total_batch": cfg.total_batch(self.ctx.world_size),
            "world_size": self.ctx.world_size, "nonfinite_losses": self.nonfinite,
            "weights_in_sync": weights_in_sync(self.ctx, self.model),
            "best_epoch": self.best_epoch,
            f"best_val_{self.best_metric_name}": self.best_metric if math.isfinite(self.best_metric) else None,
        }
        summary.update(self.extra_summary)
        # What checkpoints/best.pt holds: validation's best epoch (best_epoch above), the last weights, or the mean.
        summary["kept_model"] = "best validation epoch" if self.best_epoch >= 0 else "last weights"
        if self.average is not None:
            summary["kept_model"] = "weight average"
            summary["weight_average"] = self._average_record()
            summary["training_data"] = {**summary.get("training_data", {}), "weight_average": (
                f"the kept weights are the mean of {self._snapshots()} snapshots taken every "
                f"{cfg.train.average_every} steps from step {cfg.train.average_from_step}")}
        if not stopped_early and self.ctx.is_main:
            if self.average is not None:
                # The run's product is the mean; validation scores were logged for the weights of the moment.
                ckpt.save_checkpoint(self.paths["best"], {
                    "model": self._averaged_weights(self.average), "epoch": self.epoch, "step": self.step,
                    "metrics": json.dumps({}), "config_json": config_to_json(cfg),
                    "weight_average": json.dumps(summary["weight_average"])})
            elif not self.paths["best"].is_file():
                # No validation ran: the final model is the one to keep.
                ckpt.save_checkpoint(self.paths["best"], {
                    "model": self.model.state_dict(), "epoch": self.epoch, "step": self.step,
                    "metrics": json.dumps({}), "config_json": config_to_json(cfg)})
            if self.evaluate is not None and cfg.eval.test_at_end:
                best = ckpt.load_checkpoint(self.paths["best"], map_location=self.device)
                current = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self.model.load_state_dict(best["model"])
                test = self.evaluate(self.model, "test", "test_best")
                self.model.load_state_dict(current)
                summary["test"] = {k: v for k, v in test.items() if k not in ("detections", "curve_fps",
                                                                             "curve_sensitivity")}
                self.log.write("eval", self.step, split="test", epoch=int(best["epoch"]), **_scalars(test))
        if self.ctx.is_main:
            atomic_write_text(self.paths["summary"], json.dumps(summary, indent=2))
        barrier(self.ctx)
        return summary


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, int | float | None] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, (int, float)):
                    out[f"{key}@{sub}"] = v
        elif isinstance(value, (int, float)) or value is None:
            out[key] = value
    return out
