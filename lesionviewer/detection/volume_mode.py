"""Volume mode: the 3D trunk runs once over a stretch of the z-resampled series, shared by many windows.

In window mode every output slice runs the trunk on its own ``D``-slice context stack. MP3D's trunk
never strides or pools depth (pseudo-3D or 3x3x3 blocks, no isotropic pooling), so its stage
outputs at lattice point ``k`` can instead be computed once over a long run of lattice points (see
:mod:`lesionviewer.imaging.context_grid`) and each output slice takes the ``D`` positions of its
window from them, just before the 3D-to-2D module (GTM: a depthwise ``(D, 1, 1)`` convolution over
the shared tensor gives every window's GTM output at once).

Two things differ from window mode, and both are measured (docs/benchmarks.md), not assumed away:

* the slice convolutions (3x1x1, the stem's max-pool) see the real neighbours beyond a window where
  window mode sees zero padding;
* GroupNorm normalises over (channels of a group, depth, height, width). In window mode the depth is
  the window; here each lattice point is normalised with the statistics of the ``D`` lattice points
  of the window centred on it (:class:`SlidingDepthGroupNorm`), which equals window mode's
  statistics for the centre slice of a window.

A run is computed in chunks; a chunk adds :func:`z_halo` lattice points on each side (the
receptive field of the slice convolutions and pools), so that chunking changes results only through
the normalisation windows of the halo's edge.

Example:
    >>> import torch
    >>> from lesionviewer.detection.factory import build_detector
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32).eval()
    >>> volume_mode_problem(net) is None, z_halo(net.backbone.body)
    (True, 5)
    >>> trunk = shared_trunk(net.backbone.body, window=3)
    >>> feats = trunk(torch.zeros(1, 1, 7, 64, 64))  # 7 lattice points: 5 windows of 3
    >>> windows_to_2d(net.backbone.to_2d[0], feats[0], 3).shape
    torch.Size([5, 32, 16, 16])
"""
from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from lesionviewer.detection.networks.backbone import ContextBackboneWithFPN
from lesionviewer.detection.networks.depth_to_2d import CenterSlice, DepthConv, GroupTransform
from lesionviewer.detection.networks.mp3d_resnet import ResNet3DTrunk
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck
from lesionviewer.detection.networks.resnet3d import Bottleneck3D
from lesionviewer.detection.trunk_rewrites import rewrite_trunk


def depth_trunk_problem(trunk: nn.Module) -> str | None:
    """Why ``trunk`` does not treat every depth position alike (so its work cannot be shared or
    flattened across positions), or None when it does: a :class:`ResNet3DTrunk` of P3D or 3x3x3
    blocks that never strides or pools depth.

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> depth_trunk_problem(mp3d_trunk(width=8, blocks=(1, 1, 1, 1))) is None
        True
        >>> depth_trunk_problem(nn.Conv3d(1, 1, 1))
        'the trunk is Conv3d, not a 3D ResNet trunk'
    """
    if not isinstance(trunk, ResNet3DTrunk):
        return f"the trunk is {type(trunk).__name__}, not a 3D ResNet trunk"
    if trunk.depth_pool is not None:
        return "the trunk pools depth (isotropic pooling)"
    for stage in range(4):
        for block in getattr(trunk, f"layer{stage + 1}"):
            if not isinstance(block, (P3DBottleneck, Bottleneck3D)):
                return f"{type(block).__name__} blocks mix slices by their position in the window"
    for module in trunk.modules():
        if isinstance(module, (nn.Conv3d, nn.MaxPool3d)) and _z_stride(module) != 1:
            return "a layer strides depth"
    return None


def volume_mode_problem(model: nn.Module) -> str | None:
    """Why volume mode cannot run ``model`` (a detector from the factory), or None when it can.

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> volume_mode_problem(build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), depth_pooling=True))
        'the trunk pools depth (isotropic pooling)'
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, ContextBackboneWithFPN):
        return "the backbone is not a context trunk with FPN"
    problem = depth_trunk_problem(backbone.body)
    if problem is not None:
        return problem
    for convert in backbone.to_2d:
        if not isinstance(convert, (GroupTransform, CenterSlice, DepthConv)):
            return f"the 3D-to-2D module {type(convert).__name__} is not supported"
    return None


def z_halo(trunk: nn.Module) -> int:
    """Lattice points each side that a trunk output depends on through convolutions and pools.

    The sum of the depth radii of every Conv3d and MaxPool3d (an upper bound: parallel branches
    count twice). GroupNorm's windows are not counted (see the module's description).

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> z_halo(mp3d_trunk())  # the stem's max-pool and 16 slice convolutions
        17
    """
    total = 0
    for module in trunk.modules():
        if isinstance(module, nn.Conv3d):
            total += (module.kernel_size[0] - 1) // 2 * module.dilation[0]
        elif isinstance(module, nn.MaxPool3d):
            kernel = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            total += kernel // 2
    return total


class SlidingDepthGroupNorm(nn.Module):
    """GroupNorm whose statistics at each depth position come from the ``window`` positions around it.

    Position ``z`` is normalised with the mean and variance, per sample and group, of positions
    ``z - window // 2 .. z + window - 1 - window // 2`` (clipped to the tensor), and then scaled by
    the wrapped GroupNorm's weight and bias (shared, not copied). On a tensor exactly one window
    deep it equals the GroupNorm at the window's centre position.

    Example:
        >>> gn = nn.GroupNorm(2, 4)
        >>> x = torch.randn(1, 4, 5, 3, 3)
        >>> sliding = SlidingDepthGroupNorm(gn, window=5)
        >>> torch.allclose(sliding(x)[:, :, 2], gn(x)[:, :, 2], atol=1e-5)
        True
    """

    def __init__(self, norm: nn.GroupNorm, window: int) -> None:
        super().__init__()
        self.num_groups, self.eps = norm.num_groups, norm.eps
        self.weight, self.bias = norm.weight, norm.bias
        self.window = int(window)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = x.shape
        g = self.num_groups
        values = x.float().reshape(n, g, c // g, d, h * w)
        # per position: the mean and the mean square of each (sample, group); rows reduced in float32
        # over the contiguous H*W, then combined in float64
        row_mean = values.mean(-1)
        row_square = torch.linalg.vector_norm(values, dim=-1).square() / (h * w)
        stats = torch.stack([row_mean.double().mean(2), row_square.double().mean(2)], dim=1)  # (n, 2, g, d)
        below = self.window // 2
        above = self.window - 1 - below
        kernel = stats.new_ones(1, 1, self.window)
        summed = F.conv1d(F.pad(stats.reshape(n * 2 * g, 1, d), (below, above)), kernel)
        count = F.conv1d(F.pad(stats.new_ones(1, 1, d), (below, above)), kernel)
        pooled = (summed / count).reshape(n, 2, g, d)
        mean = pooled[:, 0]
        scale = torch.rsqrt((pooled[:, 1] - mean * mean).clamp_min(0) + self.eps)  # (n, g, d)
        # y = x * a + b per (sample, channel, position): one fused pass over the tensor
        a = scale.repeat_interleave(c // g, dim=1)
        b = -mean.repeat_interleave(c // g, dim=1) * a
        if self.weight is not None:
            weight = self.weight.double().view(1, c, 1)
            a, b = a * weight, b * weight + self.bias.double().view(1, c, 1)
        return torch.addcmul(b.float()[..., None, None], x.float(), a.float()[..., None, None])


def shared_trunk(trunk: nn.Module, window: int) -> nn.Module:
    """A copy of ``trunk`` sharing its parameters, with every GroupNorm made a :class:`SlidingDepthGroupNorm`
    (and the slice convolutions and stem pool in their faster exact 2D forms, :mod:`.trunk_rewrites`).

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1))
        >>> shared = shared_trunk(trunk, 9)
        >>> type(shared.norm1).__name__, shared.conv1.weight is trunk.conv1.weight
        ('SlidingDepthGroupNorm', True)
    """
    memo: dict[int, torch.Tensor] = {id(p): p for p in trunk.parameters()}
    memo.update({id(b): b for b in trunk.buffers()})
    copied = copy.deepcopy(trunk, memo)
    for name, module in list(copied.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.GroupNorm):
                setattr(module, child_name, SlidingDepthGroupNorm(child, window))
    return rewrite_trunk(copied).eval()


def windows_to_2d(convert: nn.Module, features: torch.Tensor, window: int) -> torch.Tensor:
    """Every window's 2D map from a shared ``(1, C, L, H, W)`` stage output: ``(L - window + 1, C, H, W)``.

    Window ``i`` covers positions ``i .. i + window - 1``; the result equals ``convert`` applied to
    each window in turn.

    Example:
        >>> feats = torch.arange(4.).view(1, 1, 4, 1, 1)
        >>> windows_to_2d(CenterSlice(), feats, 3).flatten().tolist()  # centres 1 and 2
        [1.0, 2.0]
    """
    if features.dim() != 5 or features.shape[0] != 1:
        raise ValueError(f"expected one shared stage output (1, C, L, H, W), got {tuple(features.shape)}")
    count = features.shape[2] - window + 1
    if count < 1:
        raise ValueError(f"{features.shape[2]} positions hold no window of {window}")
    if isinstance(convert, CenterSlice):
        return features[0, :, window // 2: window // 2 + count].transpose(0, 1)
    if isinstance(convert, GroupTransform):
        if convert.depth != window:
            raise ValueError(f"GTM built for {convert.depth} slices, not {window}")
        weight = convert.conv.weight.reshape(convert.channels, 1, window, 1, 1)
        out = F.conv3d(features, weight.to(features.dtype), groups=convert.channels)
    elif isinstance(convert, DepthConv):
        out = F.conv3d(features, convert.conv.weight.to(features.dtype))
    else:
        raise TypeError(f"volume mode does not know the 3D-to-2D module {type(convert).__name__}")
    return out[0].transpose(0, 1)


def _z_stride(module: nn.Module) -> int:
    stride = cast("int | tuple[int, ...]", module.stride)
    return stride if isinstance(stride, int) else stride[0]
