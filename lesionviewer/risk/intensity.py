"""Online windowing and normalisation of a preprocessed crop (stored as HU) into the network's input.

HU are clipped to a lung-friendly window (default -1000..400: parenchyma, nodules and the
soft-tissue edge stay apart; calcium saturates), scaled to 0..1, then normalised to mean 0 and
unit spread with ``(x - mean) / std`` (0.5 / 0.5 by default, i.e. -1..1). The values travel in the
model card so the viewer prepares a volume exactly as training did.

Example:
    >>> import numpy as np
    >>> normalise_crop(np.array([-2000, -1000, -300, 400, 900])).tolist()
    [-1.0, -1.0, 0.0, 1.0, 1.0]
"""
from __future__ import annotations

import numpy as np

DEFAULT_HU_WINDOW = (-1000.0, 400.0)


def normalise_crop(hu, hu_window: tuple[float, float] = DEFAULT_HU_WINDOW, mean: float = 0.5,
                   std: float = 0.5) -> np.ndarray:
    """float32 network input from HU: clip to ``hu_window``, scale to 0..1, subtract ``mean``, divide by ``std``.

    Example:
        >>> normalise_crop(np.zeros((1, 1, 1)), (-100.0, 100.0), mean=0.0, std=1.0).item()
        0.5
    """
    low, high = float(hu_window[0]), float(hu_window[1])
    if not high > low or not std > 0:
        raise ValueError(f"need hu_window high > low and std > 0 (got {hu_window}, {std})")
    scaled = (np.clip(np.asarray(hu, np.float32), low, high) - low) / (high - low)
    return ((scaled - mean) / std).astype(np.float32)
