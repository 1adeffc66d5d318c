"""File > Open from PACS: pick a configured server, search studies, list a study's series,
retrieve one (progress bar, cancel) into the PACS cache and open it in the viewer.

All network work runs in background jobs; the dialog never blocks. Errors from the library
(refused association, 401, timeouts, a server gone mid-transfer) are shown as messages; a 401
forgets the stored secret so the next try asks again.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from lesionviewer.pacs import PacsCache, PacsServer, StudyQuery, connect
from lesionviewer.pacs.connect import retrieve_series
from lesionviewer.pacs.errors import AuthenticationError, PacsError, TransferCancelledError
from lesionviewer.pacs.server_list import load_servers, save_servers
from lesionviewer_app import messages
from lesionviewer_app.pacs_credentials import STORE, forget_secret, secret_for
from lesionviewer_app.worker import BackgroundJob, JobFailure, run_in_background

STUDY_COLUMNS = ("Patient ID", "Name", "Date", "Accession", "Description", "Modalities", "Images")
SERIES_COLUMNS = ("Number", "Modality", "Description", "Images")


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[tuple]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem("" if value is None else str(value)))


class PacsDialog(QDialog):
    """The Open from PACS dialog; ``series_ready(path, server)`` is emitted when the user opens a
    retrieved series. ``servers`` defaults to the saved list; ``cache`` to the user's PACS cache."""

    series_ready = Signal(object, object)

    def __init__(self, parent: QWidget | None = None, *, servers: list[PacsServer] | None = None,
                 cache: PacsCache | None = None, ask_secret: Callable | None = None):
        super().__init__(parent)
        self.setWindowTitle("Open from PACS")
        self.resize(900, 600)
        self.servers = list(servers) if servers is not None else load_servers()
        self.cache = cache
        self._ask_secret = ask_secret or (lambda server: secret_for(self, server))
        self.job: BackgroundJob | None = None
        self.studies: list = []
        self.series: list = []
        self.retrieved: Path | None = None

        self.server_box = QComboBox()
        for server in self.servers:
            self.server_box.addItem(f"{server.name} ({server.describe()})")
        self.patient_id, self.patient_name, self.accession = QLineEdit(), QLineEdit(), QLineEdit()
        self.date_from, self.date_to = QLineEdit(), QLineEdit()
        for field in (self.date_from, self.date_to):
            field.setPlaceholderText("YYYYMMDD")
            field.setMaxLength(8)
        self.patient_name.setPlaceholderText("DOE^J*")
        self.modality = QComboBox()
        self.modality.addItems(["", "CT", "MR", "PT", "CR", "DX", "SR"])
        self.modality.setEditable(True)
        self.add_server_button = QPushButton("Add server...")
        self.add_server_button.clicked.connect(self.add_server_dialog)
        server_row = QHBoxLayout()
        server_row.addWidget(self.server_box, 1)
        server_row.addWidget(self.add_server_button)
        form = QFormLayout()
        form.addRow("Server", server_row)
        form.addRow("Patient ID", self.patient_id)
        form.addRow("Patient name", self.patient_name)
        form.addRow("Accession", self.accession)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        form.addRow("Study date", dates)
        form.addRow("Modality", self.modality)

        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.study_table = _table(STUDY_COLUMNS)
        self.study_table.itemSelectionChanged.connect(self._study_chosen)
        self.series_table = _table(SERIES_COLUMNS)
        self.series_table.itemSelectionChanged.connect(self._update_buttons)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_retrieved)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.progress, 1)
        for button in (self.retrieve_button, self.cancel_button, self.open_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.search_button, 0, Qt.AlignRight)
        layout.addWidget(QLabel("Studies"))
        layout.addWidget(self.study_table, 2)
        layout.addWidget(QLabel("Series"))
        layout.addWidget(self.series_table, 1)
        layout.addLayout(buttons)
        if not self.servers:
            self.status.setText("No PACS server is configured (see the README: PACS).")
        self._update_buttons()

    # -- servers -------------------------------------------------------------------------------
    def add_server_dialog(self) -> None:
        """Ask for a new server's details, then add and save it."""
        from lesionviewer_app.pacs_server_editor import ServerEditor

        editor = ServerEditor(self)
        if editor.exec():
            self.add_server(editor.to_server())

    def add_server(self, server: PacsServer) -> None:
        """Add ``server`` (replacing one of the same name), save the list and choose it."""
        self.servers = [s for s in self.servers if s.name != server.name] + [server]
        save_servers(self.servers)
        self.server_box.clear()
        for s in self.servers:
            self.server_box.addItem(f"{s.name} ({s.describe()})")
        self.server_box.setCurrentIndex(len(self.servers) - 1)
        self.status.setText(f"Server {server.name} saved.")
        self._update_buttons()

    # -- helpers -------------------------------------------------------------------------------
    @property
    def server(self) -> PacsServer | None:
        """The server chosen in the list."""
        index = self.server_box.currentIndex()
        return self.servers[index] if 0 <= index < len(self.servers) else None

    def _client(self):
        server = self.server
        return connect(server, self._ask_secret(server))

    @property
    def busy(self) -> bool:
        """True while a search or retrieve runs."""
        return self.job is not None and self.job.is_running

    def _update_buttons(self) -> None:
        busy = self.busy
        self.search_button.setEnabled(not busy and self.server is not None)
        self.retrieve_button.setEnabled(not busy and self._chosen_series() is not None)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(not busy and self.retrieved is not None)

    def _run(self, work, on_finished, label: str) -> None:
        self.status.setText(label)
        self.job = run_in_background(lambda ctx: work(ctx), "pacs", on_finished=on_finished,
                                     on_failed=self._failed, on_progress=self._progress,
                                     on_done=self._update_buttons)
        self._update_buttons()

    def _failed(self, failure: JobFailure) -> None:
        self.progress.setVisible(False)
        error = failure.error
        if isinstance(error, TransferCancelledError):
            self.status.setText("Cancelled; nothing was kept.")
            return
        if isinstance(error, AuthenticationError) and self.server is not None:
            forget_secret(self.server, STORE)
        self.status.setText("Failed.")
        if isinstance(error, (PacsError, ValueError)):
            messages.show_warning(self, "PACS", str(error))
        else:
            messages.show_error(self, "PACS", failure)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, max(total, 0))
        self.progress.setValue(done)

    # -- actions -------------------------------------------------------------------------------
    def query(self) -> StudyQuery:
        """The search terms from the form (raises ValueError for a malformed date)."""
        return StudyQuery(patient_id=self.patient_id.text().strip(), patient_name=self.patient_name.text().strip(),
                          accession=self.accession.text().strip(), date_from=self.date_from.text().strip(),
                          date_to=self.date_to.text().strip(), modality=self.modality.currentText().strip())

    def search(self) -> None:
        """Search studies on the chosen server (in the background)."""
        if self.server is None or self.busy:
            return
        try:
            query = self.query()
        except ValueError as error:
            messages.show_warning(self, "PACS search", str(error))
            return
        client = self._client()
        self.series_table.setRowCount(0)
        self._run(lambda ctx: client.find_studies(query), self._show_studies, "Searching...")

    def _show_studies(self, studies: list) -> None:
        self.studies = studies
        _fill(self.study_table, [(s.patient_id, s.patient_name, s.study_date, s.accession, s.description,
                                  s.modalities, s.instances) for s in studies])
        self.status.setText(f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} found.")

    def _study_chosen(self) -> None:
        rows = self.study_table.selectionModel().selectedRows()
        if not rows or self.busy:
            return
        study = self.studies[rows[0].row()]
        client = self._client()
        self._run(lambda ctx: client.find_series(study.study_uid), self._show_series, "Listing series...")

    def _show_series(self, series: list) -> None:
        self.series = sorted(series, key=lambda s: (s.number is None, s.number or 0))
        _fill(self.series_table, [(s.number, s.modality, s.description, s.instances) for s in self.series])
        self.status.setText(f"{len(series)} series.")
        if self.series:
            self.series_table.selectRow(0)

    def _chosen_series(self):
        rows = self.series_table.selectionModel().selectedRows() if self.series_table.selectionModel() else []
        return self.series[rows[0].row()] if rows and rows[0].row() < len(self.series) else None

    def retrieve(self) -> None:
        """Retrieve the chosen series into the cache (progress bar, cancel)."""
        chosen = self._chosen_series()
        if chosen is None or self.busy:
            return
        client = self._client()
        cache = self.cache if self.cache is not None else PacsCache()
        self.retrieved = None
        self.progress.setRange(0, chosen.instances or 0)
        self.progress.setValue(0)
        self.progress.setVisible(True)

        def work(ctx):
            return retrieve_series(client, chosen.study_uid, chosen.series_uid, cache,
                                   expected=chosen.instances or 0, progress=ctx.progress, cancel=ctx.cancel_event)

        self._run(work, self._retrieved, f"Retrieving {chosen.instances or '?'} images...")

    def _retrieved(self, folder: Path) -> None:
        self.retrieved = folder
        self.progress.setVisible(False)
        self.status.setText("Retrieved; ready to open.")
        self._update_buttons()

    def cancel(self) -> None:
        """Cancel the running search or retrieve."""
        if self.job is not None:
            self.job.cancel()

    def open_retrieved(self) -> None:
        """Hand the retrieved series to the viewer and close."""
        if self.retrieved is not None:
            self.series_ready.emit(self.retrieved, self.server)
            self.accept()

    def reject(self) -> None:  # Esc or the window's close button: stop any transfer first
        self.cancel()
        super().reject()
