"""What every view of one study shows: the volume, the cursor (crosshair) voxel and the display window.

One observable object shared by the axial view and both reformats, so a click in one moves the
others and a window change repaints all three. It holds display state only; findings and decisions
live in the library's review session.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from lesionviewer.imaging.presets import auto_window
from lesionviewer.io import Volume

MIN_WIDTH = 1.0


class ViewState(QObject):
    """Volume, crosshair ``(z, y, x)`` and window ``(width, level, inverted)`` with change signals."""

    volume_changed = Signal()
    cursor_changed = Signal(int, int, int)
    window_changed = Signal(float, float, bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.volume: Volume | None = None
        self.cursor = (0, 0, 0)
        self.width = 400.0
        self.level = 40.0
        self.inverted = False
        self.default_window = (400.0, 40.0)

    # --- volume -------------------------------------------------------------------------------
    def set_volume(self, volume: Volume | None) -> None:
        """Show ``volume``: cursor to its middle, window from its header (else automatic)."""
        self.volume = volume
        if volume is not None:
            z, y, x = volume.shape
            self.cursor = (z // 2, y // 2, x // 2)
            self.default_window = self.header_window() or self._auto_window()
            self.width, self.level = self.default_window
            self.inverted = False
        self.volume_changed.emit()
        if volume is not None:
            self.cursor_changed.emit(*self.cursor)
            self.window_changed.emit(self.width, self.level, self.inverted)

    def header_window(self) -> tuple[float, float] | None:
        """``(width, level)`` stored in the file header, or None when it has none."""
        return None if self.volume is None else self.window_of(self.volume)

    @staticmethod
    def window_of(volume: Volume) -> tuple[float, float] | None:
        """``(width, level)`` stored in ``volume``'s header, or None when it has none."""
        meta = volume.meta
        width = meta.get("window_width", meta.get("WindowWidth"))
        level = meta.get("window_center", meta.get("window_level", meta.get("WindowCenter")))
        try:
            if isinstance(width, (list, tuple)):
                width = width[0]
            if isinstance(level, (list, tuple)):
                level = level[0]
            width, level = float(width), float(level)
        except (TypeError, ValueError, IndexError):
            return None
        return (width, level) if width > 0 else None

    def _auto_window(self) -> tuple[float, float]:
        try:
            return auto_window(self.volume.hu)
        except ValueError:
            return (400.0, 40.0)

    # --- cursor -------------------------------------------------------------------------------
    @property
    def num_slices(self) -> int:
        """Slices of the current volume (0 with none)."""
        return 0 if self.volume is None else self.volume.num_slices

    @property
    def slice_index(self) -> int:
        """The axial slice shown."""
        return self.cursor[0]

    def set_cursor(self, z: int, y: int, x: int) -> None:
        """Move the crosshair to voxel ``(z, y, x)`` (clamped into the volume)."""
        if self.volume is None:
            return
        shape = self.volume.shape
        new = tuple(int(min(max(round(v), 0), n - 1)) for v, n in zip((z, y, x), shape))
        if new != self.cursor:
            self.cursor = new
            self.cursor_changed.emit(*new)

    def set_slice(self, z: int) -> None:
        """Show axial slice ``z`` (clamped)."""
        self.set_cursor(z, self.cursor[1], self.cursor[2])

    def step_slice(self, delta: int) -> None:
        """Move ``delta`` slices up (+) or down (-)."""
        self.set_slice(self.cursor[0] + delta)

    # --- window -------------------------------------------------------------------------------
    def set_window(self, width: float, level: float, inverted: bool | None = None) -> None:
        """Set the display window (width at least 1 HU)."""
        width = max(float(width), MIN_WIDTH)
        level = float(level)
        inverted = self.inverted if inverted is None else bool(inverted)
        if (width, level, inverted) != (self.width, self.level, self.inverted):
            self.width, self.level, self.inverted = width, level, inverted
            self.window_changed.emit(width, level, inverted)

    def toggle_invert(self) -> None:
        """Swap black and white."""
        self.set_window(self.width, self.level, not self.inverted)

    def reset_window(self) -> None:
        """Back to the window the study opened with, not inverted."""
        self.set_window(*self.default_window, inverted=False)

    def hu_at(self, z: int, y: int, x: int) -> int | None:
        """HU of voxel ``(z, y, x)`` or None outside the volume."""
        if self.volume is None:
            return None
        if all(0 <= v < n for v, n in zip((z, y, x), self.volume.shape)):
            return int(self.volume.hu[z, y, x])
        return None

    def patient_position(self, z: float, y: float, x: float) -> np.ndarray:
        """Patient (LPS) position in mm of a voxel index."""
        return self.volume.index_to_patient(z, y, x)
