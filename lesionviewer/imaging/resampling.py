"""In-plane resampling and resizing with the scale kept, so that boxes map back exactly.

Coordinates follow torchvision's continuous convention: pixel ``i`` covers ``[i, i+1)``, a box is
``[x1, y1, x2, y2]`` with ``x2`` the right edge. Resizing by ``scale`` maps the point ``x`` to
``x * scale`` *exactly*, because the interpolation is told the scale itself (not the ratio of rounded
sizes); :func:`scale_boxes` and :func:`unscale_boxes` are therefore exact inverses of the image warp.
Padding (:func:`pad_to_multiple`) is added at the bottom and right, so it never moves a box.

Images are ``(H, W)`` or ``(N, H, W)`` (a context stack resizes as one), numpy or torch; the result is
float32 of the same kind (torch tensors stay on their device). Interpolation is bilinear with half-pixel
centres, like OpenCV's ``INTER_LINEAR`` that the DeepLesion peers use, and without anti-aliasing.

Example:
    >>> import numpy as np
    >>> image, scale = resize_with_scale(np.zeros((400, 500), np.int16), target_short_side=512)
    >>> image.shape, scale
    ((512, 640), 1.28)
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _to_tensor(image) -> tuple[torch.Tensor, bool]:
    if isinstance(image, torch.Tensor):
        return image, True
    array = np.asarray(image)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)), False


def _check_image(image) -> None:
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (N, H, W) image; got shape {tuple(image.shape)}")
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise ValueError(f"cannot resize an empty image of shape {tuple(image.shape)}")


def _pair(value, what: str) -> tuple[float, float]:
    values = np.asarray(value, dtype=np.float64).reshape(-1)
    if values.size == 1:
        values = np.repeat(values, 2)
    if values.size != 2 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{what} must be a positive number or a (row, column) pair; got {value!r}")
    return float(values[0]), float(values[1])


def rescale(image, scale):
    """Resize by ``scale`` (a number, or ``(scale_y, scale_x)``); output size ``round(size * scale)``.

    Example:
        >>> import numpy as np
        >>> rescale(np.ones((3, 10, 20)), 0.5).shape
        (3, 5, 10)
    """
    _check_image(image)
    scale_y, scale_x = _pair(scale, "scale")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    out_h = max(1, int(math.floor(height * scale_y + 0.5)))
    out_w = max(1, int(math.floor(width * scale_x + 0.5)))
    tensor, was_torch = _to_tensor(image)
    tensor = tensor.to(torch.float32)
    if (out_h, out_w) == (height, width) and scale_y == 1.0 and scale_x == 1.0:
        result = tensor.clone()
    else:
        batch = tensor.reshape((1, -1, height, width))
        # The aten op takes both the rounded output size and the true scale, so the sampling grid is
        # x_in = (x_out + 0.5) / scale - 0.5 whatever the rounding: boxes scale exactly by `scale`.
        result = torch.ops.aten.upsample_bilinear2d(batch, [out_h, out_w], False, scale_y, scale_x)
        result = result.reshape(tensor.shape[:-2] + (out_h, out_w))
    return result if was_torch else result.numpy()


def resample_inplane(image, spacing, target_spacing):
    """Resample to ``target_spacing`` mm per pixel; returns ``(image, scale)`` with ``scale = spacing / target``.

    ``spacing`` and ``target_spacing`` are numbers or ``(row, column)`` pairs in mm. ``scale`` is a float
    when it is the same on both axes (the usual square CT pixels), else a ``(scale_y, scale_x)`` tuple;
    both forms go straight into :func:`scale_boxes`.

    Example:
        >>> import numpy as np
        >>> image, scale = resample_inplane(np.zeros((512, 512)), spacing=0.6, target_spacing=0.8)
        >>> image.shape, round(scale, 9)
        ((384, 384), 0.75)
    """
    spacing_y, spacing_x = _pair(spacing, "spacing")
    target_y, target_x = _pair(target_spacing, "target_spacing")
    scale_y, scale_x = spacing_y / target_y, spacing_x / target_x
    scale = scale_y if scale_y == scale_x else (scale_y, scale_x)
    return rescale(image, scale), scale


def resize_with_scale(image, target_short_side: int = 512, max_long_side: int | None = None):
    """Resize keeping the aspect ratio so the short side is ``target_short_side``; returns ``(image, scale)``.

    If the long side would then exceed ``max_long_side``, the scale is reduced so that it fits (the
    torchvision / mmdetection rule). Multi-scale training calls this with 448, 512 or 576.

    Example:
        >>> import numpy as np
        >>> image, scale = resize_with_scale(np.zeros((9, 100, 300)), 512, max_long_side=1000)
        >>> image.shape, round(scale, 4)
        ((9, 333, 1000), 3.3333)
    """
    _check_image(image)
    if target_short_side < 1:
        raise ValueError(f"target_short_side must be at least 1; got {target_short_side}")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    scale = target_short_side / min(height, width)
    if max_long_side is not None and max(height, width) * scale > max_long_side:
        scale = max_long_side / max(height, width)
    return rescale(image, scale), scale


def pad_to_multiple(image, multiple: int = 32, value: float = 0.0):
    """Pad at the bottom and right to a multiple of ``multiple``; returns ``(image, (pad_bottom, pad_right))``.

    Example:
        >>> import numpy as np
        >>> padded, pad = pad_to_multiple(np.ones((2, 500, 512)), 32)
        >>> padded.shape, pad
        ((2, 512, 512), (12, 0))
    """
    _check_image(image)
    if multiple < 1:
        raise ValueError(f"multiple must be at least 1; got {multiple}")
    height, width = int(image.shape[-2]), int(image.shape[-1])
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if isinstance(image, torch.Tensor):
        padded = torch.nn.functional.pad(image, (0, pad_w, 0, pad_h), value=value) if (pad_h or pad_w) \
            else image.clone()
        return padded, (pad_h, pad_w)
    widths = [(0, 0)] * (image.ndim - 2) + [(0, pad_h), (0, pad_w)]
    return np.pad(np.asarray(image), widths, constant_values=value), (pad_h, pad_w)


def scale_boxes(boxes, scale):
    """Boxes ``[..., 4]`` (x1, y1, x2, y2) in the original image -> the image resized by ``scale``.

    Extra columns (e.g. a score in column 4) are left unchanged.

    Example:
        >>> import numpy as np
        >>> scale_boxes(np.array([[10, 20, 30, 40, 0.9]]), (0.5, 2.0)).tolist()
        [[20.0, 10.0, 60.0, 20.0, 0.9]]
    """
    return _apply_scale(boxes, scale, inverse=False)


def unscale_boxes(boxes, scale):
    """Boxes found in an image resized by ``scale`` -> original pixel coordinates (inverse of :func:`scale_boxes`).

    Example:
        >>> import numpy as np
        >>> unscale_boxes(np.array([[128.0, 128.0, 256.0, 384.0]]), 1.28).tolist()
        [[100.0, 100.0, 200.0, 300.0]]
    """
    return _apply_scale(boxes, scale, inverse=True)


def _apply_scale(boxes, scale, inverse: bool):
    scale_y, scale_x = _pair(scale, "scale")
    factors = [scale_x, scale_y, scale_x, scale_y]
    if isinstance(boxes, torch.Tensor):
        scaled = boxes.to(torch.float32 if not boxes.is_floating_point() else boxes.dtype).clone()
        f = torch.tensor(factors, dtype=scaled.dtype, device=scaled.device)
        scaled[..., :4] = scaled[..., :4] / f if inverse else scaled[..., :4] * f
        return scaled
    out = np.array(boxes, dtype=np.float64 if np.asarray(boxes).dtype != np.float32 else np.float32)
    if out.shape[-1] < 4:
        raise ValueError(f"boxes need 4 coordinates in the last axis; got shape {out.shape}")
    factor = np.asarray(factors, dtype=out.dtype)
    out[..., :4] = out[..., :4] / factor if inverse else out[..., :4] * factor
    return out
