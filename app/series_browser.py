"""The series browser: a folder with several series shows patient > study > series to choose from.

Each series row shows its description, slice count, size and spacing (from the headers that
``lesionviewer.io.find_series`` read) and, when selected, a thumbnail of its middle slice decoded
in the background by the worker.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout)

from lesionviewer.imaging.windowing import window as window_hu
from lesionviewer_app.worker import run_in_background

THUMBNAIL_SIZE = 160


def series_columns(info: Any) -> list[str]:
    """Text of a series row: description, slices, size, spacing (z x y x x mm)."""
    size = f"{info.image_size[0]} x {info.image_size[1]}" if getattr(info, "image_size", None) else ""
    spacing = " x ".join(f"{s:.3g}" for s in info.spacing) + " mm" if getattr(info, "spacing", None) else ""
    name = info.series_description or f"series {info.series_number or info.series_uid or '?'}"
    return [name, str(info.num_slices), size, spacing]


def thumbnail_pixmap(hu: np.ndarray) -> QPixmap:
    """A soft-tissue-windowed thumbnail of one HU slice."""
    image = np.ascontiguousarray(window_hu(hu, 400, 40, out="uint8"))
    height, width = image.shape
    qimage = QImage(image.data, width, height, width, QImage.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(THUMBNAIL_SIZE, THUMBNAIL_SIZE, Qt.KeepAspectRatio,
                                            Qt.SmoothTransformation)


def middle_slice(info: Any) -> np.ndarray | None:
    """The middle slice of a series for its thumbnail (None where it cannot be decoded)."""
    headers = getattr(info, "headers", None)
    if headers:
        try:
            from lesionviewer.io.dicom_pixels import decode_slice_into

            header = headers[len(headers) // 2]
            out = np.zeros((header.rows, header.columns), np.int16)
            decode_slice_into(header, out)
            return out
        except Exception:  # noqa: BLE001 - a thumbnail is optional
            return None
    return None


class SeriesBrowser(QDialog):
    """Pick one of several series; ``chosen`` holds the selection after ``exec()``."""

    def __init__(self, series: list[Any], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Choose a series")
        self.resize(820, 420)
        self.series = list(series)
        self.chosen: Any = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Patient / study / series", "Slices", "Size", "Spacing"])
        self.thumbnail = QLabel("select a series")
        self.thumbnail.setFixedSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        self.thumbnail.setAlignment(Qt.AlignCenter)
        patients: dict[str, QTreeWidgetItem] = {}
        studies: dict[tuple[str, str], QTreeWidgetItem] = {}
        for index, info in enumerate(self.series):
            patient_key = info.patient_id or info.patient_name or "(unknown patient)"
            patient = patients.get(patient_key)
            if patient is None:
                patient = QTreeWidgetItem(self.tree, [f"{info.patient_name or 'Patient'} ({patient_key})"])
                patients[patient_key] = patient
            study_key = (patient_key, info.study_uid or "")
            study = studies.get(study_key)
            if study is None:
                label = " ".join(filter(None, [info.study_description or "Study", info.study_date]))
                study = QTreeWidgetItem(patient, [label])
                studies[study_key] = study
            item = QTreeWidgetItem(study, series_columns(info))
            item.setData(0, Qt.UserRole, index)
        self.tree.expandAll()
        for column in range(4):
            self.tree.resizeColumnToContents(column)
        self.tree.currentItemChanged.connect(self._selected)
        self.tree.itemDoubleClicked.connect(lambda item, _: self._accept_item(item))
        buttons = QDialogButtonBox(QDialogButtonBox.Open | QDialogButtonBox.Cancel)
        buttons.accepted.connect(lambda: self._accept_item(self.tree.currentItem()))
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.tree, 1)
        top.addWidget(self.thumbnail)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)
        first = self._series_items()[0] if self._series_items() else None
        if first is not None:
            self.tree.setCurrentItem(first)

    def _series_items(self) -> list[QTreeWidgetItem]:
        items = []
        stack = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop(0)
            if item.data(0, Qt.UserRole) is not None:
                items.append(item)
            stack.extend(item.child(i) for i in range(item.childCount()))
        return items

    def _selected(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        index = None if item is None else item.data(0, Qt.UserRole)
        if index is None:
            return
        info = self.series[index]
        self.thumbnail.setText("...")
        run_in_background(lambda ctx: middle_slice(info), "thumbnail",
                          on_finished=lambda hu, i=index: self._show_thumbnail(i, hu))

    def _show_thumbnail(self, index: int, hu: np.ndarray | None) -> None:
        current = self.tree.currentItem()
        if current is None or current.data(0, Qt.UserRole) != index:
            return
        if hu is None:
            self.thumbnail.setText("no preview")
        else:
            self.thumbnail.setPixmap(thumbnail_pixmap(hu))

    def _accept_item(self, item: QTreeWidgetItem | None) -> None:
        if item is not None and item.data(0, Qt.UserRole) is not None:
            self.chosen = self.series[item.data(0, Qt.UserRole)]
            self.accept()


def choose_series(parent, series: list[Any]) -> Any:
    """Show the browser; the chosen series or None (cancelled)."""
    browser = SeriesBrowser(series, parent)
    return browser.chosen if browser.exec() == QDialog.Accepted else None
