"""Training throughput of a config: images per second with and without mixed precision, same run.

Builds the config's model and times full training steps (forward, backward, optimizer) on
synthetic context stacks of the config's training size, so data loading is not measured. On a GPU
it compares fp32 with the config's AMP dtype and prints their ratio; on a CPU only fp32 is timed
(AMP applies to GPUs only in the trainer).

Run: ``python -m lesionviewer.training.throughput --config resources/configs/mp3d63_9slice_2x.toml``

Example:
    >>> from lesionviewer.training.config import TrainingConfig
    >>> cfg = TrainingConfig.from_dict({"model": {"arch": "mp3d_small", "options": {"width": 8,
    ...     "blocks": [1, 1, 1, 1], "fpn_channels": 32, "representation_size": 64}},
    ...     "data": {"num_slices": 3, "train_sizes": [64], "max_size": 64}, "train": {"images_per_gpu": 1}})
    >>> result = measure_throughput(cfg, steps=1, warmup=0, amp=False)
    >>> result["images_per_s"] > 0
    True
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from lesionviewer.training.config import TrainingConfig, load_config
from lesionviewer.training.model_setup import build_model, resizing_transform
from lesionviewer.training.optimization import build_optimizer


def measure_throughput(cfg: TrainingConfig, steps: int = 20, warmup: int = 3, amp: bool = True,
                       device: str = "auto") -> dict:
    """Time ``steps`` training steps after ``warmup`` ones; returns images/s and step times.

    Example:
        >>> cfg = TrainingConfig.from_dict({"data": {"num_slices": 3, "train_sizes": [32], "max_size": 64},
        ...     "train": {"images_per_gpu": 2},
        ...     "model": {"arch": "mp3d_small", "options": {"width": 4, "blocks": [1, 1, 1, 1], "fpn_channels": 8,
        ...                                                 "representation_size": 16}}})
        >>> result = measure_throughput(cfg, steps=1, warmup=0, device="cpu")
        >>> {k: result[k] for k in ("device", "amp", "dtype", "images_per_step", "size", "num_slices")}
        {'device': 'cpu', 'amp': False, 'dtype': 'float32', 'images_per_step': 2, 'size': 32, 'num_slices': 3}
        >>> abs(result["images_per_s"] * result["median_step_s"] - 2) < 0.02  # images per step / seconds per step
        True
    """
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    torch.manual_seed(0)
    model = build_model(cfg).to(dev).train()
    size = max(cfg.data.train_sizes)
    resizing_transform(model).min_size = (size,)
    optimizer = build_optimizer(model, 1e-3, cfg.optim.momentum, cfg.optim.weight_decay)
    use_amp = amp and dev.type == "cuda"
    dtype = torch.float16 if cfg.train.amp_dtype == "float16" else torch.bfloat16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and dtype == torch.float16)
    batch = cfg.train.images_per_gpu
    images = [torch.rand(cfg.data.num_slices, size, size, device=dev) * 255 for _ in range(batch)]
    c, r = size / 2, size / 8
    targets = [{"boxes": torch.tensor([[c - r, c - r, c + r, c + r]], device=dev),
                "labels": torch.ones(1, dtype=torch.int64, device=dev)} for _ in range(batch)]
    times = []
    for i in range(warmup + steps):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype, enabled=use_amp):
            loss = sum(model(images, targets).values())
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2]
    result = {"device": str(dev), "amp": use_amp, "dtype": str(dtype).replace("torch.", "") if use_amp else "float32",
              "images_per_step": batch, "size": size, "num_slices": cfg.data.num_slices,
              "median_step_s": round(median, 4), "images_per_s": round(batch / median, 3)}
    if dev.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    """Print fp32 vs AMP images/s of a config (JSON lines, then the ratio).

    Example:
        >>> main(["--steps", "1"])
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    parser = argparse.ArgumentParser(prog="python -m lesionviewer.training.throughput")
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    fp32 = measure_throughput(cfg, args.steps, args.warmup, amp=False)
    print(json.dumps(fp32))
    if torch.cuda.is_available():
        mixed = measure_throughput(cfg, args.steps, args.warmup, amp=True)
        print(json.dumps(mixed))
        print(f"AMP / fp32 images per second: {mixed['images_per_s'] / fp32['images_per_s']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
