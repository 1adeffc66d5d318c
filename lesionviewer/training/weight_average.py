"""Average the weights of several runs of one network into one checkpoint ("model soup").

Runs fine-tuned from the same starting weights usually lie close together, and the mean of their
weights is often a better model than any of them, at the size and speed of one (Wortsman et al.,
"Model soups", ICML 2022). Networks normalised with GroupNorm carry no batch statistics, so the
mean needs no recalibration. :func:`average_checkpoints` writes the mean as a run folder with a
``checkpoints/best.pt``, so ``lesionviewer-train evaluate`` and ``export`` read it like any run.

Every checkpoint must hold the same tensors with the same shapes (one architecture); floating-point
tensors are averaged (in float64, stored in their own type), any other tensor must be equal in all.
The first checkpoint gives the config. An existing output is never overwritten.

Example:
    >>> import tempfile, pathlib, torch
    >>> from lesionviewer.training.checkpoint import load_checkpoint, save_checkpoint
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, value in (("a", 1.0), ("b", 3.0)):
    ...     save_checkpoint(root / name / "checkpoints" / "best.pt",
    ...                     {"config_json": "{}", "epoch": 7, "model": {"w": torch.full((2,), value)}})
    >>> out = average_checkpoints([root / "a", root / "b"], root / "soup")
    >>> load_checkpoint(out)["model"]["w"].tolist(), out.relative_to(root).as_posix()
    ([2.0, 2.0], 'soup/checkpoints/best.pt')
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lesionviewer.detection.weights_check import check_finite_weights
from lesionviewer.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lesionviewer.training.loop import RunError, checkpoint_paths
from lesionviewer.training.runner import resolve_checkpoint
from lesionviewer.util.atomic import atomic_open


def normalised_weights(count: int, weights: Sequence[float] | None = None) -> list[float]:
    """The share of each of ``count`` checkpoints: equal by default, else ``weights`` scaled to sum to 1.

    Example:
        >>> normalised_weights(2), normalised_weights(2, [3, 1])
        ([0.5, 0.5], [0.75, 0.25])
        >>> normalised_weights(2, [1, -1])
        Traceback (most recent call last):
        ...
        ValueError: average weights must be positive numbers, one per checkpoint (got 2 for 2 checkpoints)
    """
    if count < 1:
        raise ValueError("averaging needs at least one checkpoint")
    if weights is None:
        return [1.0 / count] * count
    values = [float(w) for w in weights]
    if len(values) != count or not all(w > 0 and w != float("inf") for w in values):
        raise ValueError(f"average weights must be positive numbers, one per checkpoint "
                         f"(got {len(values)} for {count} checkpoints)")
    total = sum(values)
    return [w / total for w in values]


def average_state_dicts(states: Sequence[tuple[str, dict[str, torch.Tensor]]],
                        weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """The weighted mean of model state dicts, each given with the name of its file (for errors).

    Example:
        >>> a = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor([2])}
        >>> b = {"w": torch.tensor([4.0, 0.0]), "n": torch.tensor([2])}
        >>> mean = average_state_dicts([("a.pt", a), ("b.pt", b)], [0.75, 0.25])
        >>> mean["w"].tolist(), mean["n"].tolist()
        ([1.0, 3.0], [2])
        >>> average_state_dicts([("a.pt", a), ("c.pt", {"w": torch.zeros(3), "n": torch.tensor([2])})], [0.5, 0.5])
        Traceback (most recent call last):
        ...
        ValueError: c.pt: tensor w has shape (3,), a.pt has (2,): not the same network
    """
    (first_name, first), rest = states[0], states[1:]
    for name, state in rest:
        missing, extra = sorted(set(first) - set(state)), sorted(set(state) - set(first))
        if missing or extra:
            raise ValueError(f"{name}: not the same network as {first_name} "
                             f"(missing {missing[:3]}, extra {extra[:3]})")
        for key, tensor in first.items():
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise ValueError(f"{name}: tensor {key} has shape {tuple(state[key].shape)}, "
                                 f"{first_name} has {tuple(tensor.shape)}: not the same network")
    mean: dict[str, torch.Tensor] = {}
    for key, tensor in first.items():
        if tensor.is_floating_point():
            total = torch.zeros(tensor.shape, dtype=torch.float64)
            for (_, state), share in zip(states, weights):
                total += state[key].to(torch.float64) * share
            mean[key] = total.to(tensor.dtype)
        else:
            for name, state in rest:
                if not torch.equal(state[key], tensor):
                    raise ValueError(f"{name}: tensor {key} ({tensor.dtype}) differs from {first_name}'s "
                                     f"and cannot be averaged")
            mean[key] = tensor.clone()
    return mean


def average_checkpoints(checkpoints: Sequence[str | Path], out_run_dir: str | Path,
                        weights: Sequence[float] | None = None) -> Path:
    """Write the weighted mean of ``checkpoints`` (files or run folders) as ``out_run_dir``'s best checkpoint.

    Returns the written ``checkpoints/best.pt``. Its config and epoch are the first checkpoint's; its
    ``averaged_from`` lists the files and their shares, and the folder's ``summary.json`` carries them
    into the card that ``export`` writes. Raises :class:`~lesionviewer.training.loop.RunError` when
    ``out_run_dir`` already holds a checkpoint, ``ValueError`` for different networks or non-finite
    weights, :class:`~lesionviewer.training.checkpoint.CheckpointError` for an unreadable file.

    Example:
        >>> average_checkpoints(["/nonexistent/a.pt"], "/tmp/never")
        Traceback (most recent call last):
        ...
        lesionviewer.training.checkpoint.CheckpointError: /nonexistent/a.pt: checkpoint not found
    """
    files = [resolve_checkpoint(c) for c in checkpoints]
    shares = normalised_weights(len(files), weights)
    out_paths = checkpoint_paths(out_run_dir)
    if out_paths["best"].exists() or out_paths["last"].exists():
        raise RunError(f"{out_run_dir}: already holds a checkpoint; choose a new folder for the average")
    loaded: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        state = load_checkpoint(path)
        if "model" not in state or "config_json" not in state or not isinstance(state["model"], dict):
            raise CheckpointError(f"{path}: not a training checkpoint of lesionviewer-train")
        loaded.append((str(path), state))
    mean = average_state_dicts([(name, state["model"]) for name, state in loaded], shares)
    check_finite_weights(mean, f"{out_run_dir}: cannot average")
    first = loaded[0][1]
    sources = [{"checkpoint": name, "share": round(share, 6), "epoch": int(state.get("epoch", -1))}
               for (name, state), share in zip(loaded, shares)]
    save_checkpoint(out_paths["best"], {
        "config_json": first["config_json"], "epoch": int(first.get("epoch", -1)),
        "step": int(first.get("step", -1)), "model": mean, "metrics": "{}",
        "averaged_from": json.dumps(sources)})
    described = "; ".join(f"{s['checkpoint']} x {s['share']:.3g}" for s in sources)
    with atomic_open(out_paths["summary"], "w") as handle:
        handle.write(json.dumps({"averaged_from": sources,
                                 "training_data": {"weight_average_of": described}}, indent=2))
    return out_paths["best"]
