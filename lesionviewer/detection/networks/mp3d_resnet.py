"""The MP3D ResNet trunk: a ResNet-50 layout on (N, 1, D, H, W) stacks that never strides depth.

``ResNet3DTrunk`` is the shared skeleton (stem, four stages, optional depth pooling); the block
type decides the family: pseudo-3D (MP3D-63, this file), full 3x3x3 (MR3D, ``resnet3d.py``) or
A3D (``a3d.py``). The trunk returns the four stage outputs, still 5-D; a 3D-to-2D module
(``depth_to_2d.py``) turns each into a 2D map for the FPN.

Depth pooling (the paper's "isotropic pooling" ablation, plain P3D): after res2, res3 and res4
the depth is max-pooled with kernel 3, stride 2, padding 1, i.e. D -> ceil(D / 2):
9 -> 5 -> 3 -> 2 and 3 -> 2 -> 1 -> 1 (the paper's remark that a 3-slice input degenerates to one
slice after two pools holds; the reference's "9 -> 5 -> 3 -> 1" would need a different last pool).
A depth of 1 is left as it is.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from lesionviewer.detection.networks.input_windows import InputWindows
from lesionviewer.detection.networks.normalization import norm_layer as default_norm
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck, p3d_variant

RESNET50_BLOCKS = (3, 4, 6, 3)

BlockFactory = Callable[[int, int, int, int], nn.Module]
"""(inplanes, planes, stride, global_block_index) -> a bottleneck with expansion 4."""


def pooled_depth(depth: int) -> int:
    """Depth after one isotropic depth pool (kernel 3, stride 2, padding 1); 1 stays 1.

    Example:
        >>> [pooled_depth(d) for d in (9, 5, 3, 2, 1)]
        [5, 3, 2, 1, 1]
    """
    return depth if depth <= 1 else (depth - 1) // 2 + 1


class DepthPool(nn.Module):
    """Max-pool over depth only (kernel 3, stride 2, padding 1); a no-op on a single slice.

    Example:
        >>> DepthPool()(torch.zeros(1, 2, 9, 4, 4)).shape
        torch.Size([1, 2, 5, 4, 4])
    """

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool3d((3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.shape[2] <= 1 else self.pool(x)


class ResNet3DTrunk(nn.Module):
    """Stem + four bottleneck stages on (N, 1, D, H, W); returns the four stage outputs.

    Args:
        block: builds one bottleneck from (inplanes, planes, stride, global index).
        blocks: bottlenecks per stage (ResNet-50: 3, 4, 6, 3).
        width: planes of the first stage (64 for ResNet-50); later stages double it.
        depth_pooling: max-pool depth after res2, res3 and res4 (the isotropic-pooling ablation).
        stem_depth: depth of the 7x7 stem kernel (1 for MP3D).
        input_windows: extra HU windows the stem reads beside the input
            (:class:`~lesionviewer.detection.networks.input_windows.InputWindows`); None: the input alone.

    Example:
        >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1))
        >>> [tuple(f.shape) for f in trunk(torch.zeros(1, 1, 3, 64, 64))]
        [(1, 32, 3, 16, 16), (1, 64, 3, 8, 8), (1, 128, 3, 4, 4), (1, 256, 3, 2, 2)]
    """

    def __init__(self, block: BlockFactory, blocks: Sequence[int] = RESNET50_BLOCKS, width: int = 64,
                 depth_pooling: bool = False, stem_depth: int = 1,
                 norm: Callable[[int], nn.Module] = default_norm, expansion: int = 4,
                 input_windows: InputWindows | None = None):
        super().__init__()
        if len(blocks) != 4 or min(blocks) < 1:
            raise ValueError(f"blocks must be four positive counts, not {tuple(blocks)}")
        self.depth_pooling = depth_pooling
        self.input_windows = input_windows
        in_channels = 1 + (input_windows.num_windows if input_windows is not None else 0)
        self.conv1 = nn.Conv3d(in_channels, width, (stem_depth, 7, 7), stride=(1, 2, 2),
                               padding=(stem_depth // 2, 3, 3), bias=False)
        self.norm1 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        # a Module, not only MaxPool3d: rewrite_trunk swaps in its 2D form, a classifier may drop it (Identity)
        self.maxpool: nn.Module = nn.MaxPool3d(3, stride=(1, 2, 2), padding=1)
        inplanes, index = width, 0
        self.stage_channels: list[int] = []
        for stage, count in enumerate(blocks):
            planes = width * 2 ** stage
            layer = []
            for i in range(count):
                stride = 2 if (stage > 0 and i == 0) else 1
                layer.append(block(inplanes, planes, stride, index))
                inplanes, index = planes * expansion, index + 1
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layer))
            self.stage_channels.append(inplanes)
        self.depth_pool = DepthPool() if depth_pooling else None

    def stage_depths(self, num_slices: int) -> list[int]:
        """Depth of each of the four stage outputs for an input of ``num_slices`` slices.

        Example:
            >>> trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1), depth_pooling=True)
            >>> trunk.stage_depths(9)
            [9, 5, 3, 2]
        """
        depths = [num_slices]
        for _ in range(3):
            depths.append(pooled_depth(depths[-1]) if self.depth_pooling else depths[-1])
        return depths

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.input_windows is not None:
            x = self.input_windows(x)
        x = self.maxpool(self.relu(self.norm1(self.conv1(x))))
        outputs = []
        for stage in range(4):
            if stage > 0 and self.depth_pool is not None:
                x = self.depth_pool(x)
            x = getattr(self, f"layer{stage + 1}")(x)
            outputs.append(x)
        return outputs


def mp3d_trunk(width: int = 64, blocks: Sequence[int] = RESNET50_BLOCKS, depth_pooling: bool = False,
               norm: Callable[[int], nn.Module] = default_norm, stride_on: str = "conv1",
               input_windows: InputWindows | None = None) -> ResNet3DTrunk:
    """The MP3D ResNet trunk (MP3D-63 with the defaults): P3D blocks cycled A, B, C.

    ``input_windows`` adds HU-window channels before the stem (see ``input_windows.py``).

    Example:
        >>> trunk = mp3d_trunk()
        >>> trunk.stage_channels, trunk.layer1[1].variant, trunk.layer2[0].variant
        ([256, 512, 1024, 2048], 'B', 'A')
        >>> windowed = mp3d_trunk(width=8, blocks=(1, 1, 1, 1), input_windows=InputWindows([(-160, 240)], (-1000, 400)))
        >>> tuple(windowed.conv1.weight.shape), tuple(windowed(torch.zeros(1, 1, 3, 32, 32))[0].shape)
        ((8, 2, 1, 7, 7), (1, 32, 3, 8, 8))
    """
    def block(inplanes: int, planes: int, stride: int, index: int) -> nn.Module:
        return P3DBottleneck(inplanes, planes, stride, p3d_variant(index), norm, stride_on)

    return ResNet3DTrunk(block, blocks, width, depth_pooling, stem_depth=1, norm=norm, input_windows=input_windows)
