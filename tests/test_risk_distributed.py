"""Two-process DistributedDataParallel risk training on CPU (gloo), as torchrun would start it."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.multiprocessing as mp

from test_risk_training import tiny_config, write_toy_lists
from test_training_distributed import free_port


def rank_worker(rank: int, world_size: int, port: int, config_json: str, run_dir: str, out_dir: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from lesionviewer.risk import trainer as risk_trainer
    from lesionviewer.risk.config import risk_config_from_json

    trainers = []
    original = risk_trainer.RiskTrainer.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        trainers.append(self)

    risk_trainer.RiskTrainer.__init__ = init
    summary = risk_trainer.train_risk(risk_config_from_json(config_json), run_dir)
    trainer = trainers[0]
    seen = sorted(int(i) for _, i in trainer.sampler)
    torch.save({"model": trainer.model.state_dict(), "summary": json.dumps(summary, default=str), "seen": seen,
                "is_ddp": trainer.ddp is not None}, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_two_process_gloo_risk_training_keeps_ranks_identical(tmp_path):
    lists = write_toy_lists(tmp_path / "data", n_train=8, n_val=4)
    cfg = tiny_config(lists, train={"images_per_gpu": 2, "iter_size": 1, "deterministic": False})
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(rank_worker, args=(2, free_port(), json.dumps(cfg.to_dict()), str(run_dir), str(out_dir)),
             nprocs=2, join=True)
    ranks = [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(r["is_ddp"] for r in ranks)
    for name, tensor in ranks[0]["model"].items():
        assert torch.equal(tensor, ranks[1]["model"][name]), f"ranks disagree on {name}"
    assert set(ranks[0]["seen"]).isdisjoint(ranks[1]["seen"])
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == list(range(8))
    summary = json.loads(ranks[0]["summary"])
    assert summary["world_size"] == 2 and summary["total_batch"] == 4 and summary["weights_in_sync"]
    assert summary["steps_done"] == 4  # 2 epochs x (8 crops / 2 processes / 2 per step)
    saved = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    for name, tensor in saved["model"].items():
        assert torch.equal(tensor, ranks[1]["model"][name])
    assert (run_dir / "eval" / "val_epoch_002.json").is_file()
