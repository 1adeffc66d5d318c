"""Training augmentation of pose and body shape: a random in-plane rotation and per-axis scaling.

With a handful of real patients as hosts, the network sees the same few bodies from the same pose in
every epoch. Patients lie a little rotated on the table and come in all widths and depths, so
``AffineJitter`` draws, with probability ``probability`` and per sample, a rotation within
``+-max_rotation_deg`` and a scale per axis in ``scale_range`` about the image centre, and resamples
every slice of the stack with it (bilinear; outside the image ``fill``, the window's air).

A lesion box is treated as the ellipse inscribed in it (lesions are round-ish, and DeepLesion's
boxes wrap RECIST diameters), and its new box is the bounding box of the transformed ellipse. The
corners of a rotated box would grow every box with the angle; the ellipse's box stays tight. A draw
that would move any lesion centre out of the image is not applied (the sample is left unchanged),
so no lesion is lost or cut. Nothing is drawn when ``probability`` is 0.

Example:
    >>> import numpy as np
    >>> jitter = AffineJitter(probability=1.0, max_rotation_deg=0.0, scale_range=(2.0, 2.0))
    >>> stack = np.zeros((1, 8, 8), np.float32); stack[0, 3:5, 3:5] = 100.0
    >>> out, boxes = jitter(stack, np.array([[3.0, 3.0, 5.0, 5.0]]), np.random.default_rng(0))
    >>> boxes.tolist(), int((out[0] > 50).sum())  # twice as large about the centre
    ([[2.0, 2.0, 6.0, 6.0]], 16)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def affine_matrix(rotation_deg: float, scale_x: float, scale_y: float) -> np.ndarray:
    """The 2x2 matrix (x, y order) that scales each axis, then rotates by ``rotation_deg``.

    Example:
        >>> affine_matrix(90.0, 2.0, 1.0).round(6).tolist()  # x doubled, then turned onto y
        [[0.0, -1.0], [2.0, 0.0]]
    """
    angle = math.radians(rotation_deg)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return rotation @ np.diag([scale_x, scale_y])


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray, centre_xy: tuple[float, float]) -> np.ndarray:
    """The bounding boxes of the ellipses inscribed in ``boxes`` (x1y1x2y2) after ``matrix`` about ``centre_xy``.

    Example:
        >>> import numpy as np
        >>> box = np.array([[-1.0, -1.0, 1.0, 1.0]])  # a circle of radius 1 turned 45 degrees: still 2 x 2
        >>> transform_boxes(box, affine_matrix(45.0, 1.0, 1.0), (0.0, 0.0)).round(6).tolist()
        [[-1.0, -1.0, 1.0, 1.0]]
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = np.asarray(centre_xy, np.float64)
    middles = (boxes[:, :2] + boxes[:, 2:]) / 2
    halves = (boxes[:, 2:] - boxes[:, :2]) / 2
    new_middles = (middles - centre) @ matrix.T + centre
    # The ellipse with half axes (a, b) mapped by M: its half extents are the row norms of M diag(a, b).
    half_x = np.hypot(matrix[0, 0] * halves[:, 0], matrix[0, 1] * halves[:, 1])
    half_y = np.hypot(matrix[1, 0] * halves[:, 0], matrix[1, 1] * halves[:, 1])
    extents = np.stack([half_x, half_y], axis=1)
    return np.concatenate([new_middles - extents, new_middles + extents], axis=1)


@dataclass(frozen=True)
class AffineJitter:
    """Rotate and scale a ``(D, H, W)`` stack in-plane about its centre, with its boxes.

    Example:
        >>> import numpy as np
        >>> jitter = AffineJitter(probability=1.0, max_rotation_deg=0.0, scale_range=(3.0, 3.0))
        >>> stack = np.zeros((1, 10, 10), np.float32)
        >>> out, boxes = jitter(stack, np.array([[0.0, 0.0, 2.0, 2.0]]), np.random.default_rng(0))
        >>> out is stack, boxes.tolist()  # tripled, the corner lesion's centre would leave the image
        (True, [[0.0, 0.0, 2.0, 2.0]])
    """

    probability: float = 0.0
    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    fill: float = 0.0

    @property
    def active(self) -> bool:
        """True when the stack can be changed at all.

        Example:
            >>> AffineJitter().active, AffineJitter(probability=0.5).active
            (False, True)
        """
        return self.probability > 0

    def __call__(self, stack: np.ndarray, boxes: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(stack, boxes)`` after the jitter: unchanged (the same objects) when not drawn or not applicable.

        Example:
            >>> import numpy as np
            >>> stack = np.zeros((2, 16, 16), np.float32); stack[:, 4:8, 6:10] = 200.0
            >>> jitter = AffineJitter(probability=1.0, max_rotation_deg=90.0, scale_range=(1.0, 1.0))
            >>> out, boxes = jitter(stack, np.array([[6.0, 4.0, 10.0, 8.0]]), np.random.default_rng(3))
            >>> out.shape, boxes.shape, bool(out.max() > 150), bool(abs(out.sum() - stack.sum()) < 0.05 * stack.sum())
            ((2, 16, 16), (1, 4), True, True)
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if not self.active or rng.random() >= self.probability:
            return stack, boxes
        angle = float(rng.uniform(-self.max_rotation_deg, self.max_rotation_deg))
        scale_x, scale_y = (float(rng.uniform(*self.scale_range)) for _ in range(2))
        matrix = affine_matrix(angle, scale_x, scale_y)
        height, width = stack.shape[-2:]
        centre = (width / 2.0, height / 2.0)
        moved = transform_boxes(boxes, matrix, centre)
        middles = (moved[:, :2] + moved[:, 2:]) / 2
        if len(moved) and not ((middles >= 0).all() and (middles[:, 0] <= width).all()
                               and (middles[:, 1] <= height).all()):
            return stack, boxes
        # grid_sample reads, for each output pixel, the input at theta @ (x, y) in [-1, 1] coordinates
        # (align_corners=False: pixel edges at -1 and 1, so the image centre is 0 and needs no shift).
        scale = np.diag([width / 2.0, height / 2.0])
        theta = np.linalg.inv(scale) @ np.linalg.inv(matrix) @ scale
        theta3 = torch.zeros((1, 2, 3), dtype=torch.float32)
        theta3[0, :, :2] = torch.from_numpy(theta.astype(np.float32))
        source = torch.from_numpy(np.ascontiguousarray(stack, np.float32))[None] - self.fill
        grid = torch.nn.functional.affine_grid(theta3, list(source.shape), align_corners=False)
        out = (torch.nn.functional.grid_sample(source, grid, mode="bilinear", padding_mode="zeros",
                                               align_corners=False)[0] + self.fill).numpy()
        limits = np.array([width, height, width, height], np.float64)
        return out, np.clip(moved, 0, limits).astype(np.float32)
