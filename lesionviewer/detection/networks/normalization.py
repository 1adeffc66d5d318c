"""The normalisation used everywhere in the MP3D family: GroupNorm with 32 groups."""
from __future__ import annotations

import math

from torch import nn


def norm_layer(channels: int, groups: int = 32) -> nn.GroupNorm:
    """GroupNorm(32) over ``channels``; fewer groups when ``channels`` is not a multiple of 32.

    The reduced group count (the greatest common divisor) only matters for the small widths of
    ``mp3d_small`` and the tests; every full-size layer gets exactly 32 groups.

    Example:
        >>> norm_layer(256).num_groups, norm_layer(48).num_groups
        (32, 16)
    """
    return nn.GroupNorm(math.gcd(groups, channels), channels)


def no_norm(channels: int) -> nn.Identity:
    """A stand-in for :func:`norm_layer` that does nothing (used to compare conv trunks exactly).

    Example:
        >>> no_norm(8)
        Identity()
    """
    return nn.Identity()
