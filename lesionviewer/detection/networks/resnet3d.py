"""MR3D: the "modified ResNet3D-50" baseline - full 3x3x3 convolutions, MP3D's layout otherwise.

Same stem, stages, GroupNorm, spatial-only striding (on the first 1x1x1 conv) and 3D-to-2D
modules as MP3D-63; each bottleneck's S/T unit is one 3x3x3 conv with padding 1 (depth kept).
The stem stays 1x7x7 like MP3D's (the paper does not say; a 3x7x7 stem adds 6,272 parameters).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from lesionviewer.detection.networks.mp3d_resnet import RESNET50_BLOCKS, ResNet3DTrunk
from lesionviewer.detection.networks.normalization import norm_layer as default_norm
from lesionviewer.detection.networks.pseudo3d import projection_shortcut, split_stride


class Bottleneck3D(nn.Module):
    """1x1x1 -> 3x3x3 -> 1x1x1 bottleneck with a residual short-cut; output ``4 * planes``.

    Example:
        >>> Bottleneck3D(64, 16, stride=2)(torch.zeros(1, 64, 3, 8, 8)).shape
        torch.Size([1, 64, 3, 4, 4])
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1"):
        super().__init__()
        first, middle = split_stride(stride, stride_on)
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv3d(inplanes, planes, 1, stride=first, bias=False)
        self.norm1 = norm(planes)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=middle, padding=1, bias=False)
        self.norm2 = norm(planes)
        self.conv3 = nn.Conv3d(planes, outplanes, 1, bias=False)
        self.norm3 = norm(outplanes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection_shortcut(inplanes, outplanes, stride, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.relu(self.norm2(self.conv2(out)))
        out = self.norm3(self.conv3(out))
        return self.relu(out + identity)


def mr3d_trunk(width: int = 64, blocks: Sequence[int] = RESNET50_BLOCKS, depth_pooling: bool = False,
               norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1") -> ResNet3DTrunk:
    """The MR3D trunk (ResNet3D-50 with the defaults) on (N, 1, D, H, W).

    Example:
        >>> trunk = mr3d_trunk(width=8, blocks=(1, 1, 1, 1))
        >>> trunk(torch.zeros(1, 1, 5, 32, 32))[3].shape
        torch.Size([1, 256, 5, 1, 1])
    """
    def block(inplanes: int, planes: int, stride: int, index: int) -> nn.Module:
        return Bottleneck3D(inplanes, planes, stride, norm, stride_on)

    return ResNet3DTrunk(block, blocks, width, depth_pooling, stem_depth=1, norm=norm)
