"""The backbone torchvision's FasterRCNN sees: context stack in, OrderedDict of FPN maps out."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool


class ContextBackboneWithFPN(nn.Module):
    """Trunk (on (N, 1, D, H, W)) -> per-stage 3D-to-2D modules -> torchvision FPN with P6.

    Takes the images as torchvision passes them, (N, D, H, W) with the D context slices as
    channels, and adds the singleton channel axis itself. ``out_channels`` is what FasterRCNN
    reads to size its heads. Output keys "0".."3" (strides 4..32) and "pool" (stride 64).

    Example:
        >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
        >>> from lesionviewer.detection.networks.depth_to_2d import CenterSlice
        >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1))
        >>> backbone = ContextBackboneWithFPN(trunk, [CenterSlice()] * 4, trunk.stage_channels, 32)
        >>> {k: tuple(v.shape) for k, v in backbone(torch.zeros(1, 3, 64, 64)).items()}
        {'0': (1, 32, 16, 16), '1': (1, 32, 8, 8), '2': (1, 32, 4, 4), '3': (1, 32, 2, 2), 'pool': (1, 32, 1, 1)}
    """

    def __init__(self, body: nn.Module, to_2d: Sequence[nn.Module], in_channels_list: Sequence[int],
                 out_channels: int = 256):
        super().__init__()
        self.body = body
        self.to_2d = nn.ModuleList(to_2d)
        self.fpn = FeaturePyramidNetwork(list(in_channels_list), out_channels,
                                         extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def features_2d(self, images: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """The four 2D stage maps before the FPN, keyed "0".."3".

        Example:
            >>> from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
            >>> from lesionviewer.detection.networks.depth_to_2d import CenterSlice
            >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1))
            >>> b = ContextBackboneWithFPN(trunk, [CenterSlice()] * 4, trunk.stage_channels, 32)
            >>> b.features_2d(torch.zeros(1, 3, 64, 64))["3"].shape
            torch.Size([1, 256, 2, 2])
        """
        if images.dim() != 4:
            raise ValueError(f"expected a batch of context stacks (N, D, H, W), got shape {tuple(images.shape)}")
        stages = self.body(images.unsqueeze(1))
        return OrderedDict((str(i), convert(f)) for i, (convert, f) in enumerate(zip(self.to_2d, stages)))

    def forward(self, images: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(self.features_2d(images))
