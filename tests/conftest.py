"""Shared fixtures: where the real CT test data lives (the user-folder isolation is in ../conftest.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CT in ../shared/data; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (only the project's CI and developers have it)")
    return SHARED_DATA


#: A detector network small enough to build and save in milliseconds (mp3d_small, width 4).
TINY_TRAINING_CONFIG = {
    "name": "tiny", "data": {"num_slices": 3, "test_size": 64, "max_size": 64, "train_sizes": [64]},
    "model": {"arch": "mp3d_small", "options": {"width": 4, "blocks": [1, 1, 1, 1], "fpn_channels": 8,
                                                 "representation_size": 16}}}


@pytest.fixture
def make_tiny_run() -> Callable[..., Path]:
    """``make_tiny_run(folder, seed, width=4)``: a run folder whose best checkpoint holds a tiny network from ``seed``."""
    import torch

    from lesionviewer.training.checkpoint import save_checkpoint
    from lesionviewer.training.config import TrainingConfig, config_to_json
    from lesionviewer.training.model_setup import build_model

    def make(folder: Path, seed: int, width: int = 4) -> Path:
        spec = json.loads(json.dumps(TINY_TRAINING_CONFIG))
        spec["model"]["options"]["width"] = width
        cfg = TrainingConfig.from_dict(spec)
        torch.manual_seed(seed)
        save_checkpoint(folder / "checkpoints" / "best.pt",
                        {"config_json": config_to_json(cfg), "epoch": 3, "step": 30,
                         "model": build_model(cfg).state_dict(), "metrics": json.dumps({"mean_sensitivity": 0.5})})
        return folder

    return make
