"""The findings panel: confidence slider, findings table, accept/reject/note, measurements list.

Everything shown is read from the review session through the :class:`ReviewBridge`; every click
is a session call (which saves at once). Keys n/p/a/x work here as in the image views.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QSlider, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from lesionviewer.review.status import Status
from lesionviewer_app.findings_overlay import score_color
from lesionviewer_app.review_bridge import ReviewBridge

COLUMNS = ("Id", "Slice", "x, y mm", "Size mm", "Axes mm", "Score", "Status", "Note")
COLUMN_TIPS = ("finding number", "slice (1 = first; the CSV exports' slice_number, slice_index + 1)", "centre, patient x and y (mm)", "box width x height (mm)",
               "long / short axis (mm)", "detector confidence", "your decision", "your note")
SLIDER_STEPS = 100
STATUS_COLORS = {"accepted": QColor(20, 140, 40), "rejected": QColor(140, 140, 140)}  # pending: normal text


class FindingsTable(QTableWidget):
    """A read-only table whose letter keys go to the main window's review shortcuts."""

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.key_handler = None

    def keyPressEvent(self, ev):  # noqa: N802 - Qt API
        if self.key_handler is not None and ev.text() and self.key_handler(ev):
            ev.accept()
            return
        super().keyPressEvent(ev)


class FindingsPanel(QWidget):
    """Slider + table + actions over the current review session."""

    #: a finding id the user picked (the main window jumps to it)
    finding_chosen = Signal(str)
    #: a measurement id the user picked
    measurement_chosen = Signal(str)

    def __init__(self, bridge: ReviewBridge, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.current_id: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        slider_row = QHBoxLayout()
        slider_row.addWidget(QLabel("Confidence"))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setFocusPolicy(Qt.ClickFocus)
        self.slider.valueChanged.connect(self._slider_moved)
        slider_row.addWidget(self.slider, 1)
        self.threshold_label = QLabel()
        self.threshold_label.setMinimumWidth(150)
        slider_row.addWidget(self.threshold_label)
        layout.addLayout(slider_row)

        self.table = FindingsTable()
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)  # the note takes what is left
        header.setMinimumSectionSize(24)
        self.table.cellClicked.connect(self._row_clicked)
        self.table.currentCellChanged.connect(lambda row, *_: self._row_clicked(row, 0))
        layout.addWidget(self.table, 3)

        actions = QHBoxLayout()
        self.previous_button = QPushButton("< Prev (p)")
        self.next_button = QPushButton("Next (n) >")
        self.accept_button = QPushButton("Accept (a)")
        self.reject_button = QPushButton("Reject (x)")
        for button in (self.previous_button, self.next_button, self.accept_button, self.reject_button):
            button.setFocusPolicy(Qt.NoFocus)
            actions.addWidget(button)
        self.accept_button.clicked.connect(lambda: self.set_status(Status.ACCEPTED))
        self.reject_button.clicked.connect(lambda: self.set_status(Status.REJECTED))
        self.previous_button.clicked.connect(lambda: self.step(forward=False))
        self.next_button.clicked.connect(lambda: self.step(forward=True))
        layout.addLayout(actions)

        note_row = QHBoxLayout()
        note_row.addWidget(QLabel("Note"))
        self.note_field = QLineEdit()
        self.note_field.setPlaceholderText("a note on the selected finding (Enter to keep)")
        self.note_field.editingFinished.connect(self._note_edited)
        note_row.addWidget(self.note_field, 1)
        layout.addLayout(note_row)

        layout.addWidget(QLabel("Measurements (ruler, RECIST)"))
        self.measurements = QListWidget()
        self.measurements.itemClicked.connect(lambda item: self.measurement_chosen.emit(item.data(Qt.UserRole)))
        layout.addWidget(self.measurements, 1)
        self.delete_measurement_button = QPushButton("Delete measurement")
        self.delete_measurement_button.setFocusPolicy(Qt.NoFocus)
        self.delete_measurement_button.clicked.connect(self._delete_measurement)
        layout.addWidget(self.delete_measurement_button)

        bridge.changed.connect(self.refresh)
        self.refresh()

    # --- reading the session ------------------------------------------------------------------
    @property
    def session(self):
        return self.bridge.session

    def visible_ids(self) -> list[str]:
        """Ids of the rows shown (the findings visible at the threshold)."""
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    def refresh(self, event=None) -> None:  # noqa: ARG002 - any change redraws
        """Rebuild the table, slider and measurement list from the session."""
        session = self.session
        enabled = session is not None
        for widget in (self.slider, self.table, self.note_field, self.accept_button, self.reject_button,
                       self.next_button, self.previous_button, self.measurements):
            widget.setEnabled(enabled)
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        self.measurements.clear()
        if session is None:
            self.threshold_label.setText("no study")
            self.table.blockSignals(False)
            return
        self.slider.blockSignals(True)
        self.slider.setValue(round(session.threshold * SLIDER_STEPS))
        self.slider.blockSignals(False)
        total = len(session.findings())
        self.threshold_label.setText(f"{session.count_above()} of {total} at >= {session.threshold:.2f}")
        visible = session.visible_findings()
        self.table.setRowCount(len(visible))
        selected_row = -1
        for row, reviewed in enumerate(visible):
            f = reviewed.finding
            cells = (reviewed.id, str(f.slice_index + 1), f"{f.center_mm[0]:.0f}, {f.center_mm[1]:.0f}",
                     f"{f.width_mm:.0f}x{f.height_mm:.0f}", f"{f.long_axis_mm:.1f}/{f.short_axis_mm:.1f}",
                     f"{f.score:.2f}", reviewed.status.value, reviewed.note)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 5:
                    # the overlay's colour as a swatch behind dark text: yellow text on white is unreadable
                    swatch = score_color(f.score)
                    swatch.setAlpha(150)
                    item.setBackground(swatch)
                    item.setForeground(QColor(0, 0, 0))
                if column == 6 and reviewed.status.value in STATUS_COLORS:
                    item.setForeground(STATUS_COLORS[reviewed.status.value])
                self.table.setItem(row, column, item)
            if reviewed.id == self.current_id:
                selected_row = row
        if selected_row >= 0:
            self.table.selectRow(selected_row)
        self.table.blockSignals(False)
        for m in session.measurements():
            lengths = " x ".join(f"{v:.1f}" for v in m.lengths_mm)
            item = QListWidgetItem(f"{m.id}  {m.kind}  slice {m.slice_index + 1}  {lengths} mm  {m.note}")
            item.setData(Qt.UserRole, m.id)
            self.measurements.addItem(item)
        self._show_note()

    def _show_note(self) -> None:
        session = self.session
        note = ""
        if session is not None and self.current_id is not None:
            try:
                note = session.finding(self.current_id).note
            except KeyError:
                self.current_id = None
        if not self.note_field.hasFocus():
            self.note_field.setText(note)

    # --- user actions -------------------------------------------------------------------------
    def _slider_moved(self, value: int) -> None:
        if self.session is not None:
            self.session.set_threshold(value / SLIDER_STEPS)

    def _row_clicked(self, row: int, column: int) -> None:  # noqa: ARG002 - Qt passes the column too
        if row < 0 or row >= self.table.rowCount():
            return
        self.choose(self.table.item(row, 0).text())

    def choose(self, finding_id: str | None) -> None:
        """Make ``finding_id`` the current finding (selects its row; the main window jumps to it)."""
        self.current_id = finding_id
        if finding_id is None:
            return
        ids = self.visible_ids()
        if finding_id in ids:
            self.table.blockSignals(True)
            self.table.selectRow(ids.index(finding_id))
            self.table.blockSignals(False)
        self._show_note()
        self.finding_chosen.emit(finding_id)

    def step(self, forward: bool, slice_index: int = 0) -> None:
        """Go to the next (or previous) visible finding."""
        session = self.session
        if session is None:
            return
        if self.current_id is not None and self.current_id not in self.visible_ids():
            self.current_id = None
        target = (session.next_finding if forward else session.previous_finding)(slice_index, self.current_id)
        if target is not None:
            self.choose(target.id)

    def set_status(self, status: Status) -> None:
        """Accept or reject the current finding (a second press sets it back to pending)."""
        if self.session is None or self.current_id is None:
            return
        current = self.session.finding(self.current_id).status
        self.session.set_status(self.current_id, Status.PENDING if current is status else status)

    def _note_edited(self) -> None:
        if self.session is not None and self.current_id is not None:
            self.session.set_note(self.current_id, self.note_field.text())

    def _delete_measurement(self) -> None:
        item = self.measurements.currentItem()
        if self.session is not None and item is not None:
            self.session.remove_measurement(item.data(Qt.UserRole))
