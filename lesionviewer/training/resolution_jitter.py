"""Training augmentation of in-plane resolution: real anatomy as a coarse scan shows it.

Real training hosts are fine scans (0.7-1 mm pixels), but series reach a viewer at 1.5-3 mm pixels
too (low-dose, pediatric protocols, data resampled to isotropic 3 mm for research). The training
zoom (``ZoomCrop``) brings every stack to 0.6-1.0 mm pixels, so a coarse series arrives at the network
upsampled and soft: until now only the phantoms (2.5-3.9 mm pixels) looked like that, and their
lesions are eight times more conspicuous than real ones.

``ResolutionJitter`` draws, with probability ``probability`` and per sample, a coarser pixel size in
``pixel_mm_range`` and averages the stack down to it (area averaging, as a detector element
integrates); the zoom that follows brings it back to the network's scale. The boxes are scaled with the
stack. A lesion must stay at least ``min_lesion_px`` coarse pixels long on its shorter side, so the
coarse size is capped by the smallest box; a stack whose pixels are already as coarse, or whose
smallest lesion would fall below that, is left alone. Nothing is drawn when ``probability`` is 0.

Example:
    >>> import numpy as np
    >>> jitter = ResolutionJitter(probability=1.0, pixel_mm_range=(2.0, 2.0))
    >>> stack = np.zeros((1, 8, 8), np.float32); stack[0, :4] = 100.0
    >>> out, boxes, pixel_mm = jitter(stack, np.array([[0.0, 0.0, 8.0, 8.0]]), 1.0, np.random.default_rng(0))
    >>> out.shape, boxes.tolist(), pixel_mm, out[0, :, 0].tolist()
    ((1, 4, 4), [[0.0, 0.0, 4.0, 4.0]], 2.0, [100.0, 100.0, 0.0, 0.0])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ResolutionJitter:
    """Average a ``(D, H, W)`` stack down to a random coarser pixel size, boxes with it.

    Example:
        >>> import numpy as np
        >>> jitter = ResolutionJitter(probability=1.0, pixel_mm_range=(3.0, 3.0), min_lesion_px=4.0)
        >>> stack = np.zeros((1, 30, 30), np.float32)
        >>> _, boxes, pixel_mm = jitter(stack, np.array([[0.0, 0.0, 6.0, 6.0]]), 1.0, np.random.default_rng(0))
        >>> pixel_mm, boxes.tolist()  # a 6 mm lesion caps the coarse pixel at 6 / 4 = 1.5 mm
        (1.5, [[0.0, 0.0, 4.0, 4.0]])
    """

    probability: float = 0.0
    pixel_mm_range: tuple[float, float] = (1.5, 3.5)
    min_lesion_px: float = 4.0

    @property
    def active(self) -> bool:
        """True when the stack can be changed at all.

        Example:
            >>> ResolutionJitter().active, ResolutionJitter(probability=0.3).active
            (False, True)
        """
        return self.probability > 0

    def __call__(self, stack: np.ndarray, boxes: np.ndarray, pixel_mm: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
        """``(stack, boxes, pixel_mm)`` after the jitter: unchanged (the same objects) when not drawn.

        Example:
            >>> import numpy as np
            >>> stack = np.ones((2, 10, 10), np.float32)
            >>> out, _, mm = ResolutionJitter(probability=1.0, pixel_mm_range=(0.5, 0.8))(
            ...     stack, np.zeros((0, 4)), 1.0, np.random.default_rng(0))
            >>> out is stack, mm  # the pixels are already coarser than the range
            (True, 1.0)
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not self.active or rng.random() >= self.probability or pixel_mm <= 0:
            return stack, boxes, pixel_mm
        target = float(rng.uniform(self.pixel_mm_range[0], self.pixel_mm_range[1]))
        if len(boxes):
            sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * pixel_mm
            target = min(target, float(sides.min()) / self.min_lesion_px)
        if target <= pixel_mm:
            return stack, boxes, pixel_mm
        height, width = stack.shape[-2:]
        size = (max(1, round(height * pixel_mm / target)), max(1, round(width * pixel_mm / target)))
        coarse = torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(stack, np.float32))[None],
                                                 size=size, mode="area")[0].numpy()
        scale = np.array([size[1] / width, size[0] / height, size[1] / width, size[0] / height], np.float32)
        return coarse, boxes * scale, pixel_mm * width / size[1]
