"""Turning a 3D stage output (N, C, D, H, W) into the 2D map (N, C, H, W) the FPN needs.

* :class:`GroupTransform` - MP3D's group transform module (GTM): each channel mixes its own D
  depth positions with D learned weights (a grouped 1x1 Conv2d, ``groups=C``).
* :class:`CenterSlice` - the CTM ablation: keep the centre slice ``D // 2``.
* :class:`DepthConv` - a Conv3d with kernel (D, 1, 1) over all channels (a dense alternative).
"""
from __future__ import annotations

import torch
from torch import nn

DEPTH_TO_2D = ("gtm", "ctm", "conv3d")


class GroupTransform(nn.Module):
    """GTM: view (N, C, D, H, W) as (N, C*D, H, W), then Conv2d(C*D -> C, 1x1, groups=C, no bias).

    Example:
        >>> gtm = GroupTransform(4, 3)
        >>> gtm.conv.weight.shape
        torch.Size([4, 3, 1, 1])
        >>> gtm(torch.zeros(2, 4, 3, 5, 5)).shape
        torch.Size([2, 4, 5, 5])
    """

    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.channels, self.depth = channels, depth
        self.conv = nn.Conv2d(channels * depth, channels, 1, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = x.shape
        if (c, d) != (self.channels, self.depth):
            raise ValueError(f"GTM built for {self.channels} channels x {self.depth} slices, "
                             f"got {c} x {d}")
        return self.conv(x.reshape(n, c * d, h, w))


class CenterSlice(nn.Module):
    """CTM: the features of the centre slice ``D // 2`` (no parameters).

    Example:
        >>> x = torch.arange(5.).view(1, 1, 5, 1, 1)
        >>> CenterSlice()(x).flatten().tolist()
        [2.0]
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, x.shape[2] // 2]


class DepthConv(nn.Module):
    """A Conv3d(C -> C, kernel (D, 1, 1), no bias) collapsing the D positions to one.

    Example:
        >>> DepthConv(4, 3)(torch.zeros(1, 4, 3, 2, 2)).shape
        torch.Size([1, 4, 2, 2])
    """

    def __init__(self, channels: int, depth: int):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (depth, 1, 1), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).squeeze(2)


def depth_to_2d(kind: str, channels: int, depth: int) -> nn.Module:
    """Build the 3D-to-2D module named ``kind`` ("gtm", "ctm" or "conv3d").

    Example:
        >>> type(depth_to_2d("ctm", 256, 9)).__name__
        'CenterSlice'
    """
    if kind == "gtm":
        return GroupTransform(channels, depth)
    if kind == "ctm":
        return CenterSlice()
    if kind == "conv3d":
        return DepthConv(channels, depth)
    raise ValueError(f"unknown 3D-to-2D module {kind!r}; choose one of {', '.join(DEPTH_TO_2D)}")
