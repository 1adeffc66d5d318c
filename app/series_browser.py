"""The series browser: a folder with several series shows patient > study > series to choose from.

Each series row shows its description, slice count, size and spacing (from the headers that
``lesionviewer.io.find_series`` read) and, when selected, a thumbnail of its middle slice decoded
in the background by the worker.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from lesionviewer.imaging.windowing import window as window_hu
from lesionviewer_app.worker import run_in_background

THUMBNAIL_SIZE = 160


def series_name(info: Any) -> str:
    """The name column of a series row: description (or number / UID), and the note of a series part.

    Example:
        >>> from lesionviewer.io import SeriesInfo
        >>> series_name(SeriesInfo(series_number=2, note="part 1 of 2 of one series: image type DERIVED"))
        'series 2 [part 1 of 2 of one series: image type DERIVED]'
    """
    name = info.series_description or f"series {info.series_number or info.series_uid or '?'}"
    note = getattr(info, "note", "")
    return f"{name} [{note}]" if note else name


def series_columns(info: Any, name: str | None = None) -> list[str]:
    """Text of a series row: description, slices, size, spacing (z x y x x mm; a range when uneven).

    Example:
        >>> from lesionviewer.io import SeriesInfo
        >>> series_columns(SeriesInfo(series_description="Head", num_slices=28, spacing=(6.2, 0.5, 0.5),
        ...                           spacing_range=(4.22, 7.38)))
        ['Head', '28', '', 'uneven 4.22-7.38 x 0.5 x 0.5 mm']
    """
    size = f"{info.image_size[0]} x {info.image_size[1]}" if getattr(info, "image_size", None) else ""
    spacing = " x ".join(f"{s:.3g}" for s in info.spacing) + " mm" if getattr(info, "spacing", None) else ""
    steps = getattr(info, "spacing_range", None)
    if steps and getattr(info, "spacing", None):
        spacing = f"uneven {steps[0]:.3g}-{steps[1]:.3g} x " + " x ".join(f"{s:.3g}" for s in info.spacing[1:]) + " mm"
    return [name if name is not None else series_name(info), str(info.num_slices), size, spacing]


def row_names(series: list[Any]) -> list[str]:
    """The name column for every series; two rows never read the same without saying what tells them apart.

    Example:
        >>> from lesionviewer.io import SeriesInfo
        >>> row_names([SeriesInfo(series_number=2, files=["a/1.dcm"]), SeriesInfo(series_number=2, files=["b/9.dcm"])])
        ['series 2 [same label as another series; first file 1.dcm]', 'series 2 [same label as another series; first file 9.dcm]']
    """
    from lesionviewer.io.series_info import distinct_labels

    return distinct_labels(series, [series_name(info) for info in series])


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
        self.original = list(series)
        self.series = list(series)
        self.chosen: Any = None
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Patient / study / series", "Slices", "Size", "Spacing"])
        self.thumbnail = QLabel("select a series")
        self.thumbnail.setFixedSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        self.thumbnail.setAlignment(Qt.AlignCenter)
        self.split_box = QCheckBox("Split series at slice-spacing changes")
        self.split_box.setToolTip("A series whose slice step changes opens as one volume with every slice at its "
                                  "true position; tick to list each evenly spaced part on its own.")
        self.split_box.setEnabled(any(getattr(info, "spacing_range", None) for info in self.original))
        self.split_box.toggled.connect(self._split_toggled)
        self._populate()
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
        layout.addWidget(self.split_box)
        layout.addWidget(buttons)
        self._select_first()

    def _split_toggled(self, split: bool) -> None:
        from lesionviewer.io.series_split import split_uneven_series

        self.series = split_uneven_series(self.original) if split else list(self.original)
        self._populate()
        self._select_first()

    def _select_first(self) -> None:
        items = self._series_items()
        if items:
            self.tree.setCurrentItem(items[0])

    def _populate(self) -> None:
        self.tree.clear()
        patients: dict[str, QTreeWidgetItem] = {}
        studies: dict[tuple[str, str], QTreeWidgetItem] = {}
        names = row_names(self.series)
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
            item = QTreeWidgetItem(study, series_columns(info, names[index]))
            item.setData(0, Qt.UserRole, index)
            if getattr(info, "note", ""):
                item.setToolTip(0, f"This row is {info.note}: the files share one SeriesInstanceUID "
                                   f"but cannot form one volume, or you asked to split the series.")
        self.tree.expandAll()
        for column in range(4):
            self.tree.resizeColumnToContents(column)

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
        # the preview is decoded in the background: the browser may be closed and deleted by the time it arrives
        if not (shiboken6.isValid(self) and shiboken6.isValid(self.tree) and shiboken6.isValid(self.thumbnail)):
            return
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
