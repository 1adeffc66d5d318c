"""The thesis's idea as a second risk backbone: the MP3D (pseudo-3D ResNet) trunk with a pooling head.

The trunk is the detector's own (:func:`lesionviewer.detection.networks.mp3d_resnet.mp3d_trunk`),
so a detector or a pre-training checkpoint initialises it tensor for tensor (``backbone.body.*``
in a detector's state dict). The head is global average pooling over depth, height and width,
dropout and one linear unit. Depth pooling after res2-res4 is on by default: a whole-volume
crop has tens of slices, not the detector's 9, and the isotropic-pooling variant keeps the cost
in proportion.

Example:
    >>> net = MP3DClassifier(width=8, blocks=(1, 1, 1, 1)).eval()
    >>> net(torch.zeros(2, 1, 8, 32, 32)).shape
    torch.Size([2])
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import torch
from torch import nn

from lesionviewer.detection.initialization import InitReport, read_state_dict
from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk

DETECTOR_TRUNK_PREFIX = "backbone.body."


def global_pool(kind: str) -> nn.Module:
    """``AdaptiveAvgPool3d(1)`` for ``"avg"``, ``AdaptiveMaxPool3d(1)`` for ``"max"``.

    Example:
        >>> global_pool("max")(torch.arange(8.0).reshape(1, 1, 2, 2, 2)).item()
        7.0
    """
    if kind == "avg":
        return nn.AdaptiveAvgPool3d(1)
    if kind == "max":
        return nn.AdaptiveMaxPool3d(1)
    raise ValueError(f"pool must be 'avg' or 'max', not {kind!r}")


class MP3DClassifier(nn.Module):
    """MP3D trunk -> global pool -> dropout -> Linear(C, 1): one logit per volume.

    ``pool="avg"`` (default) averages the last stage over depth, height and width; ``"max"``
    takes each channel's maximum (a finding anywhere in the volume counts fully, as in
    multiple-instance learning).

    ``stem_pool=False`` drops the stem's in-plane max-pooling: the detector's stem shrinks rows and
    columns 4x but keeps the slices (its inputs are 9 thin slices of 0.8 mm pixels); on a coarse
    isotropic crop (5 mm voxels) that leaves 20 mm in-plane steps against 5 mm in depth. Without the
    pooling every stage has twice the rows and columns (about 2.3x the computation); the weights
    are the same tensors, so a detector still initialises it. On the phantom risk task it learnt
    more slowly than the pooled network (docs/risk.md), so no shipped config uses it.

    Example:
        >>> MP3DClassifier(width=8, blocks=(1, 1, 1, 1)).num_features
        256
        >>> type(MP3DClassifier(width=8, blocks=(1, 1, 1, 1), pool="max").pool).__name__
        'AdaptiveMaxPool3d'
        >>> fine = MP3DClassifier(width=8, blocks=(1, 1, 1, 1), stem_pool=False)
        >>> fine.trunk(torch.zeros(1, 1, 8, 32, 32))[0].shape[-2:]
        torch.Size([16, 16])
    """

    def __init__(self, width: int = 16, blocks: Sequence[int] = (2, 2, 3, 2), depth_pooling: bool = True,
                 dropout: float = 0.3, pool: str = "avg", stem_pool: bool = True):
        super().__init__()
        self.trunk = mp3d_trunk(int(width), tuple(blocks), depth_pooling)
        if not stem_pool:
            self.trunk.maxpool = nn.Identity()
        self.num_features = self.trunk.stage_channels[-1]
        self.pool = global_pool(pool)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.num_features, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled last-stage features (N, num_features).

        Example:
            >>> MP3DClassifier(width=8, blocks=(1, 1, 1, 1)).eval().features(torch.zeros(1, 1, 4, 32, 32)).shape
            torch.Size([1, 256])
        """
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(f"expected volumes shaped (N, 1, D, H, W), got {tuple(x.shape)}")
        return torch.flatten(self.pool(self.trunk(x)[-1]), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.features(x))).squeeze(1)


def load_detector_trunk(model: MP3DClassifier, source: str | os.PathLike | Mapping[str, torch.Tensor]) -> InitReport:
    """Copy the trunk of a detector / pre-training checkpoint (file or state dict) into ``model``.

    Tensors whose shape differs (another width) are skipped and listed; the head keeps its start.

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> det = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
        >>> report = load_detector_trunk(MP3DClassifier(width=8, blocks=(1, 1, 1, 1)), det.state_dict())
        >>> report.missing, len(report.loaded) > 20
        ([], True)
    """
    state = read_state_dict(source)
    trunk_state = {k[len(DETECTOR_TRUNK_PREFIX):]: v for k, v in state.items() if k.startswith(DETECTOR_TRUNK_PREFIX)}
    if not trunk_state:
        raise ValueError(f"{source if not isinstance(source, Mapping) else 'state dict'}: no detector trunk "
                         f"({DETECTOR_TRUNK_PREFIX}*) in it")
    target = model.trunk.state_dict()
    report, new_state = InitReport(), {}
    for name, tensor in target.items():
        if name not in trunk_state:
            report.missing.append(name)
        elif trunk_state[name].shape != tensor.shape:
            report.skipped.append(name)
        else:
            new_state[name] = trunk_state[name]
            report.loaded.append(name)
    model.trunk.load_state_dict(new_state, strict=False)
    return report
