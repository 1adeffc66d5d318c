"""Choosing where the detector runs (CUDA GPU, Apple GPU, or the processor) and saying so in words.

Example:
    >>> pick_device("cpu")
    device(type='cpu')
    >>> describe_device("cpu").startswith("Processor (CPU")
    True
"""
from __future__ import annotations

import torch

#: What the GUI and the CLI tell a user who has no usable GPU.
NO_GPU_MESSAGE = (
    "No GPU found: detection runs on the processor, which is much slower "
    "(seconds per slice with the full model; the small model is faster)."
)


class DeviceUnavailableError(RuntimeError):
    """The requested device does not exist on this computer (e.g. ``cuda`` without an NVIDIA GPU).

    Example:
        >>> issubclass(DeviceUnavailableError, RuntimeError)
        True
    """


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(requested: str | torch.device = "auto") -> torch.device:
    """The torch device for ``requested``: ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``,
    ``"cuda"`` / ``"cuda:N"`` or ``"mps"``.

    Asking for a GPU that is not there raises :class:`DeviceUnavailableError` (an explicit request
    is never silently downgraded); ``"auto"`` never fails.

    Example:
        >>> pick_device("auto").type in {"cuda", "mps", "cpu"}
        True
        >>> pick_device("tpu")
        Traceback (most recent call last):
        ...
        ValueError: unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps
    """
    text = str(requested).strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"unknown device {requested!r}; choose auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("device 'cuda' was requested but no CUDA GPU is available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device {text!r} was requested but only {torch.cuda.device_count()} CUDA GPU(s) exist"
            )
    if device.type == "mps" and not _mps_available():
        raise DeviceUnavailableError("device 'mps' was requested but no Apple GPU (Metal) is available here")
    return device


def describe_device(device: str | torch.device) -> str:
    """One sentence for the status bar saying what the detector runs on.

    Example:
        >>> import torch
        >>> text = describe_device("cpu")
        >>> text.startswith("Processor (CPU, ")
        True
        >>> (NO_GPU_MESSAGE in text) == (not torch.cuda.is_available() and not torch.backends.mps.is_available())
        True
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        gib = props.total_memory / 1024**3
        return f"GPU: {props.name} (CUDA, {gib:.0f} GB)."
    if device.type == "mps":
        return "GPU: Apple silicon (Metal)."
    threads = torch.get_num_threads()
    sentence = f"Processor (CPU, {threads} thread{'s' if threads != 1 else ''})."
    if not torch.cuda.is_available() and not _mps_available():
        sentence += " " + NO_GPU_MESSAGE
    return sentence
