"""A 2-D view of one plane of the volume (axial by default; the reformats subclass it).

pyqtgraph's ImageItem in a ViewBox. The image item is scaled by the pixel spacing, so the scene is
in millimetres (correct aspect, a true scale bar) while items drawn as its children (boxes, the
crosshair, measurements) use voxel coordinates. Mouse: wheel = next/previous slice, Ctrl+wheel =
zoom, middle drag = pan, left drag = window/level (or the active measurement tool), left click =
move the crosshair. Keys: Up/Down, PgUp/PgDn (Shift = 10 slices), Home/End; other keys go to the
main window's shortcuts. Corner text, orientation letters and the scale bar are painted over the
view in screen pixels.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QTransform
from PySide6.QtWidgets import QGraphicsLineItem

from lesionviewer.imaging.windowing import window as window_hu
from lesionviewer_app.findings_overlay import BoxOverlay
from lesionviewer_app.orientation import edge_letters, plane_axes, rows_point_down
from lesionviewer_app.view_state import ViewState

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

#: Slices moved by one key press with Shift held.
SHIFT_STEP = 10
#: HU of window width / level changed per screen pixel of left drag.
WINDOW_DRAG_GAIN = 2.0
SCALE_BAR_CHOICES_MM = (1, 2, 5, 10, 20, 50, 100, 200, 500)
#: Point size of the corner text; with a dark outline it stays readable over bone and contrast.
CORNER_POINT_SIZE = 10
TEXT_COLOR = QColor(235, 235, 235)
#: The demonstration-model banner: amber text on a dark band, readable on any window.
BANNER_COLOR = QColor(255, 176, 0)
BANNER_BACKGROUND = QColor(40, 20, 0, 190)
LETTER_COLOR = QColor(255, 210, 80)
SHADOW_COLOR = QColor(0, 0, 0, 220)


def draw_outlined_text(painter: QPainter, rect: QRectF, flags, text: str, color: QColor) -> None:
    """Text with a one-pixel dark rim, legible on white bone as on black air."""
    painter.setPen(SHADOW_COLOR)
    for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        painter.drawText(rect.translated(dx, dy), flags, text)
    painter.setPen(color)
    painter.drawText(rect, flags, text)


class Crosshair:
    """Two thin lines through the cursor voxel, across the whole image (voxel coordinates).

    Two line items rather than one item covering the image: when the cursor moves, Qt repaints
    only the two strips the lines left and entered.
    """

    def __init__(self, parent):
        pen = QPen(QColor(80, 200, 255, 150), 1)
        pen.setCosmetic(True)
        self.horizontal = QGraphicsLineItem(parent)
        self.vertical = QGraphicsLineItem(parent)
        for line in (self.horizontal, self.vertical):
            line.setPen(pen)
        self._size = (1.0, 1.0)
        self._point = (0.5, 0.5)

    def setZValue(self, z: float) -> None:  # noqa: N802 - mirrors the Qt item API
        self.horizontal.setZValue(z)
        self.vertical.setZValue(z)

    def set_geometry(self, width: int, height: int) -> None:
        self._size = (float(width), float(height))
        self._place()

    def set_point(self, column: float, row: float) -> None:
        point = (column + 0.5, row + 0.5)
        if point != self._point:
            self._point = point
            self._place()

    def _place(self) -> None:
        (width, height), (x, y) = self._size, self._point
        self.horizontal.setLine(0.0, y, width, y)
        self.vertical.setLine(x, 0.0, x, height)


class PlaneViewBox(pg.ViewBox):
    """A ViewBox whose mouse gestures follow the radiology habits (see the module docstring)."""

    def __init__(self, plane_view: "SliceView"):
        super().__init__(lockAspect=True, enableMenu=False, invertY=True)
        self._view = plane_view
        self._drag_start_window: tuple[float, float] | None = None

    def wheelEvent(self, ev, axis=None):  # noqa: N802 - Qt API
        if ev.modifiers() & Qt.ControlModifier:
            self._view.fitted = False
            super().wheelEvent(ev, axis)
            self._view.viewport().update()
            return
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta:
            notches = int(delta / 120) or (1 if delta > 0 else -1)  # 120 = one notch
            self._view.step(-notches)
        ev.accept()

    def mouseClickEvent(self, ev):  # noqa: N802 - Qt API
        if ev.button() == Qt.LeftButton:
            column, row = self._view.image_coordinates(ev.scenePos())
            self._view.click_at(column, row)
            ev.accept()
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt API
        if ev.button() == Qt.LeftButton:
            handler = self._view.drag_handler
            if handler is not None:
                stage = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
                if ev.isStart():  # the drag began where the button went down, not where it was noticed
                    if handler(stage, *self._view.image_coordinates(ev.buttonDownScenePos())):
                        handler("move", *self._view.image_coordinates(ev.scenePos()))
                        ev.accept()
                        return
                elif handler(stage, *self._view.image_coordinates(ev.scenePos())):
                    ev.accept()
                    return
            state = self._view.state
            if ev.isStart():
                self._drag_start_window = (state.width, state.level)
            if self._drag_start_window is not None:
                moved = ev.screenPos() - ev.buttonDownScreenPos()
                width0, level0 = self._drag_start_window
                state.set_window(width0 + moved.x() * WINDOW_DRAG_GAIN, level0 - moved.y() * WINDOW_DRAG_GAIN)
            if ev.isFinish():
                self._drag_start_window = None
            ev.accept()
        elif ev.button() == Qt.MiddleButton:
            self._view.fitted = False
            super().mouseDragEvent(ev, axis)  # pyqtgraph pans with the middle button
            self._view.viewport().update()
        elif ev.button() == Qt.RightButton:
            self._view.fitted = False
            super().mouseDragEvent(ev, axis)  # and zooms with the right button
            self._view.viewport().update()
        else:
            ev.ignore()


class SliceView(pg.GraphicsView):
    """One plane of the study: image, crosshair, optional boxes, corner text and scale bar."""

    #: (z, y, x, hu or None) of the voxel under the mouse.
    hovered = Signal(int, int, int, object)

    def __init__(self, state: ViewState, plane: str = "axial", parent=None):
        super().__init__(parent)
        self.state = state
        self.plane = plane
        self.row_axis, self.column_axis, self.fixed_axis = plane_axes(plane)
        self.view_box = PlaneViewBox(self)
        self.setCentralItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(False)
        self.view_box.addItem(self.image_item)
        self.crosshair = Crosshair(self.image_item)
        self.boxes = BoxOverlay(self.image_item, show_labels=(plane == "axial"))
        self.crosshair.setZValue(5)
        self.boxes.setZValue(10)
        self.drag_handler: Callable[[str, float, float], bool] | None = None
        self.key_handler: Callable[[object], bool] | None = None
        self.corner_lines: Callable[["SliceView"], dict[str, list[str]]] | None = None
        self._letters: dict[str, str] = {}
        self.fitted = True  # False once the user zooms or pans
        self._shown_index: int | None = None
        self._lut_inverted = False
        #: corner text of a loading preview (None when no preview is shown)
        self.preview_lines: dict[str, list[str]] | None = None
        #: a warning painted across the top of the image (e.g. a demonstration model); "" for none
        self.banner_text = ""
        self.setFocusPolicy(Qt.StrongFocus)
        self.setBackground("k")
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        state.volume_changed.connect(self._volume_changed)
        state.cursor_changed.connect(self._cursor_changed)
        state.window_changed.connect(lambda *_: self.refresh_image())

    # --- geometry -----------------------------------------------------------------------------
    @property
    def fixed_index(self) -> int:
        """Index of the shown plane along the axis it cuts (the slice for the axial view)."""
        return self.state.cursor[self.fixed_axis]

    @property
    def num_planes(self) -> int:
        """How many planes this view can step through."""
        return 0 if self.state.volume is None else self.state.volume.shape[self.fixed_axis]

    def pixel_spacing(self) -> tuple[float, float]:
        """(row, column) spacing in mm of this plane's image."""
        spacing = self.state.volume.spacing
        return spacing[self.row_axis], spacing[self.column_axis]

    def plane_image(self) -> np.ndarray:
        """The HU image of the plane through the cursor (rows, columns)."""
        hu = self.state.volume.hu
        index = [slice(None)] * 3
        index[self.fixed_axis] = self.fixed_index
        return hu[tuple(index)]

    def image_coordinates(self, scene_pos) -> tuple[float, float]:
        """(column, row) in voxels of a scene position."""
        point = self.image_item.mapFromScene(scene_pos)
        return point.x(), point.y()

    def voxel_at(self, column: float, row: float) -> tuple[int, int, int]:
        """The (z, y, x) voxel of an in-plane (column, row) position (not clamped)."""
        voxel = [0, 0, 0]
        voxel[self.fixed_axis] = self.fixed_index
        voxel[self.row_axis] = int(np.floor(row))
        voxel[self.column_axis] = int(np.floor(column))
        return tuple(voxel)  # type: ignore[return-value]

    def fit_pixel_size(self) -> float:
        """Millimetres per screen pixel at which the whole image just fits the view."""
        rect = self.image_item.mapRectToParent(self.image_item.boundingRect())
        width, height = max(self.view_box.width(), 1.0), max(self.view_box.height(), 1.0)
        return max(rect.width() / width, rect.height() / height, 1e-9)

    def zoom(self) -> float:
        """Magnification relative to the whole image fitting the view."""
        size = self.view_box.viewPixelSize()[0]
        return self.fit_pixel_size() / size if size > 0 else 1.0

    # --- reactions to the state ---------------------------------------------------------------
    def show_preview(self, volume, window: tuple[float, float], lines: dict[str, list[str]]) -> None:
        """Show the single slice of ``volume`` (a loading preview) with ``lines`` as corner text, until
        the study itself arrives (or :meth:`clear_preview`). Only while no study is shown."""
        if self.state.volume is not None:
            return
        row_mm, column_mm = volume.spacing[1], volume.spacing[2]
        self.image_item.setTransform(QTransform.fromScale(column_mm, row_mm))
        self.view_box.invertY(rows_point_down("axial", volume.direction))
        self._letters = edge_letters("axial", volume.direction)
        image = window_hu(volume.hu[0], window[0], window[1], out="uint8")
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        self.boxes.set_boxes([])
        self.preview_lines = lines
        self.view_box.autoRange(padding=0.0, items=[self.image_item])
        self.viewport().update()

    def clear_preview(self) -> None:
        """Remove a loading preview (the load failed or was cancelled)."""
        if self.preview_lines is not None and self.state.volume is None:
            self.image_item.clear()
        self.preview_lines = None
        self.viewport().update()

    def _volume_changed(self) -> None:
        volume = self.state.volume
        self._shown_index = None
        self.preview_lines = None
        if volume is None:
            self.image_item.clear()
            self.boxes.set_boxes([])
            return
        height = volume.shape[self.row_axis]
        width = volume.shape[self.column_axis]
        row_mm, column_mm = self.pixel_spacing()
        self.image_item.setTransform(QTransform.fromScale(column_mm, row_mm))
        self.crosshair.set_geometry(width, height)
        self.boxes.set_image_size(width, height)
        self.view_box.invertY(rows_point_down(self.plane, volume.direction))
        self._letters = edge_letters(self.plane, volume.direction)
        self.refresh_image()
        self.reset_view()

    def reset_view(self) -> None:
        """Fit the whole image in the view (zoom 1, centred); it stays fitted when the window resizes."""
        if self.state.volume is None:
            return
        self.view_box.autoRange(padding=0.0, items=[self.image_item])
        self.fitted = True
        self.viewport().update()

    def resizeEvent(self, ev):  # noqa: N802 - Qt API
        super().resizeEvent(ev)
        state = getattr(self, "state", None)  # pyqtgraph resizes during its own __init__
        if state is not None and state.volume is not None and getattr(self, "fitted", False):
            self.view_box.autoRange(padding=0.0, items=[self.image_item])

    def _cursor_changed(self, z: int, y: int, x: int) -> None:
        cursor = (z, y, x)
        self.crosshair.set_point(cursor[self.column_axis], cursor[self.row_axis])
        if self.fixed_index != self._shown_index:
            self.refresh_image()
        # otherwise only the crosshair moved, and its line items repaint their own strips

    def refresh_image(self) -> None:
        """Redraw the plane through the cursor with the current window."""
        if self.state.volume is None:
            return
        state = self.state
        image = window_hu(self.plane_image(), state.width, state.level, out="uint8")
        if state.inverted:
            image = 255 - image
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        self._shown_index = self.fixed_index
        self.refresh_overlay()
        self.viewport().update()

    def refresh_overlay(self) -> None:
        """Hook for subclasses and the main window: redraw what sits on top of the image."""

    # --- user input ---------------------------------------------------------------------------
    def step(self, delta: int) -> None:
        """Move the shown plane by ``delta``."""
        cursor = list(self.state.cursor)
        cursor[self.fixed_axis] += delta
        self.state.set_cursor(*cursor)

    def go_to(self, index: int) -> None:
        """Show plane ``index`` (clamped)."""
        cursor = list(self.state.cursor)
        cursor[self.fixed_axis] = index
        self.state.set_cursor(*cursor)

    def click_at(self, column: float, row: float) -> None:
        """Move the crosshair (and so the other views) to the clicked voxel."""
        if self.state.volume is None:
            return
        self.state.set_cursor(*self.voxel_at(column, row))

    def keyPressEvent(self, ev):  # noqa: N802 - Qt API
        key = ev.key()
        step = SHIFT_STEP if ev.modifiers() & Qt.ShiftModifier else 1
        if key in (Qt.Key_Up, Qt.Key_PageUp):
            self.step(-step)
        elif key in (Qt.Key_Down, Qt.Key_PageDown):
            self.step(step)
        elif key == Qt.Key_Home:
            self.go_to(0)
        elif key == Qt.Key_End:
            self.go_to(self.num_planes - 1)
        elif self.key_handler is not None and self.key_handler(ev):
            pass
        else:
            super().keyPressEvent(ev)
            return
        ev.accept()

    def _mouse_moved(self, scene_pos) -> None:
        if self.state.volume is None:
            return
        column, row = self.image_coordinates(scene_pos)
        z, y, x = self.voxel_at(column, row)
        self.hovered.emit(z, y, x, self.state.hu_at(z, y, x))

    # --- annotations painted over the view (screen pixels) ------------------------------------
    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802 - Qt API
        if self.state.volume is None and self.preview_lines is None:
            return
        painter.save()
        painter.resetTransform()
        view = self.viewport().rect()
        font = QFont()
        font.setPointSize(CORNER_POINT_SIZE)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        line_height = metrics.height()
        # orientation letters
        bold = QFont(font)
        bold.setBold(True)
        bold.setPointSize(CORNER_POINT_SIZE + 1)
        painter.setFont(bold)
        letters = self._letters
        if letters:
            draw_outlined_text(painter, QRectF(4, 0, 20, view.height()), Qt.AlignVCenter | Qt.AlignLeft,
                               letters["left"], LETTER_COLOR)
            draw_outlined_text(painter, QRectF(view.width() - 24, 0, 20, view.height()),
                               Qt.AlignVCenter | Qt.AlignRight, letters["right"], LETTER_COLOR)
            draw_outlined_text(painter, QRectF(0, 2, view.width(), line_height), Qt.AlignHCenter, letters["top"],
                               LETTER_COLOR)
            draw_outlined_text(painter, QRectF(0, view.height() - line_height - 2, view.width(), line_height),
                               Qt.AlignHCenter, letters["bottom"], LETTER_COLOR)
        painter.setFont(font)
        if self.state.volume is None:
            corners = self.preview_lines
        else:
            corners = self.corner_lines(self) if self.corner_lines else self.default_corner_lines()
        for corner, lines in corners.items():
            for i, text in enumerate(lines):
                if corner.startswith("top"):
                    y = 4 + i * line_height
                else:
                    y = view.height() - 4 - (len(lines) - i) * line_height
                align = Qt.AlignLeft if corner.endswith("left") else Qt.AlignRight
                draw_outlined_text(painter, QRectF(6, y, view.width() - 12, line_height), align | Qt.AlignTop, text,
                                   TEXT_COLOR)
        self._paint_scale_bar(painter, view, line_height)
        if self.banner_text:
            top_lines = max([len(lines) for corner, lines in (corners or {}).items() if corner.startswith("top")],
                            default=0)
            self._paint_banner(painter, view, line_height, top_lines)
        painter.restore()

    def set_banner(self, text: str | None) -> None:
        """Show ``text`` across the top of the image (None or "" hides it)."""
        self.banner_text = str(text or "")
        self.viewport().update()

    def _paint_banner(self, painter: QPainter, view, line_height: int, top_lines: int) -> None:
        banner = QFont(painter.font())
        banner.setBold(True)
        painter.setFont(banner)
        height = painter.fontMetrics().height() + 6
        # below the corner text, so that neither hides the other
        band = QRectF(0, 6 + max(top_lines, 1) * line_height, view.width(), height)
        painter.fillRect(band, BANNER_BACKGROUND)
        draw_outlined_text(painter, band, Qt.AlignCenter, self.banner_text, BANNER_COLOR)

    def default_corner_lines(self) -> dict[str, list[str]]:
        """Plane name, plane n/N and the window (the main window gives the axial view more)."""
        return {"top-left": [f"{self.plane.capitalize()} {self.fixed_index + 1}/{self.num_planes}"],
                "bottom-left": [f"W {self.state.width:.0f} L {self.state.level:.0f}"]}

    def scale_bar_mm(self) -> tuple[float, float]:
        """(length in mm, length in screen pixels) of the scale bar: a round length near 1/5 of the view."""
        mm_per_pixel = self.view_box.viewPixelSize()[0]
        if mm_per_pixel <= 0:
            return 0.0, 0.0
        target = self.viewport().width() / 5 * mm_per_pixel
        length = min(SCALE_BAR_CHOICES_MM, key=lambda c: abs(np.log(c / target)) if target > 0 else c)
        return float(length), float(length / mm_per_pixel)

    def _paint_scale_bar(self, painter: QPainter, view, line_height: int) -> None:
        length_mm, length_px = self.scale_bar_mm()
        if length_px < 5:
            return
        right = view.width() - 10
        y = view.height() - 8 - line_height
        for color, width in ((SHADOW_COLOR, 4), (TEXT_COLOR, 2)):
            painter.setPen(QPen(color, width))
            painter.drawLine(QPointF(right - length_px, y), QPointF(right, y))
            painter.drawLine(QPointF(right - length_px, y - 4), QPointF(right - length_px, y + 4))
            painter.drawLine(QPointF(right, y - 4), QPointF(right, y + 4))
        draw_outlined_text(painter, QRectF(right - length_px - 60, y + 2, length_px + 60, line_height),
                           Qt.AlignRight | Qt.AlignTop, f"{length_mm:g} mm", TEXT_COLOR)
