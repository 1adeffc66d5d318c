"""Starting weights for the detectors: a D=3 (COCO) detector into any D, or a 2D ResNet-50.

(a) :func:`load_pretrained_detector` - the MP3D pre-training output is a detector built for
    3 slices. Everything in the trunk, FPN, RPN and box head is independent of D except the
    3D-to-2D weights: a GTM has D weights per channel (a ``DepthConv`` D taps). They are
    resampled to the new D by linear interpolation along depth and rescaled so that each
    channel's weights keep their sum - a feature constant over depth then gives exactly the same
    2D map as before. Tensors whose shape still differs (a COCO box predictor with 81 classes,
    A3D's D x D matrices) are skipped and listed; the target keeps its own initial values there.

(b) :func:`load_resnet50_2d` - a torchvision ResNet-50 state dict from a local file. The 7x7 stem
    conv's RGB weights are summed into one input channel (a grey image repeated as RGB gives the
    same result), 1x1 convs gain a depth axis, and each 3x3 conv becomes the 1x3x3 S conv. The
    3x1x1 T convs start so that they add nothing new: identity (centre tap 1) in P3D-A, where T
    follows S in series, and zero in P3D-B and -C, where T's output is *added* to S's (identity
    there would double the spatial path). MR3D's 3x3x3 convs get the 3x3 kernel at the centre
    depth tap and zeros elsewhere; A3D's 1x3x3 convs take the 3x3 kernels and its mixing matrices
    keep their identity + U(-0.1, 0.1) start. GTM weights become 1/D (the mean over depth).
    With these, on a stack that is constant over depth, every depth position of the 3D trunk
    computes exactly the 2D ResNet's features, given two conditions. (1) The stride placement:
    torchvision's ResNet-50 strides its 3x3 conv, MP3D its first 1x1 conv; build with
    ``stride_on="spatial"`` for an exact match (with the default, res2 is exact and res3-res5
    compute the "ResNet v1" variant of the same weights). (2) Normalisation absent or per
    slice: with GroupNorm the P3D-A block's extra GN after T re-normalises an already normalised
    map, so a GN network starts near, not equal to, the 2D one (P3D-B and -C blocks are exact;
    on a freshly initialised GN ResNet-50 with one block per stage the stage outputs differed by
    17-26 % in relative L2 norm). Its features are still the same at every depth position of a
    constant stack, since GN's statistics span all slices.
    Normalisation: BatchNorm running statistics cannot become GroupNorm statistics; the BN
    affine weight and bias are copied into the GN affine parameters, and the statistics dropped
    (FPN+3DCE with ``norm="frozen_bn"`` takes all four BN tensors unchanged).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from lesionviewer.detection.networks.a3d import A3DConv
from lesionviewer.detection.networks.depth_to_2d import DepthConv, GroupTransform
from lesionviewer.detection.networks.fpn_3dce import SharedTrunk2D
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck
from lesionviewer.detection.networks.resnet3d import Bottleneck3D


@dataclass
class InitReport:
    """What an initialisation did: tensors copied, adapted, skipped, and left at their start.

    Example:
        >>> InitReport(loaded=["a"]).summary()
        '1 loaded, 0 adapted, 0 skipped, 0 not in the source'
    """

    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs.

        Example:
            >>> InitReport(skipped=["x"]).summary()
            '0 loaded, 0 adapted, 1 skipped, 0 not in the source'
        """
        return (f"{len(self.loaded)} loaded, {len(self.adapted)} adapted, {len(self.skipped)} skipped, "
                f"{len(self.missing)} not in the source")


def read_state_dict(source: str | os.PathLike | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors from a state dict, or from a ``.safetensors`` / torch file (never running a pickle).

    Torch files are read with ``weights_only=True``; a training checkpoint holding the weights
    under "model" or "state_dict" is unwrapped.

    Example:
        >>> read_state_dict({"w": torch.ones(1)})["w"].tolist()
        [1.0]
    """
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such weights file")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file
                state = load_file(str(path), device="cpu")
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # the file is the user's: say which and why, never a traceback
            raise ValueError(f"{path}: not a readable weights file ({error})") from error
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), Mapping):
            state = dict(state[key])
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source}: expected a mapping of names to tensors")
    return state


def resample_depth(weights: torch.Tensor, depth: int, dim: int) -> torch.Tensor:
    """Resample ``weights`` along ``dim`` to ``depth`` taps, keeping the sum over that axis.

    Linear interpolation with the end taps aligned; then each line is rescaled to its old sum
    (or, where the interpolated sum is ~0, shifted by the difference spread evenly).

    Example:
        >>> w = torch.tensor([[1.0, 2.0, 3.0]])
        >>> r = resample_depth(w, 5, dim=1)
        >>> [round(v, 3) for v in r[0].tolist()], round(r.sum().item(), 6)
        ([0.6, 0.9, 1.2, 1.5, 1.8], 6.0)
    """
    moved = weights.movedim(dim, -1)
    shape = moved.shape
    lines = moved.reshape(-1, 1, shape[-1]).double()
    if shape[-1] == depth:
        out = lines
    elif shape[-1] == 1:
        out = lines.expand(-1, -1, depth) / depth
    else:
        out = F.interpolate(lines, size=depth, mode="linear", align_corners=True)
        old, new = lines.sum(-1, keepdim=True), out.sum(-1, keepdim=True)
        scale_ok = new.abs() > 1e-6 * out.abs().sum(-1, keepdim=True).clamp_min(1e-30)
        scaled = out * (old / torch.where(scale_ok, new, torch.ones_like(new)))
        shifted = out + (old - new) / depth
        out = torch.where(scale_ok, scaled, shifted)
    return out.to(weights.dtype).reshape(*shape[:-1], depth).movedim(-1, dim)


def _depth_adapters(model: nn.Module) -> dict[str, int]:
    """Names of tensors that carry the number of slices, with their depth axis."""
    axes = {}
    for name, module in model.named_modules():
        if isinstance(module, GroupTransform):
            axes[f"{name}.conv.weight"] = 1
        elif isinstance(module, DepthConv):
            axes[f"{name}.conv.weight"] = 2
    return axes


def _windowed_stems(model: nn.Module) -> set[str]:
    """Names of the stem weights of trunks that read extra input windows (``networks/input_windows.py``)."""
    return {f"{name}.conv1.weight" for name, module in model.named_modules()
            if getattr(module, "input_windows", None) is not None and isinstance(getattr(module, "conv1", None), nn.Conv3d)}


def widens_input(source: torch.Tensor, target: torch.Tensor) -> bool:
    """Whether ``target`` is ``source`` with more input channels (dim 1) and every other axis equal.

    Example:
        >>> widens_input(torch.zeros(8, 1, 1, 7, 7), torch.zeros(8, 2, 1, 7, 7))
        True
        >>> widens_input(torch.zeros(8, 1, 1, 7, 7), torch.zeros(4, 2, 1, 7, 7))
        False
    """
    return (source.dim() == target.dim() >= 2 and source.shape[1] < target.shape[1]
            and all(a == b for i, (a, b) in enumerate(zip(source.shape, target.shape)) if i != 1))


def widen_input(weights: torch.Tensor, channels: int) -> torch.Tensor:
    """A stem's weights for ``channels`` input channels: the old ones first, zeros for the new.

    A trunk given extra input windows then computes exactly what it computed before; training
    decides what the new channels add.

    Example:
        >>> widen_input(torch.ones(2, 1, 1, 1, 1), 3)[0].flatten().tolist()
        [1.0, 0.0, 0.0]
    """
    shape = list(weights.shape)
    shape[1] = channels - weights.shape[1]
    return torch.cat([weights, weights.new_zeros(shape)], dim=1)


def load_pretrained_detector(model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor]) -> InitReport:
    """Initialise ``model`` from a detector checkpoint built for another number of slices.

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> coco = build_detector("mp3d_small", 3, num_classes=81)
        >>> lesion = build_detector("mp3d_small", 9)
        >>> report = load_pretrained_detector(lesion, coco.state_dict())
        >>> len(report.adapted), report.skipped
        (4, ['roi_heads.box_predictor.bbox_pred.bias', 'roi_heads.box_predictor.bbox_pred.weight', 'roi_heads.box_predictor.cls_score.bias', 'roi_heads.box_predictor.cls_score.weight'])
        >>> windowed = build_detector("mp3d_small", 9, input_windows=[[-160, 240]], input_hu_clip=[-1000, 400])
        >>> load_pretrained_detector(windowed, lesion.state_dict()).adapted
        ['backbone.body.conv1.weight']

    A trunk with extra input windows takes a stem without them: its old weights on the input
    channel, zeros on the windows (:func:`widen_input`), so it starts as the source network.
    """
    state = read_state_dict(source)
    target = model.state_dict()
    adapters = _depth_adapters(model)
    stems = _windowed_stems(model)
    report, new_state = InitReport(), {}
    for name, tensor in target.items():
        if name not in state:
            report.missing.append(name)
            continue
        value = state[name]
        if value.shape == tensor.shape:
            new_state[name] = value
            report.loaded.append(name)
        elif name in adapters and value.dim() == tensor.dim() and all(
                a == b for i, (a, b) in enumerate(zip(value.shape, tensor.shape)) if i != adapters[name]):
            new_state[name] = resample_depth(value, tensor.shape[adapters[name]], adapters[name])
            report.adapted.append(name)
        elif name in stems and widens_input(value, tensor):
            new_state[name] = widen_input(value, tensor.shape[1])
            report.adapted.append(name)
        else:
            report.skipped.append(name)
    report.skipped.extend(sorted(set(state) - set(target)))
    report.skipped.sort()
    model.load_state_dict(new_state, strict=False)
    return report


def _norm_keys(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{k}" for k in ("weight", "bias"))


def _copy(target: dict, name: str, value: torch.Tensor, report: InitReport, source_name: str) -> None:
    if name not in target:
        return
    if target[name].shape != value.shape:
        raise ValueError(f"ResNet-50 weight {source_name} {tuple(value.shape)} does not fit {name} "
                         f"{tuple(target[name].shape)}: this network is not the ResNet-50 layout")
    target[name] = value.to(target[name].dtype)
    report.loaded.append(name)


def _map_norm(target: dict, prefix: str, state: dict, bn: str, report: InitReport) -> None:
    for suffix in ("weight", "bias", "running_mean", "running_var"):
        if f"{bn}.{suffix}" in state and f"{prefix}.{suffix}" in target:
            _copy(target, f"{prefix}.{suffix}", state[f"{bn}.{suffix}"], report, f"{bn}.{suffix}")


def load_resnet50_2d(model: nn.Module, source: str | os.PathLike | Mapping[str, torch.Tensor]) -> InitReport:
    """Initialise the trunk of a detector (or a bare trunk) from a 2D torchvision ResNet-50.

    ``source`` is a state dict or a local ``.safetensors`` / ``.pth`` file of
    ``torchvision.models.resnet50``; FPN and heads are left as built. See the module notes.

    Example:
        >>> from torchvision.models.resnet import Bottleneck, ResNet
        >>> from lesionviewer.detection.factory import build_detector
        >>> resnet = ResNet(Bottleneck, [1, 1, 1, 1])
        >>> model = build_detector("mp3d63", 5, blocks=(1, 1, 1, 1))
        >>> load_resnet50_2d(model, resnet.state_dict()).summary()
        '51 loaded, 8 adapted, 2 skipped, 0 not in the source'
    """
    state = read_state_dict(source)
    if "conv1.weight" not in state or "layer1.0.conv1.weight" not in state:
        raise ValueError(f"{source if not isinstance(source, Mapping) else 'state dict'}: "
                         "not a torchvision ResNet state dict (no conv1 / layer1 weights)")
    trunk, prefix = _find_trunk(model)
    target = {k: v.clone() for k, v in trunk.state_dict().items()}
    report = InitReport()
    if isinstance(trunk, SharedTrunk2D):
        for name, value in state.items():
            if f"resnet.{name}" in target:
                _copy(target, f"resnet.{name}", value, report, name)
            else:
                report.skipped.append(name)
        trunk.load_state_dict(target)
        report.loaded = [f"{prefix}{k}" for k in report.loaded]
        return report

    stem = state["conv1.weight"]
    _copy(target, "conv1.weight", stem.sum(dim=1, keepdim=True).unsqueeze(2), report, "conv1.weight")
    _map_norm(target, "norm1", state, "bn1", report)
    used = {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
            "bn1.num_batches_tracked"}
    for name, module in trunk.named_modules():
        if not name.startswith("layer") or name.count(".") != 1:
            continue  # bottlenecks only: "layer<stage>.<index>"
        if f"{name}.conv2.weight" not in state:
            report.missing.extend(k for k in target if k.startswith(f"{name}."))
            continue
        for conv, norm in (("conv1", "bn1"), ("conv3", "bn3")):
            _copy(target, f"{name}.{conv}.weight", state[f"{name}.{conv}.weight"].unsqueeze(2), report,
                  f"{name}.{conv}.weight")
            _map_norm(target, f"{name}.norm{conv[-1]}", state, f"{name}.{norm}", report)
        kernel = state[f"{name}.conv2.weight"]
        if isinstance(module, P3DBottleneck):
            _copy(target, f"{name}.conv_s.weight", kernel.unsqueeze(2), report, f"{name}.conv2.weight")
            _map_norm(target, f"{name}.norm_s", state, f"{name}.bn2", report)
            t = torch.zeros_like(target[f"{name}.conv_t.weight"])
            if module.variant == "A":
                t[:, :, 1, 0, 0] = torch.eye(t.shape[0])
            target[f"{name}.conv_t.weight"] = t
            for key, fill in zip(_norm_keys(f"{name}.norm_t"), (1.0, 0.0)):
                if key in target:
                    target[key] = torch.full_like(target[key], fill)
            report.adapted.append(f"{name}.conv_t.weight")
        elif isinstance(module, Bottleneck3D):
            full = torch.zeros_like(target[f"{name}.conv2.weight"])
            full[:, :, 1] = kernel
            _copy(target, f"{name}.conv2.weight", full, report, f"{name}.conv2.weight")
            _map_norm(target, f"{name}.norm2", state, f"{name}.bn2", report)
        elif isinstance(getattr(module, "conv2", None), A3DConv):
            _copy(target, f"{name}.conv2.conv.weight", kernel.unsqueeze(2), report, f"{name}.conv2.weight")
            _map_norm(target, f"{name}.norm2", state, f"{name}.bn2", report)
        else:
            continue
        if f"{name}.downsample.0.weight" in target:
            _copy(target, f"{name}.downsample.0.weight", state[f"{name}.downsample.0.weight"].unsqueeze(2),
                  report, f"{name}.downsample.0.weight")
            _map_norm(target, f"{name}.downsample.1", state, f"{name}.downsample.1", report)
        used.update(k for k in state if k.startswith(f"{name}."))
    trunk.load_state_dict(target)
    report.skipped.extend(sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked")))
    report.adapted.extend(_average_over_depth(model))
    report.loaded = [f"{prefix}{k}" for k in report.loaded]
    report.adapted = [f"{prefix}{k}" if k.startswith("layer") else k for k in report.adapted]
    return report


def _average_over_depth(model: nn.Module) -> list[str]:
    """Set every GTM to the mean over depth (and a DepthConv to a per-channel mean)."""
    adapted = []
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, GroupTransform):
                module.conv.weight.fill_(1.0 / module.depth)
                adapted.append(f"{name}.conv.weight")
            elif isinstance(module, DepthConv):
                weight = module.conv.weight
                weight.zero_()
                eye = torch.eye(weight.shape[0], dtype=weight.dtype) / weight.shape[2]
                weight += eye[:, :, None, None, None]
                adapted.append(f"{name}.conv.weight")
    return adapted


def _find_trunk(model: nn.Module) -> tuple[nn.Module, str]:
    body = getattr(getattr(model, "backbone", None), "body", None)
    if body is not None:
        return body, "backbone.body."
    if hasattr(model, "layer1") or isinstance(model, SharedTrunk2D):
        return model, ""
    raise ValueError("expected a detector from build_detector or one of its trunks")
