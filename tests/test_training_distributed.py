"""Two-process DistributedDataParallel training on CPU (gloo), as torchrun would start it."""
from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from lesionviewer.training.config import load_config
from lesionviewer.training.toy_data import write_toy_deeplesion
from test_training_run import tiny_config_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_worker(rank: int, world_size: int, port: int, config_path: str, run_dir: str, out_dir: str) -> None:
    # What torchrun puts in each process's environment.
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from lesionviewer.training import loop

    # Keep a handle on each rank's trainer to read its final weights.
    trainers = []
    original = loop.Trainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        trainers.append(self)

    loop.Trainer.__init__ = init
    from lesionviewer.training.runner import train

    summary = train(load_config(config_path), run_dir)
    trainer = trainers[0]
    seen = sorted(int(i) for _, i in trainer.sampler)  # the last epoch's shard of this rank
    torch.save({"model": trainer.model.state_dict(), "summary": json.dumps(summary), "seen": seen,
                "is_ddp": trainer.ddp is not None}, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_two_process_gloo_training_keeps_ranks_identical(tmp_path):
    root = write_toy_deeplesion(tmp_path / "toy", patients=8, size=64, slices=8)
    config = tiny_config_file(tmp_path, root, optim={"epochs": 2, "milestones": [1], "reference_batch": 4},
                              train={"images_per_gpu": 1, "checkpoint_every": 1},
                              eval={"every_epochs": 1, "test_at_end": True})
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(rank_worker, args=(2, free_port(), config, str(run_dir), str(out_dir)), nprocs=2, join=True)

    ranks = [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(r["is_ddp"] for r in ranks)
    for name, tensor in ranks[0]["model"].items():
        assert torch.equal(tensor, ranks[1]["model"][name]), f"ranks disagree on {name}"
    # Each rank trained on its own half of the 4 training slices.
    assert set(ranks[0]["seen"]).isdisjoint(ranks[1]["seen"])
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == [0, 1, 2, 3]
    summary = json.loads(ranks[0]["summary"])
    assert summary["world_size"] == 2 and summary["total_batch"] == 2 and summary["weights_in_sync"]
    assert summary["lr"] == pytest.approx(0.02 * 2 / 4)  # linear scaling by total batch
    assert summary["steps_done"] == 4  # 2 epochs x (4 slices / 2 processes / 1 image)
    # Only rank 0 wrote the run folder, and the saved weights are the ranks' weights.
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for name, tensor in saved["model"].items():
        assert torch.equal(tensor, ranks[1]["model"][name])
    iters = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in iters if r["kind"] == "iter"] == [1, 2, 3, 4]
    assert (run_dir / "eval" / "test_best.json").is_file()
