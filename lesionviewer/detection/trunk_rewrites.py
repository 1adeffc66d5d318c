"""Exact re-expressions of two 3D trunk layers that oneDNN runs slowly on a CPU as 3D operations.

* A slice convolution (kernel ``(k, 1, 1)``, unit stride) on ``(N, C, D, H, W)`` is a 2D convolution
  with kernel ``(k, 1)`` on the view ``(N, C, D, H * W)``: no copy, and oneDNN's 2D kernels are
  faster than its fallback for this 3D shape (measured in docs/benchmarks.md).
* The stem's max-pool (kernel 3 in every axis, stride ``(1, 2, 2)``, padding 1) is separable: a 2D
  max-pool of every slice, then the maximum of three neighbouring slices.

Both compute the same numbers (max-pool exactly, the convolution to float rounding).

Example:
    >>> import torch
    >>> from torch import nn
    >>> conv = nn.Conv3d(4, 6, (3, 1, 1), padding=(1, 0, 0), bias=False)
    >>> x = torch.randn(1, 4, 5, 3, 2)
    >>> torch.allclose(SliceConvAs2d(conv)(x), conv(x), atol=1e-6)
    True
    >>> pool = nn.MaxPool3d(3, stride=(1, 2, 2), padding=1)
    >>> torch.equal(SeparableMaxPool(pool)(x), pool(x))
    True
"""
from __future__ import annotations

from typing import TypeGuard

import torch
from torch import nn
from torch.nn import functional as F


class SliceConvAs2d(nn.Module):
    """A ``(k, 1, 1)`` Conv3d (unit stride and dilation, one group) run as a 2D convolution; shares its weight.

    Example:
        >>> conv = nn.Conv3d(2, 2, (3, 1, 1), padding=(1, 0, 0))
        >>> SliceConvAs2d(conv).conv is conv
        True
    """

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        if not is_slice_conv(conv):
            raise ValueError("only a (k, 1, 1) Conv3d with unit stride and dilation and one group")
        self.conv = conv
        self.depth_padding = int(conv.padding[0])  # is_slice_conv: a tuple (p, 0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = x.shape
        weight = self.conv.weight
        out = F.conv2d(x.reshape(n, c, d, h * w), weight.reshape(weight.shape[0], c, -1, 1), self.conv.bias,
                       padding=(self.depth_padding, 0))
        return out.reshape(n, weight.shape[0], out.shape[2], h, w)


def is_slice_conv(module: nn.Module) -> TypeGuard[nn.Conv3d]:
    """Whether ``module`` is a Conv3d that :class:`SliceConvAs2d` can run.

    Example:
        >>> is_slice_conv(nn.Conv3d(2, 2, (3, 1, 1))), is_slice_conv(nn.Conv3d(2, 2, (1, 3, 3)))
        (True, False)
    """
    return (isinstance(module, nn.Conv3d) and tuple(module.kernel_size[1:]) == (1, 1)
            and tuple(module.stride) == (1, 1, 1) and tuple(module.dilation) == (1, 1, 1)
            and module.groups == 1 and tuple(module.padding[1:]) == (0, 0) and module.padding_mode == "zeros"
            and isinstance(module.padding, tuple))


class SeparableMaxPool(nn.Module):
    """MaxPool3d(3, stride (1, 2, 2), padding 1) as a 2D max-pool per slice, then a 3-slice maximum.

    Example:
        >>> SeparableMaxPool(nn.MaxPool3d(3, stride=(1, 2, 2), padding=1))(torch.zeros(1, 1, 2, 4, 4)).shape
        torch.Size([1, 1, 2, 2, 2])
    """

    def __init__(self, pool: nn.MaxPool3d) -> None:
        super().__init__()
        if not is_stem_pool(pool):
            raise ValueError("only MaxPool3d(3, stride=(1, 2, 2), padding=1)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = x.shape
        planes = F.max_pool2d(x.transpose(1, 2).reshape(n * d, c, h, w), 3, 2, 1)
        planes = planes.reshape(n, d, c, *planes.shape[-2:]).transpose(1, 2)
        padded = F.pad(planes, (0, 0, 0, 0, 1, 1), value=float("-inf"))
        return torch.maximum(torch.maximum(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])


def is_stem_pool(module: nn.Module) -> TypeGuard[nn.MaxPool3d]:
    """Whether ``module`` is the MP3D stem's MaxPool3d(3, stride (1, 2, 2), padding 1).

    Example:
        >>> is_stem_pool(nn.MaxPool3d(3, stride=(1, 2, 2), padding=1)), is_stem_pool(nn.MaxPool3d(2))
        (True, False)
    """
    def triple(value):
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * 3

    return (isinstance(module, nn.MaxPool3d) and triple(module.kernel_size) == (3, 3, 3)
            and triple(module.stride) == (1, 2, 2) and triple(module.padding) == (1, 1, 1)
            and triple(module.dilation) == (1, 1, 1) and not module.ceil_mode and not module.return_indices)


def rewrite_trunk(trunk: nn.Module) -> nn.Module:
    """Replace, in place, every slice convolution and stem max-pool of ``trunk`` by its 2D form.

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> trunk = rewrite_trunk(mp3d_trunk(width=8, blocks=(1, 1, 1, 1)))
        >>> type(trunk.maxpool).__name__, type(trunk.layer1[0].conv_t).__name__
        ('SeparableMaxPool', 'SliceConvAs2d')
    """
    for module in list(trunk.modules()):
        for name, child in list(module.named_children()):
            if is_slice_conv(child):
                setattr(module, name, SliceConvAs2d(child))
            elif is_stem_pool(child):
                setattr(module, name, SeparableMaxPool(child))
    return trunk
