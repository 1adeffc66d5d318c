"""Extra HU windows as input channels: the stem sees the slice in its own window and in narrower ones.

The detector's input is one window of HU (``hu_clip``, e.g. [-1000, 400] HU for the small real-CT
model), scaled to 0..255 and normalised by the pixel mean and std. A liver lesion 30 HU darker than
the liver is then about 5 of those 255 levels. Radiologists read the abdomen in a soft-tissue window
(W 400, L 40: [-160, 240] HU), and universal lesion detectors since MULAN (Yan et al., MICCAI 2019)
feed several windows as channels. :class:`InputWindows` computes such windows inside the network
from the normalised input (no change to the data pipeline, the model file's preprocessing or the
viewer): it undoes the normalisation to HU, clips to each window, rescales it to 0..255 and
normalises it the same way. A window inside ``hu_clip`` is exact; HU beyond ``hu_clip`` are not
in the input, so a window reaching past it sees them clipped.

Example:
    >>> import torch
    >>> windows = InputWindows([(-160, 240)], input_hu_clip=(-1000, 400))
    >>> hu = torch.tensor([-1000., -160., 40., 240., 400.])
    >>> x = windows.normalise(hu, (-1000, 400)).reshape(1, 1, 1, 1, 5)   # as the detector's input
    >>> out = windows(x)
    >>> tuple(out.shape)
    (1, 2, 1, 1, 5)
    >>> [round(v, 3) for v in windows.to_hu(out[0, 1].flatten(), (-160, 240)).tolist()]
    [-160.0, -160.0, 40.0, 240.0, 240.0]
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from lesionviewer.imaging.windowing import MP3D_MEAN, MP3D_STD


class InputWindows(nn.Module):
    """``(N, 1, ...)`` normalised input -> ``(N, 1 + K, ...)``: the input, then one channel per window.

    Args:
        windows: ``[(low, high), ...]`` HU, each ``high > low``.
        input_hu_clip: the HU range the input's 0..255 spans (the model's ``hu_clip``).
        pixel_mean, pixel_std: the input normalisation (the detector's).

    No parameters: a fixed function, the same in training, evaluation and the viewer.

    Example:
        >>> InputWindows([(-160, 240), (-1350, 150)], (-1024, 1050)).num_windows
        2
    """

    def __init__(self, windows: Sequence[Sequence[float]], input_hu_clip: Sequence[float],
                 pixel_mean: float = MP3D_MEAN, pixel_std: float = MP3D_STD) -> None:
        super().__init__()
        self.windows = [(float(low), float(high)) for low, high in windows]
        if not self.windows:
            raise ValueError("input_windows needs at least one [low, high] HU window")
        for low, high in self.windows:
            if not high > low:
                raise ValueError(f"an input window must be [low, high] HU with high > low, not [{low}, {high}]")
        low, high = (float(v) for v in input_hu_clip)
        if not high > low:
            raise ValueError(f"input_hu_clip must be [low, high] HU with high > low, not [{low}, {high}]")
        self.input_hu_clip = (low, high)
        self.pixel_mean, self.pixel_std = float(pixel_mean), float(pixel_std)

    @property
    def num_windows(self) -> int:
        """How many channels this adds.

        Example:
            >>> InputWindows([(-160, 240)], (-1000, 400)).num_windows
            1
        """
        return len(self.windows)

    def to_hu(self, x: torch.Tensor, hu_range: Sequence[float]) -> torch.Tensor:
        """Normalised values of a window spanning ``hu_range`` back to HU.

        Example:
            >>> w = InputWindows([(-160, 240)], (-1000, 400))
            >>> w.to_hu(torch.tensor([(0 - 123.675) / 58.395]), (-1000, 400)).tolist()
            [-1000.0]
        """
        low, high = hu_range
        return low + (x * self.pixel_std + self.pixel_mean) * ((high - low) / 255.0)

    def normalise(self, hu: torch.Tensor, hu_range: Sequence[float]) -> torch.Tensor:
        """HU clipped to ``hu_range``, scaled to 0..255 and normalised as the detector's input.

        Example:
            >>> w = InputWindows([(-160, 240)], (-1000, 400))
            >>> round(float(w.normalise(torch.tensor(240.), (-160, 240))), 4) == round((255 - 123.675) / 58.395, 4)
            True
        """
        low, high = hu_range
        scaled = (hu.clamp(low, high) - low) * (255.0 / (high - low))
        return (scaled - self.pixel_mean) / self.pixel_std

    def forward(self, x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        if x.shape[dim] != 1:
            raise ValueError(f"InputWindows expects one input channel on dim {dim}, got shape {tuple(x.shape)}")
        hu = self.to_hu(x.float(), self.input_hu_clip)
        channels = [x] + [self.normalise(hu, window).to(x.dtype) for window in self.windows]
        return torch.cat(channels, dim=dim)
