"""The pseudo-3D (P3D) bottleneck of MP3D-63: 1x3x3 "spatial" and 3x1x1 "slice" convolutions.

Variants (Qiu et al., P3D ResNet), with S and T each followed by GroupNorm and ReLU:

* ``"A"``: T(S(x)) - serial;
* ``"B"``: S(x) + T(x) - parallel;
* ``"C"``: S(x) + T(S(x)) - serial with a spatial short-cut.

MP3D cycles them by the block's global index, ``"ABC"[i % 3]``. Depth is never strided or
pooled, so a stack of D slices keeps D positions through the whole block.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lesionviewer.detection.networks.normalization import norm_layer as default_norm

P3D_VARIANTS = "ABC"


def p3d_variant(block_index: int) -> str:
    """The P3D variant of the block with this global index (0-based over all stages).

    Example:
        >>> "".join(p3d_variant(i) for i in range(7))
        'ABCABCA'
    """
    return P3D_VARIANTS[block_index % 3]


STRIDE_PLACEMENTS = ("conv1", "spatial")


def split_stride(stride: int, stride_on: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The (first 1x1x1 conv, spatial conv) strides of a bottleneck; depth is never strided.

    Example:
        >>> split_stride(2, "conv1"), split_stride(2, "spatial")
        (((1, 2, 2), (1, 1, 1)), ((1, 1, 1), (1, 2, 2)))
    """
    if stride_on not in STRIDE_PLACEMENTS:
        raise ValueError(f"stride_on must be 'conv1' or 'spatial', not {stride_on!r}")
    strided, plain = (1, stride, stride), (1, 1, 1)
    return (strided, plain) if stride_on == "conv1" else (plain, strided)


def projection_shortcut(inplanes: int, outplanes: int, stride: int,
                        norm: Callable[[int], nn.Module]) -> nn.Module | None:
    """The 1x1x1 projection (with spatial stride) used when a block changes shape, else None.

    Example:
        >>> projection_shortcut(64, 64, 1, lambda c: nn.Identity()) is None
        True
    """
    if stride == 1 and inplanes == outplanes:
        return None
    return nn.Sequential(
        nn.Conv3d(inplanes, outplanes, 1, stride=(1, stride, stride), bias=False), norm(outplanes))


class P3DBottleneck(nn.Module):
    """1x1x1 -> S/T unit -> 1x1x1 bottleneck with a residual short-cut; output ``4 * planes``.

    The spatial stride sits on the first 1x1x1 conv (and on the short-cut), as in MP3D
    (``stride_on="conv1"``). ``stride_on="spatial"`` moves it onto the S and T convs instead,
    torchvision's ResNet-50 placement, so ImageNet weights can be matched exactly.

    Example:
        >>> block = P3DBottleneck(64, 16, stride=2, variant="C")
        >>> block(torch.zeros(1, 64, 5, 8, 8)).shape
        torch.Size([1, 64, 5, 4, 4])
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, variant: str = "A",
                 norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1"):
        super().__init__()
        if variant not in P3D_VARIANTS:
            raise ValueError(f"P3D variant must be one of A, B, C, not {variant!r}")
        first, middle = split_stride(stride, stride_on)
        self.variant = variant
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv3d(inplanes, planes, 1, stride=first, bias=False)
        self.norm1 = norm(planes)
        self.conv_s = nn.Conv3d(planes, planes, (1, 3, 3), stride=middle, padding=(0, 1, 1), bias=False)
        self.norm_s = norm(planes)
        # in P3D-B, T sees the block input in parallel with S, so it must stride alike
        t_stride = middle if variant == "B" else 1
        self.conv_t = nn.Conv3d(planes, planes, (3, 1, 1), stride=t_stride, padding=(1, 0, 0), bias=False)
        self.norm_t = norm(planes)
        self.conv3 = nn.Conv3d(planes, outplanes, 1, bias=False)
        self.norm3 = norm(outplanes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection_shortcut(inplanes, outplanes, stride, norm)

    def spatial(self, x: torch.Tensor) -> torch.Tensor:
        """S: the 1x3x3 conv, norm and ReLU (applied to every slice alike).

        Example:
            >>> P3DBottleneck(32, 8).spatial(torch.zeros(1, 8, 3, 4, 4)).shape
            torch.Size([1, 8, 3, 4, 4])
        """
        return self.relu(self.norm_s(self.conv_s(x)))

    def across_slices(self, x: torch.Tensor) -> torch.Tensor:
        """T: the 3x1x1 conv across neighbouring slices, norm and ReLU.

        Example:
            >>> P3DBottleneck(32, 8).across_slices(torch.zeros(1, 8, 3, 4, 4)).shape
            torch.Size([1, 8, 3, 4, 4])
        """
        return self.relu(self.norm_t(self.conv_t(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.norm1(self.conv1(x)))
        if self.variant == "A":
            out = self.across_slices(self.spatial(out))
        elif self.variant == "B":
            out = self.spatial(out) + self.across_slices(out)
        else:
            spatial = self.spatial(out)
            out = spatial + self.across_slices(spatial)
        out = self.norm3(self.conv3(out))
        return self.relu(out + identity)
