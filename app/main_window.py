"""The main window: the three linked views, the findings panel, menus, tool bar and status bar.

It wires library objects to widgets and holds no review state itself: the study is in the
:class:`ViewState`, findings and decisions in the review session (which saves itself), and long
work goes through the one worker helper (loading, detection, then the study's risk score).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QInputDialog, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QToolBar)

from lesionviewer.io import Volume
from lesionviewer.review.session import ReviewSession
from lesionviewer.review.status import Status
from lesionviewer_app import messages
from lesionviewer_app.detection_runner import DetectionRunner, DetectorFactory
from lesionviewer_app.findings_overlay import OverlayBox
from lesionviewer_app.findings_panel import FindingsPanel
from lesionviewer_app.detection_estimate import ESTIMATING, describe_remaining
from lesionviewer_app.loading import (OPEN_FILE_FILTER, SlicePreview, call_in_job, library_loader,
                                      library_series_finder, load_in_job, load_series_in_job, patient_name,
                                      series_description)
from lesionviewer_app.measurement_tools import MeasurementTools
from lesionviewer.detection.model_status import demonstration_reason
from lesionviewer_app.model_files import is_risk_model, read_card
from lesionviewer_app.reformat_view import ReformatView
from lesionviewer_app.review_bridge import ReviewBridge
from lesionviewer_app.risk_panel import RiskPanel, describe_card
from lesionviewer_app.risk_runner import RiskModelFactory, RiskRunner
from lesionviewer_app.settings import DEVICES, ViewerSettings
from lesionviewer_app.slice_view import SliceView
from lesionviewer_app.view_state import ViewState
from lesionviewer_app.window_level import WindowLevelControls, preset_for_key
from lesionviewer_app.worker import BackgroundJob, run_in_background, running_jobs

APP_TITLE = "LesionViewer"


class MainWindow(QMainWindow):
    """The viewer. ``loader``, ``series_finder``, ``detector_factory`` and ``risk_model_factory``
    default to the library's; tests pass their own."""

    def __init__(self, settings: ViewerSettings | None = None, *,
                 loader: Callable[..., Volume] | None = None,
                 series_finder: Callable[[Path], list] | None = None,
                 detector_factory: DetectorFactory | None = None,
                 risk_model_factory: RiskModelFactory | None = None,
                 review_folder: str | Path | None = None):
        super().__init__()
        self.settings = settings or ViewerSettings.load()
        self.loader = loader
        self.series_finder = series_finder
        self.review_folder = review_folder
        self.source_path: Path | None = None
        self.load_job: BackgroundJob | None = None
        self.view3d = None
        self._view3d_dock: QDockWidget | None = None
        self._fresh_run = False
        self._detect_done = (0, 0)
        self._detect_left = ESTIMATING
        self._device_text = ""
        self._detection_active = False
        self._load_serial = 0
        #: the study whose risk runs once detection is over (None: no risk run is waiting)
        self._risk_after_detection: Volume | None = None
        #: what the risk job is for: the volume it scores, or "card" (loading the model for its card)
        self._risk_target: object = None
        self._show_card_when_ready = False

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.resize(1500, 900)

        self.state = ViewState(self)
        self.bridge = ReviewBridge(self)
        self.runner = DetectionRunner(detector_factory, self)
        self.runner.device = self.settings.device
        if self.settings.model_path and Path(self.settings.model_path).is_file():
            self.runner.model_path = self.settings.model_path
        self.risk_runner = RiskRunner(risk_model_factory, self)
        self.risk_runner.device = self.settings.device
        if self.settings.risk_model_path and Path(self.settings.risk_model_path).is_file():
            self.risk_runner.model_path = self.settings.risk_model_path

        self.axial = SliceView(self.state, "axial")
        self.coronal = ReformatView(self.state, "coronal")
        self.sagittal = ReformatView(self.state, "sagittal")
        self.views = (self.axial, self.coronal, self.sagittal)
        self.tools = MeasurementTools(self.axial, self.bridge)
        self.tools.report = lambda text: self.statusBar().showMessage(text, 10000)
        self.axial.corner_lines = self._axial_corner_lines
        for view in self.views:
            view.key_handler = self.handle_key
            view.hovered.connect(self._hovered)
            view.refresh_overlay = lambda v=view: self._refresh_overlay_of(v)  # type: ignore[method-assign]

        reformats = QSplitter(Qt.Vertical)
        reformats.addWidget(self.coronal)
        reformats.addWidget(self.sagittal)
        central = QSplitter(Qt.Horizontal)
        central.addWidget(self.axial)
        central.addWidget(reformats)
        central.setStretchFactor(0, 3)
        central.setStretchFactor(1, 1)
        central.setSizes([900, 300])
        self.setCentralWidget(central)

        self.panel = FindingsPanel(self.bridge)
        self.panel.table.key_handler = self.handle_key
        self.panel.finding_chosen.connect(self.jump_to_finding)
        self.panel.measurement_chosen.connect(self._jump_to_measurement)
        dock = QDockWidget("Findings", self)
        dock.setObjectName("findings")
        dock.setWidget(self.panel)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [470], Qt.Horizontal)
        self.risk_panel = RiskPanel()
        self.risk_panel.compute_requested.connect(self.run_risk)
        self.risk_panel.card_requested.connect(self.show_risk_card)
        self.risk_dock = QDockWidget("Risk", self)
        self.risk_dock.setObjectName("risk")
        self.risk_dock.setWidget(self.risk_panel)
        self.risk_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.risk_dock)
        self.splitDockWidget(dock, self.risk_dock, Qt.Vertical)  # below the findings, both in view
        self.resizeDocks([dock, self.risk_dock], [700, 170], Qt.Vertical)

        self.window_controls = WindowLevelControls(self.state, self.settings.window_presets)
        self._build_status_bar()
        self._build_actions()

        self.state.volume_changed.connect(self._update_title)
        self.bridge.changed.connect(self._review_changed)
        self.runner.findings_ready.connect(self._findings_ready)
        self.runner.progress.connect(self._detection_progress)
        self.runner.estimate.connect(self._detection_estimate)
        self.runner.model_ready.connect(self._model_ready)
        self.runner.failed.connect(lambda failure: messages.show_error(self, "Detection failed", failure))
        self.runner.running_changed.connect(self._detection_running)
        self.runner.finished.connect(lambda: self.statusBar().showMessage("Detection finished", 5000))
        self.runner.cancelled.connect(lambda: self.statusBar().showMessage("Detection cancelled", 5000))
        self.risk_runner.model_ready.connect(self._risk_model_ready)
        self.risk_runner.progress.connect(self._risk_progress)
        self.risk_runner.result_ready.connect(self._risk_result)
        self.risk_runner.failed.connect(self._risk_failed)
        self.risk_runner.running_changed.connect(self._risk_running)
        self._update_model_label()
        self._refresh_risk_panel()

    # ------------------------------------------------------------------ building
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.hover_label = QLabel("")
        self.hover_label.setMinimumWidth(420)
        bar.addWidget(self.hover_label, 1)
        self.model_label = QLabel("")
        bar.addPermanentWidget(self.model_label)
        self.device_note = QLabel("")
        self.device_note.setStyleSheet("color: #e0a030; font-weight: bold")
        self.device_note.setVisible(False)
        bar.addPermanentWidget(self.device_note)
        self.progress_label = QLabel("")
        bar.addPermanentWidget(self.progress_label)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setVisible(False)
        bar.addPermanentWidget(self.progress_bar)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(Qt.NoFocus)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_work)
        bar.addPermanentWidget(self.cancel_button)

    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_file_action = self._action("Open file...", self.open_file_dialog, QKeySequence.Open)
        self.open_folder_action = self._action("Open folder...", self.open_folder_dialog, "Ctrl+Shift+O")
        file_menu.addAction(self.open_file_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Recent")
        self._rebuild_recent_menu()
        from lesionviewer_app.pacs_menu import install_pacs_menus  # Open from PACS, Findings > Send to PACS
        install_pacs_menus(self, file_menu)
        file_menu.addSeparator()
        self.export_action = self._action("Export findings (CSV)...", self.export_dialog, "Ctrl+E")
        file_menu.addAction(self.export_action)
        self.export_sr_action = self._action("Export DICOM SR...", self.export_sr_dialog)
        file_menu.addAction(self.export_sr_action)
        self.include_patient_action = self._action("Include patient name and ID in exports", lambda: None,
                                                   checkable=True)
        file_menu.addAction(self.include_patient_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.Quit))

        view_menu = menu.addMenu("&View")
        self.patient_name_action = self._action("Show patient name", self._toggle_patient_name, checkable=True)
        self.patient_name_action.setChecked(self.settings.show_patient_name)
        view_menu.addAction(self.patient_name_action)
        view_menu.addAction(self._action("Reset view (r)", self.reset_view))
        view_menu.addAction(self._action("Save window as preset...", self.save_window_preset_dialog))
        self.view3d_action = self._action("3D view", self.show_3d_view, "Ctrl+3")
        view_menu.addAction(self.view3d_action)

        detect_menu = menu.addMenu("&Detection")
        self.detect_action = self._action("Run detection", lambda: self.run_detection(), "Ctrl+D")
        self.cancel_action = self._action("Cancel", self.cancel_work)
        self.load_model_action = self._action("Load model...", self.load_model_dialog)
        self.auto_detect_action = self._action("Detect when a study opens", self._toggle_auto_detect,
                                               checkable=True)
        self.auto_detect_action.setChecked(self.settings.auto_detect)
        detect_menu.addAction(self.detect_action)
        detect_menu.addAction(self.cancel_action)
        detect_menu.addAction(self.load_model_action)
        detect_menu.addAction(self.auto_detect_action)
        device_menu = detect_menu.addMenu("Device")
        group = QActionGroup(self)
        for device in DEVICES:
            action = self._action(device, lambda _=False, d=device: self.set_device(d), checkable=True)
            action.setChecked(device == self.settings.device)
            group.addAction(action)
            device_menu.addAction(action)

        risk_menu = menu.addMenu("&Risk")
        self.risk_action = self._action("Compute risk", lambda: self.run_risk(), "Ctrl+R")
        self.load_risk_model_action = self._action("Load risk model...", self.load_risk_model_dialog)
        self.risk_card_action = self._action("Risk model card", self.show_risk_card)
        self.auto_risk_action = self._action("Compute risk when a study opens", self._toggle_auto_risk,
                                             checkable=True)
        self.auto_risk_action.setChecked(self.settings.auto_risk)
        for action in (self.risk_action, self.load_risk_model_action, self.risk_card_action, self.auto_risk_action):
            risk_menu.addAction(action)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("Keys and mouse", self._show_keys))

        toolbar = QToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addAction(self.open_file_action)
        toolbar.addAction(self.open_folder_action)
        toolbar.addSeparator()
        toolbar.addWidget(self.window_controls)
        toolbar.addSeparator()
        self.ruler_action = self._action("Ruler", lambda on: self.set_tool("ruler" if on else None), checkable=True)
        self.recist_action = self._action("RECIST", lambda on: self.set_tool("recist" if on else None), checkable=True)
        toolbar.addAction(self.ruler_action)
        toolbar.addAction(self.recist_action)
        toolbar.addSeparator()
        toolbar.addAction(self.detect_action)
        toolbar.addAction(self.view3d_action)
        toolbar.addAction(self.export_action)
        self.addToolBar(toolbar)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self.recent_menu.addAction(self._action(path, lambda _=False, p=path: self.open_path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    # ------------------------------------------------------------------ opening
    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open CT file", self.settings.last_folder, OPEN_FILE_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open CT folder", self.settings.last_folder)
        if path:
            self.open_path(path)

    def dragEnterEvent(self, ev):  # noqa: N802 - Qt API
        if ev.mimeData().hasUrls() and any(url.isLocalFile() for url in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802 - Qt API
        paths = [url.toLocalFile() for url in ev.mimeData().urls() if url.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            # several dropped files of one series: open their folder
            self.open_path(paths[0] if len(paths) == 1 else str(Path(paths[0]).parent))

    def open_path(self, path: str | Path) -> None:
        """Open a file or folder in the background (a folder with several series asks which)."""
        path = Path(path)
        self.settings.last_folder = str(path if path.is_dir() else path.parent)
        finder = self.series_finder or (library_series_finder() if self.loader is None else None)
        if path.is_dir() and finder is not None:
            self._start_load(lambda ctx: call_in_job(finder, ctx, path), path, self._series_found, "Reading headers")
        else:
            loader = self.loader or library_loader()
            self._start_load(lambda ctx: load_in_job(loader, path, ctx), path, self.show_volume, "Loading")

    def _start_load(self, work, path: Path, on_finished, label: str, on_partial=None) -> None:
        if self.load_job is not None and self.load_job.is_running:
            self.load_job.cancel()
        self.progress_label.setText(f"{label} {path.name}...")
        # a preview from a load that was replaced by a newer one must not show
        self._load_serial += 1
        serial = self._load_serial
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setVisible(True)
        self.cancel_button.setVisible(True)
        self.load_job = run_in_background(
            work, "loading",
            on_finished=lambda result: on_finished(result, path),
            on_failed=lambda failure: messages.show_error(self, "Cannot open", failure),
            on_progress=self._load_progress,
            on_partial=(lambda value: serial == self._load_serial and on_partial(value)) if on_partial else None,
            on_done=self._load_done)

    def _load_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 0))
        self.progress_bar.setValue(done)

    def _load_done(self) -> None:
        if self.state.volume is None:
            self.axial.clear_preview()  # the load failed or was cancelled
        self.progress_label.setText("")
        self._detection_running(self.runner.is_running)

    def _series_found(self, series: list, path: Path) -> None:
        if not series:
            loader = self.loader or library_loader()  # gives the library's clear "no images" error
            self._start_load(lambda ctx: load_in_job(loader, path, ctx), path, self.show_volume, "Loading")
            return
        chosen = series[0]
        if len(series) > 1:
            from lesionviewer_app.series_browser import choose_series

            chosen = choose_series(self, series)
            if chosen is None:
                return
        self._start_load(lambda ctx: load_series_in_job(chosen, ctx), path, self.show_volume, "Loading",
                         on_partial=self._show_preview)

    def _show_preview(self, preview: SlicePreview) -> None:
        """The middle slice, decoded first, on screen while the worker decodes the rest."""
        if self.load_job is None or not self.load_job.is_running or self.state.volume is not None:
            return
        volume = preview.volume
        window = ViewState.window_of(volume)
        if window is None:
            from lesionviewer.imaging.presets import auto_window

            try:
                window = auto_window(volume.hu)
            except ValueError:
                window = (400.0, 40.0)
        lines = {"top-left": [series_description(volume),
                              f"Slice {preview.index + 1}/{preview.count}   (loading the other slices...)"],
                 "bottom-left": [f"W {window[0]:.0f}  L {window[1]:.0f}"]}
        self.axial.show_preview(volume, window, lines)
        self.progress_label.setText(f"Loading {preview.count} slices...")

    def show_volume(self, volume: Volume, path: Path | str | None = None) -> None:
        """Display ``volume``, restore its review, start detection where it is unfinished, then the risk."""
        self.runner.cancel()
        self.risk_runner.cancel()
        self._risk_after_detection = None
        self.flush_review()
        self.source_path = Path(path) if path is not None else None
        if path is not None:
            self.settings.add_recent(path)
            self._rebuild_recent_menu()
            self._save_settings()
        session = ReviewSession.open(volume, folder=self.review_folder)
        if not session.model_name and not session.findings() and not session.measurements():
            session.set_threshold(self.settings.threshold)  # a new review starts at the user's last threshold
        self.panel.current_id = None
        self.state.set_volume(volume)
        self.bridge.set_session(session)
        for view in self.views:
            view.refresh_overlay()
        self.tools.set_image_size(volume.shape[2], volume.shape[1])
        if self.view3d is not None:
            self.view3d.set_volume(volume)
        notes = list(volume.warnings) + list(session.warnings)
        if notes:
            self._show_notes("About this study", notes)
        self._auto_detect(session)
        self._refresh_risk_panel()
        self._auto_risk(session)

    def _show_notes(self, title: str, notes: list[str]) -> None:
        # Non-modal: the radiologist reads it once while the study is already on screen.
        box = QMessageBox(QMessageBox.Information, title, "\n\n".join(notes), QMessageBox.Ok, self)
        box.setModal(False)
        box.show()
        self._notes_box = box

    # ------------------------------------------------------------------ detection
    def _auto_detect(self, session: ReviewSession) -> None:
        if not self.settings.auto_detect or not self._has_model():
            return
        if session.model_name and session.unprocessed_slices():
            self.run_detection(resume=True)  # a cancelled or interrupted run: do the rest
        elif not session.model_name:
            self.run_detection()

    def _has_model(self) -> bool:
        from lesionviewer_app.detection_runner import library_detector_factory

        return self.runner.factory is not library_detector_factory or bool(self.runner.model_path)

    def run_detection(self, slices=None, *, resume: bool = False) -> bool:
        """Run the detector on ``slices`` (default: the whole study), nearest the shown slice first.

        ``resume``: leave out the slices already done (a cancelled or interrupted run). Returns True
        when a run started (False with no study, or no model and the user chose none); the run goes
        on in the background (see :attr:`is_detecting`).
        """
        session = self.bridge.session
        volume = self.state.volume
        if volume is None or session is None:
            return False
        if not self._has_model():
            self.load_model_dialog()
            if not self._has_model():
                return False
        wanted = set(range(volume.num_slices)) if slices is None else {int(s) for s in slices}
        skip = set(range(volume.num_slices)) - wanted
        if resume:
            skip |= set(session.processed_slices)
        self._fresh_run = not resume
        self._detect_done = (0, volume.num_slices - len(skip))
        self._detect_left = ESTIMATING
        self.runner.start(volume, self.state.slice_index, skip)
        return True

    @property
    def is_detecting(self) -> bool:
        """True while a detection run is working (or stopping after cancel)."""
        return self.runner.is_running

    @property
    def detection_device(self) -> str:
        """The device chosen for detection: "auto", "cpu" or "cuda"."""
        return self.runner.device

    def cancel_work(self) -> None:
        """Stop loading, detection and the risk model (and a risk run waiting for detection)."""
        if self.load_job is not None and self.load_job.is_running:
            self.load_job.cancel()
        self.runner.cancel()
        self.risk_runner.cancel()
        if self._risk_after_detection is not None:
            self._risk_after_detection = None
            self._refresh_risk_panel("Not computed: cancelled.")

    def _model_ready(self, name: str, device: str) -> None:
        session = self.bridge.session
        from lesionviewer.detection.device import NO_GPU_MESSAGE  # torch is loaded by now

        no_gpu = NO_GPU_MESSAGE in device
        short = device.replace(NO_GPU_MESSAGE, "").strip().rstrip(".")
        self._device_text = "on the CPU" if no_gpu else f"on {short}"
        self.model_label.setText(f"Model: {name} | {short}")
        self.model_label.setToolTip(device)
        self.device_note.setVisible(no_gpu)
        if no_gpu:
            self.device_note.setText("No GPU: running on the CPU")
            self.device_note.setToolTip(NO_GPU_MESSAGE)
            self.statusBar().showMessage(NO_GPU_MESSAGE, 15000)
        self._show_detection_status()
        if session is not None and (self._fresh_run or session.model_name != name):
            version = ""
            detector = self.runner.model
            card = getattr(detector, "card", None)
            version = str(getattr(card, "version", "") or "")
            session.begin_run(name, version, keep_pending=True)
            self._fresh_run = False

    def _findings_ready(self, volume, slices, findings) -> None:
        session = self.bridge.session
        if session is None or volume is not self.state.volume:
            return  # results of a study no longer shown
        session.add_findings(findings, slices=slices)

    def _detection_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        self._detect_done = (done, total)
        self._show_detection_status()

    def _detection_estimate(self, done: int, total: int, seconds_left: float) -> None:
        self._detect_left = describe_remaining(seconds_left)
        self._detection_progress(done, total)

    def _show_detection_status(self) -> None:
        done, total = self._detect_done
        if not self._detection_active:
            return  # a late signal of a run already over
        where = f" {self._device_text}" if self._device_text else ""
        self.progress_label.setText(f"Detecting {done}/{total} slices{where} - {self._detect_left}")

    def flush_review(self) -> None:
        """Write detector results the session's save throttle held back (end of a run, switch, close)."""
        flush = getattr(self.bridge.session, "flush", None)
        if flush is not None:
            flush()

    def _detection_running(self, running: bool) -> None:
        self._detection_active = running
        if not running:
            self.flush_review()
        loading = self.load_job is not None and self.load_job.is_running
        self.progress_bar.setVisible(running or loading)
        self.cancel_button.setVisible(running or loading or self.risk_runner.is_running)
        if not running and not loading:
            self.progress_label.setText("")
        if not running and self._risk_after_detection is not None and not self.runner.will_restart:
            self._start_risk_after_detection()

    def _update_model_label(self) -> None:
        path = self.runner.model_path
        # the image area says when the model never saw enough real lesions (its card, read from the header)
        self.axial.set_banner(demonstration_reason(read_card(path)) if path else "")
        if not path and not self._has_model():
            self.model_label.setText("No detection model: Detection > Load model...")
            return
        name = Path(path).stem if path else "model"
        self.model_label.setText(f"Model: {name} | device {self.runner.device}")

    def _ask_model_file(self, title: str) -> str:
        path, _ = QFileDialog.getOpenFileName(self, title, self.settings.last_folder, "Model files (*.safetensors)")
        return path

    def load_model_dialog(self) -> None:
        """Choose a model file; its model card is shown before it is used."""
        path = self._ask_model_file("Load detection model")
        if path:
            self.use_model(path)

    def use_model(self, path: str, show_card: bool = True) -> bool:
        """Check ``path`` reads as a model file, show its card, and use it from the next run on.

        A risk model file goes to the risk panel instead (:meth:`use_risk_model`).
        """
        if Path(path).is_file() and is_risk_model(path):
            return self.use_risk_model(path)
        try:
            from lesionviewer.detection.model_file import read_card

            card = read_card(path)
        except Exception as error:  # noqa: BLE001 - any bad file is a message
            messages.show_error(self, "Cannot use this model", error)
            return False
        if show_card:
            fields = card.to_dict() if hasattr(card, "to_dict") else dict(card)
            text = "\n".join(f"{k}: {v}" for k, v in fields.items() if k not in ("architecture_options",))
            messages.show_info(self, f"Model card: {Path(path).name}", text)
        self.runner.set_model(path)
        self.settings.model_path = str(path)
        self._save_settings()
        self._update_model_label()
        return True

    def set_device(self, device: str) -> None:
        """Run the detector on ``device`` ("auto", "cpu" or "cuda") from the next run on."""
        self.runner.device = device
        self.risk_runner.device = device
        self.settings.device = device
        self._save_settings()
        self._update_model_label()

    # ------------------------------------------------------------------ risk
    def _auto_risk(self, session: ReviewSession) -> None:
        if not self.settings.auto_risk or not self.risk_runner.has_model or session.risk is not None:
            return
        if self.runner.is_running:
            self._risk_after_detection = self.state.volume
            self.risk_panel.show_idle("Waiting for detection to finish...")
        else:
            self.run_risk()

    def _start_risk_after_detection(self) -> None:
        volume, self._risk_after_detection = self._risk_after_detection, None
        if volume is self.state.volume:
            self.run_risk()

    def run_risk(self) -> bool:
        """Compute the shown study's risk score in the background; True when a run started.

        Without a risk model the user is asked for one. The score goes to the review session (so it
        is saved and exported) and the Risk panel.
        """
        volume = self.state.volume
        if volume is None or self.bridge.session is None:
            return False
        if not self.risk_runner.has_model:
            self.load_risk_model_dialog()
            if not self.risk_runner.has_model:
                return False
        self._risk_after_detection = None
        self._risk_target = volume
        self.risk_panel.set_model(self.risk_runner.name, self.risk_runner.card)
        self.risk_panel.show_running(0.0, "")
        self.risk_runner.start(volume)
        return True

    @property
    def is_computing_risk(self) -> bool:
        """True while the risk model works (or stops after cancel)."""
        return self.risk_runner.is_running

    def _refresh_risk_panel(self, idle_text: str = "Not computed yet.") -> None:
        """Show what holds when no risk job works: the session's score, no model, or not computed."""
        session = self.bridge.session
        if self.state.volume is None or session is None:
            self.risk_panel.show_no_study()
        elif session.risk is not None:
            self._caveat_for_saved_risk(session.risk)
            self.risk_panel.show_result(session.risk)
        elif not self.risk_runner.has_model:
            self.risk_panel.show_no_model()
        else:
            self.risk_panel.show_idle(idle_text)

    def _caveat_for_saved_risk(self, record: dict) -> None:
        """Give the panel the card of the model that made a saved score (so its caveat shows), when known.

        The loaded model's card, else the chosen model file's card read from its header (no torch,
        no loading); neither when the saved score came from another model (the caveat is then cleared).
        """
        name = str(record.get("model_name") or "")
        card = self.risk_runner.card
        if card is None and self.risk_runner.model_path:
            card = read_card(self.risk_runner.model_path)
        same_model = card is not None and name in (str(card.get("name") or ""), self.risk_runner.name)
        self.risk_panel.set_model(name, card if same_model else None)

    def _risk_model_ready(self, name: str, card: dict) -> None:
        self.risk_panel.set_model(name, card)
        if self.risk_panel.state == "running":
            self.risk_panel.show_running(self.risk_panel.progress_bar.value() / 100, self.risk_panel.detail.text())
        if self._show_card_when_ready:
            self._show_card_when_ready = False
            self.show_risk_card()

    def _risk_progress(self, fraction: float, message: str) -> None:
        if self._risk_target is self.state.volume and self.risk_runner.is_running:
            self.risk_panel.show_running(fraction, message)

    def _risk_result(self, volume, result) -> None:
        session = self.bridge.session
        if session is None or volume is not self.state.volume:
            return  # the score of a study no longer shown
        card = self.risk_runner.card or {}
        try:
            session.set_risk(result, model_version=str(card.get("version", "") or ""))
        except ValueError as error:
            self.risk_panel.show_error(f"The risk model gave an unusable result: {error}")
            return
        self.risk_panel.show_result(session.risk)
        self.statusBar().showMessage("Risk computed", 5000)

    def _risk_failed(self, text: str) -> None:
        self._show_card_when_ready = False
        if isinstance(self._risk_target, str) or self._risk_target is self.state.volume:
            self.risk_panel.show_error(text)

    def _risk_running(self, running: bool) -> None:
        loading = self.load_job is not None and self.load_job.is_running
        self.cancel_button.setVisible(running or loading or self.runner.is_running)
        if not running and not self.risk_runner.will_restart and self.risk_panel.state == "running":
            # a cancelled run (no result, no failure): the panel must not stay on "Computing risk..."
            self._refresh_risk_panel("Not computed: cancelled.")

    def show_risk_card(self) -> None:
        """The risk model's card (training data, caveats, metrics); the model is loaded first if need be."""
        if self.risk_runner.card is not None:
            name = self.risk_runner.name or Path(self.risk_runner.model_path).name
            messages.show_info(self, f"Risk model card: {name}", describe_card(self.risk_runner.card))
            return
        if not self.risk_runner.has_model:
            messages.show_info(self, "No risk model", "No risk model is loaded: use Risk > Load risk model...")
            return
        self._show_card_when_ready = True
        if not self.risk_runner.is_running:
            self._risk_target = "card"
            self.statusBar().showMessage("Loading the risk model...", 5000)
            self.risk_runner.start(None)

    def load_risk_model_dialog(self) -> None:
        """Choose a risk model file; it is used from now on (and scores the shown study)."""
        path = self._ask_model_file("Load risk model")
        if path:
            self.use_risk_model(path)

    def use_risk_model(self, path: str, run: bool = True) -> bool:
        """Use the risk model file ``path`` (remembered in the settings); ``run``: score the shown study.

        A file whose card says it is not a risk model is refused with a message; a file that turns
        out unusable when loaded says so in the Risk panel.
        """
        if not Path(path).is_file():
            messages.show_warning(self, "Cannot use this risk model", f"{path}: the file does not exist.")
            return False
        if not is_risk_model(path):
            messages.show_warning(self, "Not a risk model",
                                  f"{path}: its model card does not describe a risk model (task \"risk\"). "
                                  "A detector is loaded with Detection > Load model...")
            return False
        self.risk_runner.cancel()
        self.risk_runner.set_model(path)
        self.settings.risk_model_path = str(path)
        self._save_settings()
        session = self.bridge.session
        if run and session is not None and self.state.volume is not None:
            session.set_risk(None)  # the old model's score no longer describes the model in use
            self.run_risk()
        else:
            self._refresh_risk_panel()
        return True

    def _toggle_auto_detect(self, on: bool) -> None:
        self.settings.auto_detect = bool(on)
        self._save_settings()
        session = self.bridge.session
        if on and session is not None and not self.runner.is_running:
            self._auto_detect(session)  # turned back on: detect the open study now

    def _toggle_auto_risk(self, on: bool) -> None:
        self.settings.auto_risk = bool(on)
        self._save_settings()

    # ------------------------------------------------------------------ review
    def _review_changed(self, event) -> None:
        self.refresh_overlays()
        self.tools.refresh()
        if self.view3d is not None and self.bridge.session is not None:
            self.view3d.set_findings(self.bridge.session.visible_findings())
        session = self.bridge.session
        if session is not None and session.autosave_error:
            self.statusBar().showMessage(f"Autosave failed: {session.autosave_error}")
        if event is not None and getattr(event.kind, "value", "") == "threshold":
            self.settings.threshold = session.threshold
            self._settings_save_timer()

    def refresh_overlays(self) -> None:
        """Draw the visible findings: boxes on the axial slice, bars on the reformats."""
        for view in self.views:
            self._refresh_overlay_of(view)

    def _refresh_overlay_of(self, view: SliceView) -> None:
        # Called by each view when its plane changes, so scrolling redraws only the axial boxes.
        session = self.bridge.session
        if session is None or self.state.volume is None:
            view.boxes.set_boxes([])
            return
        current = self.panel.current_id
        if view is self.axial:
            view.boxes.set_boxes([
                OverlayBox(*rf.finding.box_px, score=rf.score, label=f"{rf.score:.2f}", status=rf.status.value,
                           selected=rf.id == current)
                for rf in self.bridge.visible_on_slice(view.fixed_index)])
            return
        view.boxes.set_boxes([view.marker_for(rf.slice_index, rf.finding.box_px, rf.score, rf.status.value,
                                              rf.id == current)
                              for rf in session.visible_findings() if view.crosses_plane(rf.finding.box_px)])

    def jump_to_finding(self, finding_id: str) -> None:
        """Show the finding: its slice, the crosshair on its centre."""
        session = self.bridge.session
        if session is None:
            return
        try:
            finding = session.finding(finding_id).finding
        except KeyError:
            return
        x1, y1, x2, y2 = finding.box_px
        self.panel.current_id = finding_id
        self.state.set_cursor(finding.slice_index, (y1 + y2) / 2, (x1 + x2) / 2)
        self.refresh_overlays()

    def _jump_to_measurement(self, measurement_id: str) -> None:
        session = self.bridge.session
        for m in session.measurements() if session else []:
            if m.id == measurement_id:
                (x1, y1), (x2, y2) = m.points[0], m.points[1]
                self.state.set_cursor(m.slice_index, (y1 + y2) / 2, (x1 + x2) / 2)
                self.tools.refresh()

    def set_tool(self, tool: str | None) -> None:
        """Activate the ruler, RECIST or no tool (left drag then windows)."""
        self.tools.set_tool(tool)
        self.ruler_action.setChecked(tool == "ruler")
        self.recist_action.setChecked(tool == "recist")
        self.statusBar().showMessage({None: "Left drag: window/level", "ruler": "Ruler: drag a line",
                                      "recist": "RECIST: drag the long axis, then the short axis"}[tool], 4000)

    def export_dialog(self) -> bool:
        """Ask for a file name and export; True when exported."""
        if self.bridge.session is None:
            return False
        start = str(Path(self.settings.last_folder or ".") / f"{self.bridge.session.key}_findings.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export findings", start, "CSV (*.csv)")
        return bool(path) and self.export_csv(path)

    def export_csv(self, path: str | Path) -> bool:
        """Write the review's findings to ``path`` as CSV through the library; True on success."""
        session = self.bridge.session
        if session is None:
            return False
        try:
            from lesionviewer.review import export_csv

            export_csv(session, path, include_patient=self.include_patient_action.isChecked(),
                       volume=self.state.volume)
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            messages.show_error(self, "Export failed", error)
            return False
        self.statusBar().showMessage(f"Exported to {path}", 5000)
        return True

    def export_sr_dialog(self) -> bool:
        """Ask for a file name and write a DICOM SR of the accepted findings; True when written."""
        if self.bridge.session is None:
            return False
        start = str(Path(self.settings.last_folder or ".") / f"{self.bridge.session.key}_findings_sr.dcm")
        path, _ = QFileDialog.getSaveFileName(self, "Export DICOM SR", start, "DICOM (*.dcm)")
        return bool(path) and self.export_sr(path)

    def export_sr(self, path: str | Path) -> bool:
        """Write the accepted findings and measurements as a DICOM SR (TID 1500) through the library.

        A study not loaded from DICOM, images without UIDs or nothing accepted yet: a message saying
        so, and False.
        """
        session = self.bridge.session
        if session is None or self.state.volume is None:
            return False
        try:
            from lesionviewer.review.sr_export import export_sr

            groups = export_sr(session, self.state.volume, path)
        except (ValueError, RuntimeError) as error:  # the library's plain reasons
            messages.show_warning(self, "Cannot export a DICOM SR", str(error))
            return False
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            messages.show_error(self, "DICOM SR export failed", error)
            return False
        self.statusBar().showMessage(f"DICOM SR with {groups} item(s) written to {path}", 5000)
        return True

    # ------------------------------------------------------------------ keys and view
    def handle_key(self, ev) -> bool:
        """Shortcuts shared by the views and the findings table; True when the key was used."""
        text = ev.text()
        key = ev.key()
        if text and text in "0123456789":
            preset = preset_for_key(text, self.state, self.settings.window_presets)
            if preset is not None:
                self.state.set_window(preset[1], preset[2])
                self.statusBar().showMessage(f"Window: {preset[0]}", 2000)
                return True
            return False
        if text == "i":
            self.state.toggle_invert()
        elif text == "r" or key == Qt.Key_Space:
            self.reset_view()
        elif text == "n":
            self.panel.step(forward=True, slice_index=self.state.slice_index)
        elif text == "p":
            self.panel.step(forward=False, slice_index=self.state.slice_index)
        elif text == "a":
            self.panel.set_status(Status.ACCEPTED)
        elif text == "x":
            self.panel.set_status(Status.REJECTED)
        elif key == Qt.Key_Escape:
            self.set_tool(None)
        else:
            return False
        return True

    def keyPressEvent(self, ev):  # noqa: N802 - Qt API
        if not self.handle_key(ev):
            super().keyPressEvent(ev)

    def reset_view(self) -> None:
        """Window back to the study's, zoom to fit."""
        self.state.reset_window()
        for view in self.views:
            view.reset_view()

    def _axial_corner_lines(self, view: SliceView) -> dict[str, list[str]]:
        volume = self.state.volume
        z = self.state.slice_index
        z_mm = float(volume.index_to_patient(z, 0, 0)[2])
        lines = {"top-left": [series_description(volume), f"Slice {z + 1}/{volume.num_slices}   z {z_mm:.1f} mm"],
                 "bottom-left": [f"W {self.state.width:.0f}  L {self.state.level:.0f}"
                                 + ("  inverted" if self.state.inverted else ""),
                                 f"Zoom {view.zoom():.2f}x"]}
        if self.settings.show_patient_name:
            lines["top-right"] = [patient_name(volume) or "(no patient name)"]
        return lines

    def save_window_preset_dialog(self) -> None:
        """Ask for a preset name (a library preset's name replaces it) and store the current window."""
        from lesionviewer_app.window_level import preset_list

        names = [name for name, _, _ in preset_list(self.settings.window_presets)]
        name, ok = QInputDialog.getItem(self, "Save window as preset",
                                        f"Name for W {self.state.width:.0f} / L {self.state.level:.0f}:",
                                        names, 0, True)
        if ok and name.strip():
            self.save_window_preset(name.strip())

    def save_window_preset(self, name: str) -> None:
        """Keep the current width/level as preset ``name`` (saved in the settings; its key, if any, follows)."""
        self.settings.window_presets[str(name)] = [float(self.state.width), float(self.state.level)]
        self.window_controls.set_extra_presets(self.settings.window_presets)
        self._save_settings()
        self.statusBar().showMessage(f"Preset {name}: W {self.state.width:.0f} L {self.state.level:.0f}", 4000)

    def _toggle_patient_name(self, on: bool) -> None:
        self.settings.show_patient_name = bool(on)
        self._save_settings()
        self.axial.viewport().update()

    def _hovered(self, z: int, y: int, x: int, hu) -> None:
        if hu is None or self.state.volume is None:
            self.hover_label.setText("")
            return
        p = self.state.patient_position(z, y, x)
        self.hover_label.setText(f"voxel (x {x}, y {y}, slice {z + 1})   patient ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm"
                                 f"   {hu} HU")

    def _update_title(self) -> None:
        volume = self.state.volume
        self.setWindowTitle(APP_TITLE if volume is None else f"{series_description(volume)} - {APP_TITLE}")

    def show_3d_view(self) -> None:
        """Open (or raise) the 3D view: volume rendering with the findings as markers."""
        if self._view3d_dock is None:
            try:
                from lesionviewer_app.view3d import View3D

                self.view3d = View3D()
            except Exception as error:  # noqa: BLE001 - no OpenGL, no vtk: a message, not a crash
                messages.show_error(self, "3D view unavailable", error)
                return
            self.view3d.marker_clicked.connect(self.jump_to_finding)
            self._view3d_dock = QDockWidget("3D", self)
            self._view3d_dock.setObjectName("view3d")
            self._view3d_dock.setWidget(self.view3d)
            self.addDockWidget(Qt.RightDockWidgetArea, self._view3d_dock)
            # its own window, so the slice views keep their size
            self._view3d_dock.setFloating(True)
            self._view3d_dock.resize(700, 650)
        self._view3d_dock.show()
        if self.state.volume is not None:
            self.view3d.set_volume(self.state.volume)
            if self.bridge.session is not None:
                self.view3d.set_findings(self.bridge.session.visible_findings())

    def _show_keys(self) -> None:
        messages.show_info(self, "Keys and mouse", (
            "Wheel: next/previous slice   Ctrl+wheel: zoom   Middle drag: pan   Left drag: window/level\n"
            "Up/Down, PgUp/PgDn: slice (Shift: 10)   Home/End: first/last slice\n"
            "1-6: window presets   0: header window   i: invert   r or Space: reset\n"
            "n/p: next/previous finding   a: accept   x: reject   Esc: stop measuring"))

    # ------------------------------------------------------------------ settings and closing
    def _settings_save_timer(self) -> None:
        # the slider sends many values while dragged; write the settings once it rests
        if not hasattr(self, "_settings_timer"):
            self._settings_timer = QTimer(self, singleShot=True, interval=500)
            self._settings_timer.timeout.connect(self._save_settings)
        self._settings_timer.start()

    def _save_settings(self) -> None:
        try:
            self.settings.save()
        except OSError as error:
            self.statusBar().showMessage(f"Settings not saved: {error}", 5000)

    def closeEvent(self, ev):  # noqa: N802 - Qt API
        session = self.bridge.session
        if session is not None and session.dirty_since_export:
            answer = messages.ask_yes_no_cancel(
                self, "Export before closing?",
                "Your decisions, notes and measurements are saved and will be back when you reopen this "
                "series, but they have not been exported. Export a CSV now?")
            if answer == "cancel" or (answer == "yes" and not self.export_dialog()):
                ev.ignore()
                return
        for job in running_jobs():
            job.cancel()
        self.flush_review()
        self._save_settings()
        super().closeEvent(ev)

