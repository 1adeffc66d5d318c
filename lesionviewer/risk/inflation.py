"""2D GoogLeNet weights -> the I3D network: each k x k filter repeated k times over depth and divided by k.

Carreira & Zisserman's "bootstrapping": a 2D filter ``w`` becomes ``w / k`` at each of the ``k``
depth taps, so on a volume that is constant over depth every depth position computes exactly what
the 2D filter computes on the slice. BatchNorm parameters and running statistics are copied as
they are (a constant-over-depth feature map has the same per-channel statistics), the stem's RGB
filters are summed into the single grey channel, and the 1000-class ``fc`` (and the auxiliary
classifiers) are left out: the risk head starts from its own initialisation.

The source is a torchvision ``googlenet`` state dict or a local file holding one (``.safetensors``
or a torch file read with ``weights_only=True``; nothing is downloaded).

Example:
    >>> from torchvision.models import googlenet
    >>> from lesionviewer.risk.i3d import InceptionI3D
    >>> net2d = googlenet(weights=None, aux_logits=False, init_weights=False)
    >>> report = load_googlenet_2d(InceptionI3D(), net2d.state_dict())
    >>> len(report.adapted), report.skipped, report.missing
    (57, ['fc.bias', 'fc.weight'], [])
"""
from __future__ import annotations

import os
from typing import Mapping

import torch
from torch import nn

from lesionviewer.detection.initialization import InitReport, read_state_dict


def inflate_conv_weight(weight_2d: torch.Tensor, depth: int | None = None) -> torch.Tensor:
    """(out, in, k, k) -> (out, in, depth, k, k), repeated over depth and divided by ``depth`` (default k).

    Example:
        >>> w = inflate_conv_weight(torch.ones(1, 1, 3, 3))
        >>> tuple(w.shape), round(float(w.sum()), 6)
        ((1, 1, 3, 3, 3), 9.0)
    """
    if weight_2d.dim() != 4:
        raise ValueError(f"expected a 2D conv weight (out, in, kh, kw), got shape {tuple(weight_2d.shape)}")
    depth = int(weight_2d.shape[-1] if depth is None else depth)
    return weight_2d.unsqueeze(2).repeat(1, 1, depth, 1, 1) / depth


def inflate_googlenet_state(state_2d: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> tuple[dict, InitReport]:
    """The tensors of ``target`` (an I3D state dict) that a 2D GoogLeNet state provides, inflated.

    Example:
        >>> from torchvision.models import googlenet
        >>> from lesionviewer.risk.i3d import InceptionI3D
        >>> state, report = inflate_googlenet_state(googlenet(weights=None, aux_logits=False, init_weights=False).state_dict(),
        ...                                         InceptionI3D().state_dict())
        >>> tuple(state["conv1.conv.weight"].shape)
        (64, 1, 7, 7, 7)
    """
    report, new_state = InitReport(), {}
    for name, tensor in target.items():
        if name.startswith("fc."):
            continue
        if name not in state_2d:
            report.missing.append(name)
            continue
        value = state_2d[name]
        if value.dim() == 4 and tensor.dim() == 5:
            if name == "conv1.conv.weight" and value.shape[1] == 3 and tensor.shape[1] == 1:
                value = value.sum(dim=1, keepdim=True)  # a grey image repeated as RGB gives the same response
            value = inflate_conv_weight(value, tensor.shape[2])
            report.adapted.append(name)
        else:
            report.loaded.append(name)
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(f"2D weight {name} {tuple(state_2d[name].shape)} does not fit the I3D tensor "
                             f"{tuple(tensor.shape)}: build the I3D network with width=1 to take GoogLeNet weights")
        new_state[name] = value.to(tensor.dtype)
    report.skipped.extend(sorted(k for k in state_2d if k not in new_state))
    return new_state, report


def load_googlenet_2d(model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor]) -> InitReport:
    """Initialise an :class:`~lesionviewer.risk.i3d.InceptionI3D` from a 2D GoogLeNet (state dict or local file).

    Example:
        >>> from lesionviewer.risk.i3d import InceptionI3D
        >>> load_googlenet_2d(InceptionI3D(), "/nonexistent/googlenet.pth")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/googlenet.pth: no such weights file
    """
    if getattr(model, "norm", "batch") != "batch":
        raise ValueError("2D GoogLeNet weights need the I3D built with norm='batch' (its BatchNorm is copied)")
    state_2d = read_state_dict(source)
    if "conv1.conv.weight" not in state_2d or "inception3a.branch1.conv.weight" not in state_2d:
        where = "state dict" if isinstance(source, Mapping) else os.fspath(source)
        raise ValueError(f"{where}: not a torchvision GoogLeNet state dict (no conv1 / inception3a weights)")
    new_state, report = inflate_googlenet_state(state_2d, model.state_dict())
    model.load_state_dict(new_state, strict=False)
    return report
