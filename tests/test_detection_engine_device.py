"""Device choice: auto falls back to the CPU; explicit GPU requests on a GPU-less machine are refused."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection import device as device_module
from lesionviewer.detection.device import NO_GPU_MESSAGE, DeviceUnavailableError, describe_device, pick_device


def _no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)


def test_auto_without_gpu_is_cpu_and_says_so(monkeypatch):
    _no_gpu(monkeypatch)
    assert pick_device("auto") == torch.device("cpu")
    assert describe_device("cpu").endswith(NO_GPU_MESSAGE)


def test_auto_prefers_cuda_then_mps(monkeypatch):
    _no_gpu(monkeypatch)
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("AUTO") == torch.device("cuda")


@pytest.mark.parametrize("requested", ["cuda", "cuda:0", "mps"])
def test_an_absent_gpu_requested_explicitly_is_an_error(monkeypatch, requested):
    _no_gpu(monkeypatch)
    with pytest.raises(DeviceUnavailableError, match=requested.split(":")[0]):
        pick_device(requested)


@pytest.mark.parametrize("requested", ["gpu", "tpu", "", "cuda:x"])
def test_unknown_device_names_are_refused(requested):
    with pytest.raises(ValueError, match="unknown device"):
        pick_device(requested)


def test_cpu_is_always_available():
    assert pick_device(torch.device("cpu")).type == "cpu"
