"""Sharded batch detection: torchrun ranks give exactly one process's rows; a killed rank resumes cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.model_file import save_model
from lesionviewer.io import Volume, write_dicom_series

NUM_SERIES = 6


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64,
                         rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50)
    model = root / "tiny.safetensors"
    save_model(model, net, {"name": "tiny", "slice_interval_mm": 2.5, "input_min_size": 64, "input_max_size": 64})
    rng = np.random.default_rng(0)
    for i in range(NUM_SERIES):
        hu = rng.normal(0, 300, (16, 48, 48)).astype(np.int16)
        write_dicom_series(Volume(hu, (2.5, 0.8, 0.8)), root / "studies" / f"s{i}")
    return root, model


def detect_command(root, model, out, *extra):
    return [sys.executable, "-m", "lesionviewer.detection.cli", str(root / "studies"), "--model", str(model),
            "--out", str(out), "--device", "cpu", "--threshold", "0", "--quiet", *extra]


def quiet_env():
    return dict(os.environ, OMP_NUM_THREADS="1")


def run(command):
    done = subprocess.run(command, capture_output=True, text=True, env=quiet_env(), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def single(archive):
    root, model = archive
    out = root / "single.csv"
    run(detect_command(root, model, out))
    text = out.read_text()
    assert len(text.splitlines()) > NUM_SERIES  # rows from every series, at threshold 0
    return text


def test_torchrun_on_two_processes_writes_exactly_the_single_process_rows(archive, single, tmp_path):
    root, model = archive
    out = tmp_path / "torchrun.csv"
    command = detect_command(root, model, out)
    run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *command[1:]])
    assert out.read_text() == single
    assert len(list((tmp_path / "torchrun.csv.parts").iterdir())) == NUM_SERIES


def test_a_killed_rank_resumes_without_losing_or_doubling_rows(archive, single, tmp_path):
    root, model = archive
    out, parts = tmp_path / "resumed.csv", tmp_path / "parts"
    rank0 = detect_command(root, model, out, "--parts", str(parts), "--rank", "0", "--world-size", "2")
    child = subprocess.Popen(rank0, env=quiet_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (parts.is_dir() and any(parts.glob("*.csv"))) and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    written_at_kill = len(list(parts.glob("*.csv")))
    assert 1 <= written_at_kill < NUM_SERIES // 2  # killed part-way through its share
    run(detect_command(root, model, out, "--parts", str(parts), "--rank", "1", "--world-size", "2"))
    assert not out.exists()  # rank 0's share is unfinished: nothing merged yet
    resumed = run(rank0)
    share_left = NUM_SERIES // 2 - written_at_kill
    assert f"{share_left} series to run ({NUM_SERIES - share_left} of {NUM_SERIES} finished before)" in resumed.stdout
    assert out.read_text() == single


def test_workers_option_runs_local_processes_and_merges(archive, single, tmp_path):
    root, model = archive
    out = tmp_path / "workers.csv"
    run(detect_command(root, model, out, "--workers", "2"))
    assert out.read_text() == single
