"""Backbones of the MP3D FPN family: pseudo-3D blocks, the 3D-to-2D modules, the baselines.

Every backbone here takes a batch of context stacks ``(N, D, H, W)`` and returns an
``OrderedDict`` of FPN maps, so torchvision's ``FasterRCNN`` can sit on top of any of them
(see :mod:`lesionviewer.detection.factory`).

Example:
    >>> from lesionviewer.detection.networks import norm_layer
    >>> norm_layer(64).num_groups
    32
"""
from lesionviewer.detection.networks.normalization import norm_layer

__all__ = ["norm_layer"]
