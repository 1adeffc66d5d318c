"""Multi-process training through PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node N -m lesionviewer.training.cli train ...`` (or the ``lesionviewer-train``
script through ``torchrun --no-python``) sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous
address; :func:`init_distributed` reads them and joins the process group - NCCL when the process
has a GPU, gloo on CPU. Without those variables it is a single process and nothing is initialised.
Multi-node runs are the same command on each node with ``--nnodes`` and a ``--rdzv-endpoint``.

Only rank 0 writes logs, checkpoints and evaluation results (:attr:`DistributedContext.is_main`).

Example:
    >>> ctx = init_distributed(env={})
    >>> ctx.world_size, ctx.rank, ctx.is_main, ctx.enabled
    (1, 0, True, False)
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str = ""

    @property
    def enabled(self) -> bool:
        """True when a process group was initialised.

        Example:
            >>> DistributedContext(world_size=2, backend="gloo").enabled
            True
        """
        return bool(self.backend)

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes files).

        Example:
            >>> DistributedContext(rank=1, world_size=2).is_main
            False
        """
        return self.rank == 0


def init_distributed(device_type: str = "cpu", env: Mapping[str, str] | None = None, timeout_s: float = 1800) -> DistributedContext:
    """Join the process group described by torchrun's environment variables, if any.

    ``device_type`` "cuda" picks NCCL and binds the process to GPU ``LOCAL_RANK``; otherwise gloo.

    Example:
        >>> init_distributed("cpu", env={"WORLD_SIZE": "1"}).enabled
        False
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    world_size = int(environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(environ["RANK"])
    local_rank = int(environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size, backend=backend)


def start_training_process(train_cfg) -> DistributedContext:
    """Set up one training process from a config's ``[train]`` section; returns its context.

    Picks CUDA when ``train_cfg.device`` allows it and a GPU exists (else the CPU), joins torchrun's
    process group if there is one, then applies ``torch_threads`` and seeds every generator with
    ``seed``. The caller shuts the context down with :func:`shutdown_distributed` when done.

    Example:
        >>> from types import SimpleNamespace
        >>> cfg = SimpleNamespace(device="cpu", torch_threads=0, seed=3)
        >>> ctx = start_training_process(cfg); first = torch.rand(2); shutdown_distributed(ctx)
        >>> ctx = start_training_process(cfg); again = torch.rand(2); shutdown_distributed(ctx)
        >>> ctx.world_size, torch.equal(first, again)
        (1, True)
    """
    from lesionviewer.training.sampler import seed_everything

    device_type = "cuda" if torch.cuda.is_available() and train_cfg.device in ("auto", "cuda") else "cpu"
    ctx = init_distributed(device_type)
    try:
        if train_cfg.torch_threads:
            torch.set_num_threads(int(train_cfg.torch_threads))
        seed_everything(train_cfg.seed)
    except BaseException:
        shutdown_distributed(ctx)
        raise
    return ctx


def shutdown_distributed(ctx: DistributedContext) -> None:
    """Leave the process group (no-op for a single process).

    Example:
        >>> import tempfile
        >>> dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)
        >>> dist.is_initialized()
        True
        >>> shutdown_distributed(DistributedContext(backend="gloo"))
        >>> dist.is_initialized()
        False
        >>> shutdown_distributed(DistributedContext())  # a single process: nothing to leave
    """
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    """Wait for every process (no-op for a single process).

    Example:
        >>> import tempfile
        >>> dist.init_process_group("gloo", init_method="file://" + tempfile.mktemp(), rank=0, world_size=1)
        >>> barrier(DistributedContext(backend="gloo"))  # the only process: returns at once
        >>> dist.get_world_size()
        1
        >>> dist.destroy_process_group()
        >>> barrier(DistributedContext())  # no process group: no call into torch.distributed at all
    """
    if ctx.enabled:
        dist.barrier()


def all_reduce_sum(ctx: DistributedContext, values: list[float], device: torch.device | str = "cpu") -> list[float]:
    """Sum a few numbers over all processes.

    Example:
        >>> all_reduce_sum(DistributedContext(), [1.0, 2.0])
        [1.0, 2.0]
    """
    if not ctx.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_flag(ctx: DistributedContext, flag: bool, device: torch.device | str = "cpu") -> bool:
    """Rank 0's ``flag`` on every process (e.g. "stop now").

    Example:
        >>> broadcast_flag(DistributedContext(), True)
        True
    """
    if not ctx.enabled:
        return bool(flag)
    tensor = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def weights_in_sync(ctx: DistributedContext, model: torch.nn.Module) -> bool:
    """True when every process holds bit-identical weights (compared through a checksum per rank).

    Example:
        >>> weights_in_sync(DistributedContext(), torch.nn.Linear(1, 1))
        True
    """
    if not ctx.enabled:
        return True
    device = next(model.parameters()).device
    local = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    local = torch.stack([local, torch.tensor(float(sum(p.numel() for p in model.parameters())), device=device,
                                             dtype=torch.float64)])
    gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    return all(torch.equal(g, gathered[0]) for g in gathered)
