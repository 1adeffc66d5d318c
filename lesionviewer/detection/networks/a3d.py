"""The A3D context operator (asymmetric 3D context fusion) and an A3D ResNet-50 trunk.

A3D mixes the D slices of every input channel with its own learned D x D matrix (so each output
slice draws on every input slice with weights of its own: not translation-equivariant in depth),
then applies a 1 x k x k convolution to every slice alike. The matrix starts at the identity
plus U(-0.1, 0.1) noise, so a 2D-pretrained 1xkxk conv initially sees (almost) its own slice.

Our reading of "A3D as a backbone option": MP3D's ResNet-50 layout (GroupNorm, spatial-only
striding, GTM into the same FPN and heads) with each bottleneck's S/T unit replaced by one A3D
operator (A3D's mixing then the 1x3x3 conv); the 1x1x1 convs stay as they are. The matrices are
sized by D, so an A3D network is built for one number of slices.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from lesionviewer.detection.networks.mp3d_resnet import RESNET50_BLOCKS, ResNet3DTrunk
from lesionviewer.detection.networks.normalization import norm_layer as default_norm
from lesionviewer.detection.networks.pseudo3d import projection_shortcut, split_stride


class A3DConv(nn.Module):
    """Per-channel D x D slice mixing followed by a Conv3d with kernel (1, k, k).

    Example:
        >>> op = A3DConv(8, 16, depth=5, kernel_size=3)
        >>> op.mixing.shape, op(torch.zeros(1, 8, 5, 6, 6)).shape
        (torch.Size([8, 5, 5]), torch.Size([1, 16, 5, 6, 6]))
    """

    def __init__(self, in_channels: int, out_channels: int, depth: int, kernel_size: int = 3,
                 noise: float = 0.1, stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        self.depth = depth
        eye = torch.eye(depth).expand(in_channels, depth, depth)
        self.mixing = nn.Parameter(eye + torch.empty(in_channels, depth, depth).uniform_(-noise, noise))
        self.conv = nn.Conv3d(in_channels, out_channels, (1, kernel_size, kernel_size), stride=stride,
                              padding=(0, kernel_size // 2, kernel_size // 2), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.depth:
            raise ValueError(f"A3D operator built for {self.depth} slices, got {x.shape[2]}")
        mixed = torch.einsum("cij,ncjhw->ncihw", self.mixing, x)
        return self.conv(mixed)


class A3DBottleneck(nn.Module):
    """1x1x1 -> A3D(1x3x3) -> 1x1x1 bottleneck with a residual short-cut; output ``4 * planes``.

    Example:
        >>> A3DBottleneck(64, 16, depth=3)(torch.zeros(1, 64, 3, 8, 8)).shape
        torch.Size([1, 64, 3, 8, 8])
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, depth: int, stride: int = 1,
                 norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1"):
        super().__init__()
        first, middle = split_stride(stride, stride_on)
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv3d(inplanes, planes, 1, stride=first, bias=False)
        self.norm1 = norm(planes)
        self.conv2 = A3DConv(planes, planes, depth, stride=middle)
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


def a3d_trunk(num_slices: int, width: int = 64, blocks: Sequence[int] = RESNET50_BLOCKS,
              norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1") -> ResNet3DTrunk:
    """The A3D ResNet-50 trunk for stacks of ``num_slices`` slices.

    Example:
        >>> trunk = a3d_trunk(3, width=8, blocks=(1, 1, 1, 1))
        >>> trunk(torch.zeros(1, 1, 3, 32, 32))[0].shape
        torch.Size([1, 32, 3, 8, 8])
    """
    def block(inplanes: int, planes: int, stride: int, index: int) -> nn.Module:
        return A3DBottleneck(inplanes, planes, num_slices, stride, norm, stride_on)

    return ResNet3DTrunk(block, blocks, width, depth_pooling=False, stem_depth=1, norm=norm)
