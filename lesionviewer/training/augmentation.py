"""Training augmentation of a context stack and its boxes: flips and slice-order reversal.

MP3D flips horizontally and vertically and reverses the slice order (a z-flip), each with
probability 0.5. Resizing (multi-scale 448/512/576 in training, 512 at test) is *not* done here:
the detector's own transform does it, so training and inference share one resize rule.

Randomness comes from a ``numpy.random.Generator`` the caller seeds per sample, so an epoch is
the same whether it is loaded by worker processes or not, and a resumed run sees the same samples.

Example:
    >>> import numpy as np
    >>> stack = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    >>> boxes = np.array([[0., 0., 1., 2.]], dtype=np.float32)
    >>> s, b = flip_stack(stack, boxes, horizontal=True, vertical=False, reverse=False)
    >>> b.tolist(), s[0, 0].tolist()
    ([[2.0, 0.0, 3.0, 2.0]], [2.0, 1.0, 0.0])
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def flip_stack(stack: np.ndarray, boxes: np.ndarray, horizontal: bool, vertical: bool,
               reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flip a ``(D, H, W)`` stack and its ``(K, 4)`` x1y1x2y2 boxes (pixel edges, 0..W).

    Example:
        >>> import numpy as np
        >>> s, b = flip_stack(np.zeros((3, 4, 4)), np.array([[0., 1., 2., 3.]]), False, True, True)
        >>> b.tolist()
        [[0.0, 1.0, 2.0, 3.0]]
    """
    out = stack
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
    height, width = stack.shape[-2:]
    if horizontal:
        out = out[..., ::-1]
        boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
    if vertical:
        out = out[..., ::-1, :]
        boxes[:, [1, 3]] = height - boxes[:, [3, 1]]
    if reverse:
        out = out[::-1]
    return np.ascontiguousarray(out), boxes


@dataclass(frozen=True)
class StackAugmentation:
    """Random flips and slice-order reversal with the given probabilities.

    Example:
        >>> import numpy as np
        >>> aug = StackAugmentation(hflip=1.0, vflip=0.0, reverse_slices=0.0)
        >>> s, b = aug(np.zeros((1, 2, 8)), np.array([[1., 0., 3., 1.]]), np.random.default_rng(0))
        >>> b.tolist()
        [[5.0, 0.0, 7.0, 1.0]]
    """

    hflip: float = 0.5
    vflip: float = 0.5
    reverse_slices: float = 0.5
    #: Probability of replacing the context by the key (middle) slice repeated, as when a single
    #: key slice is scored; drawn only when positive, so older runs see the same samples.
    repeat_key_slice: float = 0.0

    def __call__(self, stack: np.ndarray, boxes: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        draws = rng.random(3)
        stack, boxes = flip_stack(stack, boxes, horizontal=bool(draws[0] < self.hflip),
                                  vertical=bool(draws[1] < self.vflip), reverse=bool(draws[2] < self.reverse_slices))
        if self.repeat_key_slice > 0 and rng.random() < self.repeat_key_slice:
            stack = repeat_key_slice(stack)
        return stack, boxes


def repeat_key_slice(stack: np.ndarray) -> np.ndarray:
    """The middle slice of a ``(D, H, W)`` stack repeated ``D`` times.

    Example:
        >>> import numpy as np
        >>> repeat_key_slice(np.arange(3, dtype=np.float32).reshape(3, 1, 1)).ravel().tolist()
        [1.0, 1.0, 1.0]
    """
    return np.ascontiguousarray(np.repeat(stack[stack.shape[0] // 2][None], stack.shape[0], axis=0))


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator for one sample of one epoch (independent of loading order and workers).

    Example:
        >>> float(sample_rng(0, 1, 2).random()) == float(sample_rng(0, 1, 2).random())
        True
    """
    return np.random.default_rng([int(seed), int(epoch), int(index)])
