"""Detection boxes drawn over a slice: one graphics item paints them all, coloured by score.

One item instead of one per box keeps scrolling fast with many boxes: changing slice replaces a
list, and Qt repaints a single item. Boxes are given in image pixel coordinates (the item is a
child of the image, so it shares its millimetre scaling); lines and labels stay the same size on
screen whatever the zoom.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QStaticText, QTransform
from PySide6.QtWidgets import QGraphicsObject


def score_color(score: float) -> QColor:
    """Yellow for a low score through orange to red for a high one (fully opaque)."""
    score = min(max(float(score), 0.0), 1.0)
    return QColor.fromHsvF((1.0 - score) * 60.0 / 360.0, 1.0, 1.0)


@dataclass(frozen=True)
class OverlayBox:
    """One box to draw: corners in pixels, score, an optional label, and its review status."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str = ""
    status: str = "pending"
    selected: bool = False


#: Scores are coloured in steps of 1/COLOR_STEPS (one pen per step).
COLOR_STEPS = 20
STATUS_STYLE = {"accepted": Qt.SolidLine, "rejected": Qt.DotLine, "pending": Qt.SolidLine}


class BoxOverlay(QGraphicsObject):
    """Paints a list of :class:`OverlayBox` over an image of ``width`` x ``height`` pixels.

    Pens are made once per colour step and the rectangles of one pen are drawn in one call, which
    keeps a slice with 50 boxes well within a frame.
    """

    def __init__(self, parent=None, line_width: float = 1.6, show_labels: bool = True):
        super().__init__(parent)
        self._boxes: list[OverlayBox] = []
        self._groups: list[tuple[QPen, list[QRectF]]] = []
        self._labels: list[tuple[QPointF, str, QColor]] = []
        self._bounds = QRectF(0, 0, 1, 1)
        self._line_width = line_width
        self._show_labels = show_labels
        self._pens: dict[tuple, QPen] = {}
        self._font = QFont()
        self._font.setPointSize(9)
        self._font.setBold(True)
        self._shadow = QColor(0, 0, 0, 200)
        self._texts: dict[str, QStaticText] = {}  # laid out once: scores repeat from slice to slice

    def set_image_size(self, width: int, height: int) -> None:
        """The image the boxes live on (the item's bounding rectangle)."""
        self.prepareGeometryChange()
        self._bounds = QRectF(0, 0, float(width), float(height))

    def _pen(self, score: float, status: str, selected: bool) -> QPen:
        key = (round(min(max(score, 0.0), 1.0) * COLOR_STEPS), status, selected)
        pen = self._pens.get(key)
        if pen is None:
            color = score_color(key[0] / COLOR_STEPS)
            if status == "rejected":
                color.setAlphaF(0.55)
            pen = QPen(color, self._line_width * (2.0 if selected else 1.0))
            pen.setCosmetic(True)  # width in screen pixels, whatever the zoom
            pen.setStyle(STATUS_STYLE.get(status, Qt.SolidLine))
            self._pens[key] = pen
        return pen

    def set_boxes(self, boxes: list[OverlayBox]) -> None:
        """Replace the boxes shown (repaints once)."""
        if boxes == self._boxes:
            return
        self._boxes = list(boxes)
        groups: dict[int, tuple[QPen, list[QRectF]]] = {}
        self._labels = []
        for box in self._boxes:
            pen = self._pen(box.score, box.status, box.selected)
            groups.setdefault(id(pen), (pen, []))[1].append(QRectF(QPointF(box.x1, box.y1), QPointF(box.x2, box.y2)))
            if self._show_labels and box.label:
                self._labels.append((QPointF(box.x1, box.y1), box.label, pen.color()))
        self._groups = list(groups.values())
        self.update()

    @property
    def boxes(self) -> list[OverlayBox]:
        """The boxes shown now."""
        return list(self._boxes)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: ARG002 - Qt API
        if not self._groups:
            return
        painter.setBrush(Qt.NoBrush)
        for pen, rects in self._groups:
            painter.setPen(pen)
            painter.drawRects(rects)
        if self._labels:
            # Labels are drawn in screen pixels so they stay readable at every zoom.
            transform = painter.transform()
            painter.save()
            painter.resetTransform()
            painter.setFont(self._font)
            for point, text, color in self._labels:
                static = self._texts.get(text)
                if static is None:
                    static = self._texts[text] = QStaticText(text)
                    static.prepare(QTransform(), self._font)
                at = transform.map(point) - QPointF(0, 16)
                painter.setPen(self._shadow)
                painter.drawStaticText(at + QPointF(1, 1), static)
                painter.setPen(color)
                painter.drawStaticText(at, static)
            painter.restore()
