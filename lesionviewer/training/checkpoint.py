"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint holds the model, optimizer, scheduler and gradient-scaler states, the random states
(Python, NumPy, torch CPU and CUDA), the epoch, the optimizer step, the position in the epoch's
sample order, counters, and the resolved config (JSON text). It is written with ``torch.save`` to
a temporary file that is fsynced and renamed over the old one
(:func:`lesionviewer.util.atomic.atomic_open`), so a kill at any moment leaves the previous
checkpoint intact. Everything in it is tensors, numbers, strings, lists and dicts, so it loads
with ``torch.load(weights_only=True)``: a checkpoint cannot run code.

``layout`` grows when the stored keys change; :func:`load_checkpoint` refuses layouts it does not know.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "last.pt"
    >>> save_checkpoint(path, {"step": 3, "rng": capture_rng_state()})
    >>> load_checkpoint(path)["step"]
    3
"""
from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionviewer.util.atomic import atomic_open

CHECKPOINT_LAYOUT = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or of an unknown layout; the message names the file."""


def capture_rng_state() -> dict[str, Any]:
    """All global random states, as tensors and plain numbers (safe for ``weights_only`` loading).

    Example:
        >>> state = capture_rng_state(); a = torch.rand(1)
        >>> restore_rng_state(state); bool(torch.equal(a, torch.rand(1)))
        True
    """
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    if isinstance(np_state, dict):  # only when numpy's global generator is not the legacy MT19937
        raise TypeError("numpy's global random state is not MT19937; cannot capture it")
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np_state
    state = {
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss": gauss},
        "numpy": {"name": str(np_name), "keys": torch.from_numpy(np_keys.astype(np.int64)),
                  "pos": int(np_pos), "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
        "cuda": [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng_state` captured.

    Example:
        >>> s = capture_rng_state(); x = random.random(); restore_rng_state(s); random.random() == x
        True
    """
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["name"], nps["keys"].numpy().astype(np.uint32), int(nps["pos"]),
                         int(nps["has_gauss"]), float(nps["gauss"])))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (plus the layout number) atomically to ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"; save_checkpoint(p, {"epoch": 1}); p.exists()
        True
    """
    buffer = io.BytesIO()
    torch.save({"layout": CHECKPOINT_LAYOUT, **state}, buffer)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getbuffer())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; errors name the file.

    Example:
        >>> load_checkpoint("/nonexistent/last.pt")
        Traceback (most recent call last):
        ...
        lesionviewer.training.checkpoint.CheckpointError: /nonexistent/last.pt: checkpoint not found
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: cannot read the checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or "layout" not in state:
        raise CheckpointError(f"{path}: not a lesionviewer training checkpoint")
    if int(state["layout"]) > CHECKPOINT_LAYOUT:
        raise CheckpointError(f"{path}: checkpoint layout {state['layout']} is newer than this version "
                              f"reads ({CHECKPOINT_LAYOUT}); update lesionviewer")
    return state


def model_state_from(path: str | Path) -> dict[str, torch.Tensor]:
    """Just the model weights of a checkpoint.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.pt"
        >>> save_checkpoint(p, {"model": {"w": torch.ones(1)}}); model_state_from(p)["w"].tolist()
        [1.0]
    """
    state = load_checkpoint(path)
    if "model" not in state:
        raise CheckpointError(f"{path}: the checkpoint holds no model weights")
    return state["model"]
