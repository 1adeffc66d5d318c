"""FPN+3DCE: 3D context by late fusion - one shared 2D ResNet-50 over M three-slice images.

The D = 3M slices are cut into M consecutive three-slice "RGB" images, each goes through the same
torchvision ResNet-50 trunk, and at every FPN level the M feature maps are concatenated and
reduced back to the level's channel count C with a 1x1 conv (:class:`LateFusion`, C*M -> C,
no bias), so the FPN and heads are exactly MP3D's.

Normalisation: GroupNorm(32) by default, as MP3D (the paper re-implements 3DCE "with the same
configuration"; GN also trains with two images per GPU). ``norm="frozen_bn"`` uses torchvision's
FrozenBatchNorm2d instead, to use ImageNet BatchNorm statistics unchanged.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet
from torchvision.ops.misc import FrozenBatchNorm2d

from lesionviewer.detection.networks.mp3d_resnet import RESNET50_BLOCKS
from lesionviewer.detection.networks.normalization import norm_layer as default_norm

SLICES_PER_IMAGE = 3


class SharedTrunk2D(nn.Module):
    """Runs a torchvision ResNet trunk on each three-slice image of (N, 1, 3M, H, W).

    Returns the four stage outputs as (N, C, M, h, w): the M images take the place of depth.

    Example:
        >>> trunk = SharedTrunk2D(blocks=(1, 1, 1, 1))
        >>> [tuple(f.shape) for f in trunk(torch.zeros(2, 1, 6, 64, 64))][0]
        (2, 256, 2, 16, 16)
    """

    def __init__(self, blocks: Sequence[int] = RESNET50_BLOCKS, width: int = 64,
                 norm: Callable[[int], nn.Module] = default_norm):
        super().__init__()
        resnet = ResNet(Bottleneck, list(blocks), width_per_group=width, norm_layer=norm)
        del resnet.fc, resnet.avgpool  # the detector needs the stages only
        self.resnet = resnet
        self.stage_channels = [256, 512, 1024, 2048]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        n, _, d, h, w = x.shape
        if d % SLICES_PER_IMAGE:
            raise ValueError(f"FPN+3DCE needs a multiple of 3 slices, got {d}")
        m = d // SLICES_PER_IMAGE
        r = self.resnet
        y = r.maxpool(r.relu(r.bn1(r.conv1(x.reshape(n * m, SLICES_PER_IMAGE, h, w)))))
        outputs = []
        for layer in (r.layer1, r.layer2, r.layer3, r.layer4):
            y = layer(y)
            c, fh, fw = y.shape[1:]
            outputs.append(y.reshape(n, m, c, fh, fw).transpose(1, 2))
        return outputs


class LateFusion(nn.Module):
    """Concatenate the M images' maps of one level and reduce C*M -> C with a 1x1 conv.

    With one image (3 slices) there is nothing to fuse: the map passes through unchanged,
    which makes FPN+3DCE with 3 slices a plain 2D ResNet-50 FPN.

    Example:
        >>> LateFusion(8, 3)(torch.zeros(1, 8, 3, 4, 4)).shape
        torch.Size([1, 8, 4, 4])
        >>> LateFusion(8, 1).conv is None
        True
    """

    def __init__(self, channels: int, images: int):
        super().__init__()
        self.images = images
        self.conv = nn.Conv2d(channels * images, channels, 1, bias=False) if images > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, m, h, w = x.shape
        if m != self.images:
            raise ValueError(f"late fusion built for {self.images} images, got {m}")
        if self.conv is None:
            return x[:, :, 0]
        return self.conv(x.reshape(n, c * m, h, w))


def fpn3dce_norm(name: str) -> Callable[[int], nn.Module]:
    """The 2D normalisation of the 3DCE trunk: "gn" (GroupNorm 32) or "frozen_bn".

    Example:
        >>> type(fpn3dce_norm("frozen_bn")(64)).__name__
        'FrozenBatchNorm2d'
    """
    if name == "gn":
        return default_norm
    if name == "frozen_bn":
        return FrozenBatchNorm2d
    if name == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"FPN+3DCE norm must be 'gn', 'frozen_bn' or 'none', not {name!r}")
