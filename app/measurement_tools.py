"""Ruler and RECIST bidirectional tools on the axial view; the measurements live in the review session.

With a tool active, left drag draws instead of windowing. Ruler: one drag = one segment. RECIST:
the first drag is the long axis, the second the short axis (perpendicular by the radiologist's
judgement, as in every viewer); the pair is then stored. Lengths come from the library
(``Measurement.ruler`` / ``Measurement.recist``), so the GUI never does millimetre arithmetic.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsObject

from lesionviewer.review.measurement import Measurement

TOOLS = (None, "ruler", "recist")
MEASUREMENT_COLOR = QColor(0, 230, 160)
DRAFT_COLOR = QColor(255, 255, 255)


class MeasurementOverlay(QGraphicsObject):
    """Draws segments ``((x1, y1), (x2, y2), label, draft)`` in voxel coordinates, labels in screen pixels."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._bounds = QRectF(0, 0, 1, 1)
        self.segments: list[tuple[tuple[float, float], tuple[float, float], str, bool]] = []
        self._font = QFont()
        self._font.setPointSize(9)

    def set_image_size(self, width: int, height: int) -> None:
        self.prepareGeometryChange()
        self._bounds = QRectF(0, 0, float(width), float(height))

    def set_segments(self, segments) -> None:
        self.segments = list(segments)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: ARG002 - Qt API
        labels = []
        for p1, p2, label, draft in self.segments:
            pen = QPen(DRAFT_COLOR if draft else MEASUREMENT_COLOR, 1.5)
            pen.setCosmetic(True)
            if draft:
                pen.setStyle(Qt.DashLine)
            painter.setPen(pen)
            a, b = QPointF(*p1), QPointF(*p2)
            painter.drawLine(a, b)
            if label:
                labels.append((painter.transform().map(b), label))
        if labels:
            painter.save()
            painter.resetTransform()
            painter.setFont(self._font)
            painter.setPen(MEASUREMENT_COLOR)
            for point, text in labels:
                painter.drawText(point + QPointF(4, -4), text)
            painter.restore()


class MeasurementTools:
    """The active tool, the drawing in progress, and the drawing of stored measurements."""

    def __init__(self, view, bridge):
        self.view = view
        self.bridge = bridge
        self.tool: str | None = None
        self.overlay = MeasurementOverlay(view.image_item)
        self.overlay.setZValue(20)
        self._start: tuple[float, float] | None = None
        self._draft: tuple[tuple[float, float], tuple[float, float]] | None = None
        self._long_axis: tuple[tuple[float, float], tuple[float, float]] | None = None
        #: Where a refused measurement's reason goes (the main window shows it in the status bar).
        self.report: Callable[[str], object] = lambda text: None
        view.drag_handler = self.drag

    def set_tool(self, tool: str | None) -> None:
        """``None`` (window/level drag), ``"ruler"`` or ``"recist"``."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; known: {TOOLS}")
        self.tool = tool
        self._start = self._draft = self._long_axis = None
        self.refresh()

    def set_image_size(self, width: int, height: int) -> None:
        self.overlay.set_image_size(width, height)

    def drag(self, stage: str, x: float, y: float) -> bool:
        """Handle a left drag in voxel coordinates; False when no tool is active (window/level)."""
        session = self.bridge.session
        volume = self.view.state.volume
        if self.tool is None or session is None or volume is None:
            return False
        if stage == "start":
            self._start = (x, y)
        if self._start is None:
            return True
        self._draft = (self._start, (x, y))
        if stage == "finish":
            segment, self._draft, self._start = self._draft, None, None
            if segment[0] == segment[1]:
                self.refresh()
                return True
            slice_index = self.view.fixed_index
            try:
                if self.tool == "ruler":
                    session.add_measurement(Measurement.ruler(volume, slice_index, *segment))
                elif self._long_axis is None:
                    self._long_axis = segment
                else:
                    long_axis, self._long_axis = self._long_axis, None
                    session.add_measurement(Measurement.recist(volume, slice_index, long_axis, segment))
            except ValueError as err:  # e.g. no usable pixel spacing: say why, keep the session saving
                self.report(f"Measurement not kept: {err}")
        self.refresh()
        return True

    def refresh(self) -> None:
        """Redraw the stored measurements of the shown slice and the drawing in progress."""
        session = self.bridge.session
        segments = []
        if session is not None and self.view.state.volume is not None:
            for m in session.measurements_on_slice(self.view.fixed_index):
                points = m.points
                for i, length in enumerate(m.lengths_mm):
                    segments.append((points[2 * i], points[2 * i + 1], f"{length:.1f} mm", False))
        for segment in (self._long_axis, self._draft):
            if segment is not None:
                segments.append((segment[0], segment[1], "", True))
        self.overlay.set_segments(segments)
