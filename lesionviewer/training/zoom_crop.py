"""Training-time physical zoom and random crop of a context stack and its boxes.

``pixel_mm_range`` resamples every stack so that its pixels measure a size drawn from the range
(phantoms with 3 mm pixels and real CT with 0.7 mm pixels then show lesions at the same scale);
``crop_size`` then keeps a square window, placed around a random lesion with probability
``crop_on_lesion`` and anywhere otherwise. A crop trains the network at full resolution for a
quarter of the arithmetic of a whole 512 px slice; the detector is fully convolutional up to its
proposals, so the viewer and the evaluation still run on whole slices. Outside the image the crop
is 0 (the low end of the HU window). Boxes are moved and clipped; a box with less than
``min_visible`` of its area left inside is dropped.

Example:
    >>> import numpy as np
    >>> zc = ZoomCrop(pixel_mm_range=(1.0, 1.0), crop_size=8, crop_on_lesion=1.0)
    >>> stack = np.zeros((3, 16, 16), np.float32)
    >>> out, boxes = zc(stack, np.array([[4.0, 4.0, 8.0, 8.0]]), 0.5, np.random.default_rng(0))
    >>> out.shape, boxes.tolist()
    ((3, 8, 8), [[2.0, 2.0, 4.0, 4.0]])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ZoomCrop:
    """Zoom to a random pixel size (mm) in ``pixel_mm_range`` (empty: no zoom), then crop ``crop_size`` (0: none).

    Example:
        >>> import numpy as np
        >>> out, b = ZoomCrop((), 0)(np.ones((1, 4, 4), np.float32), np.zeros((0, 4)), 1.0, np.random.default_rng(0))
        >>> out.shape, b.shape
        ((1, 4, 4), (0, 4))
    """

    pixel_mm_range: tuple = ()
    crop_size: int = 0
    crop_on_lesion: float = 0.7
    min_visible: float = 0.6

    @property
    def active(self) -> bool:
        """True when it changes anything.

        Example:
            >>> ZoomCrop((), 0).active, ZoomCrop((), 64).active
            (False, True)
        """
        return bool(self.pixel_mm_range) or self.crop_size > 0

    def __call__(self, stack: np.ndarray, boxes: np.ndarray, pixel_mm: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not self.active:
            return stack, boxes
        height, width = stack.shape[-2:]
        factor = 1.0
        if self.pixel_mm_range:
            target = float(rng.uniform(self.pixel_mm_range[0], self.pixel_mm_range[1]))
            factor = float(pixel_mm) / target if pixel_mm > 0 else 1.0
        out_h, out_w = max(1, int(round(height * factor))), max(1, int(round(width * factor)))
        size_h = size_w = int(self.crop_size)
        if size_h <= 0:
            size_h, size_w = out_h, out_w
        lesion_box: np.ndarray | None = None
        if len(boxes) and self.crop_size and rng.random() < self.crop_on_lesion:
            lesion_box = boxes[int(rng.integers(len(boxes)))] * factor
        oy = self._origin(rng, out_h, size_h, None if lesion_box is None else lesion_box[[1, 3]])
        ox = self._origin(rng, out_w, size_w, None if lesion_box is None else lesion_box[[0, 2]])
        crop = _resample(stack, factor, oy, ox, size_h, size_w)
        moved = boxes * factor - np.array([ox, oy, ox, oy], np.float32)
        clipped = np.stack([np.clip(moved[:, 0], 0, size_w), np.clip(moved[:, 1], 0, size_h),
                            np.clip(moved[:, 2], 0, size_w), np.clip(moved[:, 3], 0, size_h)], axis=1)
        area = np.maximum(moved[:, 2] - moved[:, 0], 1e-6) * np.maximum(moved[:, 3] - moved[:, 1], 1e-6)
        kept = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) >= self.min_visible * area
        return crop, clipped[kept].astype(np.float32)

    def _origin(self, rng, full: int, size: int, span: np.ndarray | None) -> int:
        """Where the window starts along one axis: around ``span`` (lo, hi) when given, else anywhere."""
        if full <= size:
            return -int((size - full) // 2)
        if span is not None:
            lo, hi = span
            first = int(np.clip(np.floor(hi - size), 0, full - size))
            last = int(np.clip(np.ceil(lo), 0, full - size))
            if last >= first:
                return int(rng.integers(first, last + 1))
        return int(rng.integers(0, full - size + 1))


def _resample(stack: np.ndarray, factor: float, oy: int, ox: int, size_h: int, size_w: int) -> np.ndarray:
    """Bilinear samples of ``stack`` zoomed by ``factor`` on the output window at (oy, ox); 0 outside."""
    height, width = stack.shape[-2:]
    if factor == 1.0 and oy >= 0 and ox >= 0 and oy + size_h <= height and ox + size_w <= width:
        return np.ascontiguousarray(stack[:, oy:oy + size_h, ox:ox + size_w])
    ys = (oy + np.arange(size_h) + 0.5) / factor - 0.5
    xs = (ox + np.arange(size_w) + 0.5) / factor - 0.5
    # grid_sample's normalised coordinates (align_corners=False): -1 and 1 are the outer pixel edges
    gy = torch.from_numpy(((ys + 0.5) / height * 2 - 1).astype(np.float32))
    gx = torch.from_numpy(((xs + 0.5) / width * 2 - 1).astype(np.float32))
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    source = torch.from_numpy(np.ascontiguousarray(stack, dtype=np.float32))[None]
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[0].numpy()
