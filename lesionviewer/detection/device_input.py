"""Device-side preprocessing: the volume goes to the device once (int16); every network input is made there.

Interpolating neighbours in z (the context stack or the context grid), clipping HU and scaling to
0..255, normalising, resizing and padding all run as batched tensor operations on the detector's
device, with no per-window numpy. The result equals what the network's own transform makes of the
context stacks :class:`~lesionviewer.imaging.context.ContextStacker` builds (tested): the mean and
std are one number for every slice, and bilinear resizing treats each slice alone, so slices can be
prepared once and shared by every window that holds them.

Example:
    >>> import numpy as np
    >>> from lesionviewer.detection.factory import build_detector
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32).eval()
    >>> dv = DeviceVolume(np.full((4, 40, 45), -1000, np.int16), "cpu")
    >>> slices = dv.blend(np.array([0, 1]), np.array([1, 1]), np.array([0.5, 0.0]))
    >>> x, size = network_slices(slices, net.transform, hu_clip=(-1024, 1050))
    >>> tuple(x.shape), size  # resized to the transform's 512 shorter side, padded to 32
    ((2, 512, 576), (512, 576))
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from lesionviewer.imaging.windowing import clip_and_scale_mp3d


class DeviceVolume:
    """A ``(Z, H, W)`` volume held on ``device`` in its own integer type (int16 CT: half of float32).

    Example:
        >>> import numpy as np
        >>> DeviceVolume(np.zeros((3, 4, 4), np.int16), "cpu").hu.dtype
        torch.int16
    """

    def __init__(self, hu, device: str | torch.device) -> None:
        array = hu if isinstance(hu, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(hu))
        self.hu = array.to(device)
        self.device = self.hu.device
        self._mirror: DeviceVolume | None = None

    def mirror(self) -> "DeviceVolume":
        """The volume mirrored left-right (``x -> W - 1 - x``) on the same device, made on the first call and kept.

        Test-time flipping reads it; an ensemble's members read one volume (and one mirror) instead of
        copying the series again for every member and every block of slices.

        Example:
            >>> import numpy as np
            >>> dv = DeviceVolume(np.arange(3, dtype=np.int16).reshape(1, 1, 3), "cpu")
            >>> dv.mirror().hu.tolist(), dv.mirror() is dv.mirror()
            ([[[2, 1, 0]]], True)
        """
        if self._mirror is None:
            self._mirror = DeviceVolume(self.hu.flip(-1), self.device)
        return self._mirror

    @property
    def num_slices(self) -> int:
        """Slices in the volume.

        Example:
            >>> import numpy as np
            >>> DeviceVolume(np.zeros((3, 4, 4), np.int16), "cpu").num_slices
            3
        """
        return int(self.hu.shape[0])

    def blend(self, lower, upper, weight) -> torch.Tensor:
        """Float32 HU slices ``(1 - w) * hu[lower] + w * hu[upper]`` for arrays of sample points.

        Computed as ``a + w * (b - a)`` like the CPU context stack, so a weight of 0 or 1 gives the
        stored slice exactly.

        Example:
            >>> import numpy as np
            >>> dv = DeviceVolume(np.arange(3, dtype=np.int16)[:, None, None] * np.ones((3, 1, 2), np.int16), "cpu")
            >>> dv.blend(np.array([0, 1]), np.array([1, 2]), np.array([0.25, 1.0]))[:, 0, 0].tolist()
            [0.25, 2.0]
        """
        lo = torch.as_tensor(np.asarray(lower, dtype=np.int64), device=self.device)
        hi = torch.as_tensor(np.asarray(upper, dtype=np.int64), device=self.device)
        w = torch.as_tensor(np.asarray(weight, dtype=np.float32), device=self.device)
        a = self.hu.index_select(0, lo).float()
        if not bool((w != 0).any()):
            return a
        b = self.hu.index_select(0, hi).float()
        return a + w[:, None, None] * (b - a)


def network_slices(slices_hu: torch.Tensor, transform, hu_clip: tuple[float, float]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Slices in HU -> the network's input slices: clip and scale, normalise, resize, pad.

    ``transform`` is the detector's ``GeneralizedRCNNTransform`` (its mean and std must be one value
    for every slice, as a model card makes them). Returns the ``(n, H', W')`` padded slices and the
    resized ``(height, width)`` before padding (the image size the heads and ``postprocess`` need).

    Example:
        >>> from types import SimpleNamespace
        >>> import torch
        >>> from torchvision.models.detection.transform import GeneralizedRCNNTransform
        >>> t = GeneralizedRCNNTransform(64, 128, [127.5], [127.5])
        >>> x, size = network_slices(torch.full((1, 32, 40), 13.0), t, (-1024, 1050))
        >>> tuple(x.shape), size, round(float(x[0, 0, 0]), 3), float(x[0, -1, -1])
        ((1, 64, 96), (64, 80), 0.0, 0.0)
    """
    low, high = hu_clip
    scaled = clip_and_scale_mp3d(slices_hu, low, high)
    mean, std = _one_value(transform.image_mean, "mean"), _one_value(transform.image_std, "std")
    normalised = (scaled - mean) / std
    resized, _ = transform.resize(normalised, None)
    height, width = int(resized.shape[-2]), int(resized.shape[-1])
    divisible = int(transform.size_divisible)
    pad_h = (-height) % divisible
    pad_w = (-width) % divisible
    if pad_h or pad_w:
        resized = F.pad(resized, (0, pad_w, 0, pad_h))
    return resized, (height, width)


def _one_value(values, what: str) -> float:
    numbers = {float(v) for v in values}
    if len(numbers) != 1:
        raise ValueError(f"device preprocessing needs one {what} for every slice, got {sorted(numbers)}")
    return numbers.pop()
