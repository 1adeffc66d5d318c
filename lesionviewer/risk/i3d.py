"""I3D: Inception-v1 (GoogLeNet) inflated to 3D, reading a whole preprocessed CT volume, giving one logit.

The layout mirrors ``torchvision.models.googlenet`` module by module and name by name (``conv1``,
``conv2``, ``conv3``, ``inception3a`` ... ``inception5b``, each branch as torchvision names it), so
a 2D GoogLeNet state dict maps onto this network by inflating each tensor in place
(:mod:`lesionviewer.risk.inflation`). Choices, following Carreira & Zisserman where they apply:

* Every k x k filter becomes k x k x k (the 7 x 7 stem a 7 x 7 x 7). A CT volume resampled to
  isotropic voxels has no "time" axis: depth is a third spatial axis, so every stride and pool acts
  on it as on height and width (I3D's video-specific "no temporal pooling in the first two pools"
  does not apply).
* Depth padding of convolutions repeats the edge slice instead of adding zeros. With that, a
  volume that is constant over depth gives, at every depth position, exactly the 2D network's
  response on its slice (the test of the inflation); zero padding would make the first and last
  positions differ. Height and width are zero padded, as in 2D.
* One input channel: the volume is grey, so the stem's RGB filters are summed into one (a grey
  image repeated as RGB gives the same response).
* The 1000-class ``fc`` becomes dropout + ``Linear(1024 * width, 1)``: one logit, the risk.
* ``width`` scales every channel count (0.125 gives a network of ~100 k parameters for CPU tests
  and the demo); only ``width=1`` takes 2D GoogLeNet weights.
* ``norm="batch"`` (the default, GoogLeNet's BatchNorm, needed for 2D weights) or ``"group"``
  (GroupNorm, at least 4 channels per group). BatchNorm statistics over a micro-batch of two
  volumes, at the deepest stages where a small crop leaves one or two positions, differ between
  training and evaluation so much that a small I3D on CPU-sized crops does not learn; GroupNorm
  does not depend on the batch (docs/risk.md has the measurements).

Example:
    >>> net = InceptionI3D(width=0.125).eval()
    >>> net(torch.zeros(2, 1, 16, 32, 32)).shape
    torch.Size([2])
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lesionviewer.risk.mp3d_classifier import global_pool

#: torchvision GoogLeNet's inception blocks: (in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj).
INCEPTION_BLOCKS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def scaled(channels: int, width: float) -> int:
    """A channel count times ``width``, at least 1.

    Example:
        >>> scaled(192, 0.125), scaled(16, 0.03)
        (24, 1)
    """
    return max(1, int(round(channels * width)))


NORMS = ("batch", "group")


def group_count(channels: int, most: int = 32, min_per_group: int = 4) -> int:
    """Groups for GroupNorm over ``channels``: a power of two dividing it, at most ``most``, with
    at least ``min_per_group`` channels each (one group when the layer is narrower).

    Example:
        >>> group_count(256), group_count(24), group_count(6), group_count(2)
        (32, 4, 1, 1)
    """
    groups = math.gcd(most, channels)
    while groups > 1 and channels // groups < min_per_group:
        groups //= 2
    return groups


def norm_layer(channels: int, norm: str) -> nn.Module:
    """BatchNorm3d (eps 0.001, as torchvision's GoogLeNet) or GroupNorm (:func:`group_count` groups).

    Example:
        >>> type(norm_layer(8, "batch")).__name__, norm_layer(8, "group").num_groups
        ('BatchNorm3d', 2)
    """
    if norm == "batch":
        return nn.BatchNorm3d(channels, eps=0.001)
    if norm == "group":
        return nn.GroupNorm(group_count(channels), channels, eps=0.001)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")


class BasicConv3d(nn.Module):
    """Conv3d (no bias) + normalisation (``bn``: BatchNorm, or GroupNorm) + ReLU; depth edge-padded.

    Example:
        >>> BasicConv3d(1, 4, kernel_size=3, padding=1)(torch.zeros(1, 1, 5, 8, 8)).shape
        torch.Size([1, 4, 5, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 norm: str = "batch"):
        super().__init__()
        self.depth_padding = padding
        self.conv = nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=(0, padding, padding), bias=False)
        self.bn = norm_layer(out_channels, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.depth_padding:
            p = self.depth_padding
            x = F.pad(x, (0, 0, 0, 0, p, p), mode="replicate")
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception3D(nn.Module):
    """One inflated inception block: 1x1, 1x1 -> 3x3, 1x1 -> 3x3, pool -> 1x1, concatenated.

    (torchvision's GoogLeNet uses 3x3 where the paper drew 5x5 in the third branch; we follow
    torchvision so that its weights fit.)

    Example:
        >>> Inception3D(8, 2, 2, 4, 2, 2, 2)(torch.zeros(1, 8, 3, 4, 4)).shape
        torch.Size([1, 10, 3, 4, 4])
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, norm: str = "batch"):
        super().__init__()
        self.branch1 = BasicConv3d(in_channels, ch1x1, kernel_size=1, norm=norm)
        self.branch2 = nn.Sequential(BasicConv3d(in_channels, ch3x3red, kernel_size=1, norm=norm),
                                     BasicConv3d(ch3x3red, ch3x3, kernel_size=3, padding=1, norm=norm))
        self.branch3 = nn.Sequential(BasicConv3d(in_channels, ch5x5red, kernel_size=1, norm=norm),
                                     BasicConv3d(ch5x5red, ch5x5, kernel_size=3, padding=1, norm=norm))
        self.branch4 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv3d(in_channels, pool_proj, kernel_size=1, norm=norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionI3D(nn.Module):
    """The inflated Inception-v1 classifier: (N, 1, D, H, W) normalised volume -> (N,) logits.

    ``width`` scales the channels; ``dropout`` is applied before the final linear layer (the
    ``lungs`` package kept 70 %, i.e. dropout 0.3); ``norm`` "batch" or "group"; ``pool`` "avg"
    (I3D's) or "max". :meth:`features` gives the pooled vector.

    Example:
        >>> net = InceptionI3D(width=0.125)
        >>> net.num_features, sum(p.numel() for p in net.parameters()) < 200_000
        (128, True)
    """

    def __init__(self, width: float = 1.0, dropout: float = 0.3, norm: str = "batch", pool: str = "avg"):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be positive, not {width!r}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {norm!r}")
        self.width = float(width)
        self.norm = norm
        s = lambda c: scaled(c, width)  # noqa: E731 - a local shorthand keeps the table readable
        self.conv1 = BasicConv3d(1, s(64), kernel_size=7, stride=2, padding=3, norm=norm)
        self.maxpool1 = nn.MaxPool3d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv3d(s(64), s(64), kernel_size=1, norm=norm)
        self.conv3 = BasicConv3d(s(64), s(192), kernel_size=3, padding=1, norm=norm)
        self.maxpool2 = nn.MaxPool3d(3, stride=2, ceil_mode=True)
        blocks: dict[str, Inception3D] = {}
        for name, (cin, c1, c3_reduce, c3, c5_reduce, c5, pool_proj) in INCEPTION_BLOCKS.items():
            blocks[name] = Inception3D(s(cin) if name == "inception3a" else _block_out(blocks, name, width),
                                       s(c1), s(c3_reduce), s(c3), s(c5_reduce), s(c5), s(pool_proj), norm=norm)
        self.inception3a, self.inception3b = blocks["inception3a"], blocks["inception3b"]
        self.maxpool3 = nn.MaxPool3d(3, stride=2, ceil_mode=True)
        self.inception4a, self.inception4b = blocks["inception4a"], blocks["inception4b"]
        self.inception4c, self.inception4d = blocks["inception4c"], blocks["inception4d"]
        self.inception4e = blocks["inception4e"]
        self.maxpool4 = nn.MaxPool3d(2, stride=2, ceil_mode=True)
        self.inception5a, self.inception5b = blocks["inception5a"], blocks["inception5b"]
        self.avgpool = global_pool(pool)  # the name is torchvision's; "max" makes it a max pool
        self.dropout = nn.Dropout(dropout)
        self.num_features = _block_out(blocks, None, width)
        self.fc = nn.Linear(self.num_features, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector (N, num_features) before dropout and the final layer.

        Example:
            >>> InceptionI3D(width=0.125).eval().features(torch.zeros(1, 1, 16, 32, 32)).shape
            torch.Size([1, 128])
        """
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(f"expected volumes shaped (N, 1, D, H, W), got {tuple(x.shape)}")
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            x = getattr(self, name)(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x))).squeeze(1)


def _block_out(blocks: dict, name: str | None, width: float) -> int:
    """Output channels of the block before ``name`` (or of the last block, for ``None``)."""
    names = list(INCEPTION_BLOCKS)
    previous = names[-1] if name is None else names[names.index(name) - 1]
    _, c1, _, c3, _, c5, pool = INCEPTION_BLOCKS[previous]
    return sum(scaled(c, width) for c in (c1, c3, c5, pool))
