"""Window presets as data, their keyboard keys, and an automatic window.

The preset set is OHIF's (see the project's viewer conventions). The GUI binds the keys in
:data:`PRESET_KEYS` and key ``0`` (:data:`HEADER_WINDOW_KEY`) to the window stored in the DICOM header.

Example:
    >>> PRESET_KEYS["1"].name, PRESET_KEYS["1"].width, PRESET_KEYS["1"].level
    ('Lung', 1500.0, -600.0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPreset:
    """A named display window (width and level in HU) with the key that selects it.

    Example:
        >>> WindowPreset("Bone", 2500, 480, "4").range
        (-770.0, 1730.0)
    """

    name: str
    width: float
    level: float
    key: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "level", float(self.level))
        if self.width <= 0:
            raise ValueError(f"preset {self.name!r}: width must be positive, got {self.width}")

    @property
    def range(self) -> tuple[float, float]:
        """``(lowest, highest)`` HU shown, i.e. ``level -/+ width/2``.

        Example:
            >>> WindowPreset("Soft tissue", 400, 40, "2").range
            (-160.0, 240.0)
        """
        return (self.level - self.width / 2.0, self.level + self.width / 2.0)


WINDOW_PRESETS: tuple[WindowPreset, ...] = (
    WindowPreset("Lung", 1500, -600, "1"),
    WindowPreset("Soft tissue", 400, 40, "2"),
    WindowPreset("Liver", 150, 90, "3"),
    WindowPreset("Bone", 2500, 480, "4"),
    WindowPreset("Brain", 80, 40, "5"),
    WindowPreset("Mediastinum", 350, 50, "6"),
)
#: Key -> preset, for the GUI's shortcuts.
PRESET_KEYS: dict[str, WindowPreset] = {p.key: p for p in WINDOW_PRESETS}
#: Key for the window stored in the file header (WindowWidth / WindowCenter).
HEADER_WINDOW_KEY = "0"


def preset_by_name(name: str) -> WindowPreset:
    """The preset called ``name`` (case-insensitive); ``KeyError`` listing the known names otherwise.

    Example:
        >>> preset_by_name("liver").width
        150.0
    """
    for preset in WINDOW_PRESETS:
        if preset.name.lower() == name.strip().lower():
            return preset
    raise KeyError(f"no window preset named {name!r}; known: {', '.join(p.name for p in WINDOW_PRESETS)}")


def auto_window(hu, low_percentile: float = 1.0, high_percentile: float = 99.0,
                ignore_below: float = -1024.0, max_samples: int = 1_000_000) -> tuple[float, float]:
    """A ``(width, level)`` spanning the 1st..99th percentile of the image's HU.

    Values below ``ignore_below`` (scanner padding such as -2048 or -3024 outside the field of view)
    are left out so that they do not stretch the window. Large volumes are subsampled evenly to at most
    ``max_samples`` voxels, which keeps this interactive. A flat image gets a width of 1 HU.

    Example:
        >>> import numpy as np
        >>> hu = np.concatenate([np.full(50, -2048), np.linspace(-100, 100, 1001)])
        >>> w, l = auto_window(hu)
        >>> round(w), round(l)
        (196, 0)
    """
    values = np.asarray(hu).reshape(-1)
    if values.size > max_samples:
        values = values[:: int(np.ceil(values.size / max_samples))]
    values = values[values >= ignore_below]
    if values.size == 0:
        raise ValueError("auto_window: the image has no values at or above "
                         f"{ignore_below} HU (only padding)")
    low, high = np.percentile(values.astype(np.float64), [low_percentile, high_percentile])
    width = max(float(high - low), 1.0)
    return width, float((high + low) / 2.0)
