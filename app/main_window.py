"""The main window: the three linked views, the findings panel, menus, tool bar and status bar.

It wires library objects to widgets and holds no review state itself: the study is in the
:class:`ViewState`, findings and decisions in the review session (which saves itself), and long
work goes through the one worker helper (loading, detection, then the study's risk score).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox, QSplitter

from lesionviewer.io import Volume
from lesionviewer.review.session import ReviewSession
from lesionviewer.review.status import Status
from lesionviewer_app import messages
from lesionviewer_app.detection_runner import DetectionRunner, DetectorFactory
from lesionviewer_app.findings_overlay import OverlayBox
from lesionviewer_app.findings_panel import FindingsPanel
from lesionviewer_app.loading import (OPEN_FILE_FILTER, SlicePreview, call_in_job, library_loader,
                                      library_series_finder, load_in_job, load_series_in_job, patient_name,
                                      series_description)
from lesionviewer_app.main_window_detection import DetectionActions
from lesionviewer_app.main_window_export import ExportActions
from lesionviewer_app.main_window_menus import MenuActions
from lesionviewer_app.main_window_risk import RiskActions
from lesionviewer_app.measurement_tools import MeasurementTools
from lesionviewer_app.reformat_view import ReformatView
from lesionviewer_app.review_bridge import ReviewBridge
from lesionviewer_app.risk_panel import RiskPanel
from lesionviewer_app.risk_runner import RiskModelFactory, RiskRunner
from lesionviewer_app.settings import ViewerSettings
from lesionviewer_app.slice_view import SliceView
from lesionviewer_app.study_workflow import StudyWorkflow
from lesionviewer_app.view_state import ViewState
from lesionviewer_app.window_level import WindowLevelControls, preset_for_key
from lesionviewer_app.worker import BackgroundJob, run_in_background, running_jobs

__all__ = ["MainWindow", "APP_TITLE"]

APP_TITLE = "LesionViewer"


class MainWindow(MenuActions, DetectionActions, RiskActions, ExportActions, QMainWindow):
    """The viewer. ``loader``, ``series_finder``, ``detector_factory`` and ``risk_model_factory``
    default to the library's; tests pass their own.

    The menus, the detection, the risk and the export actions are in the mixins beside this file
    (``main_window_*.py``); what the open study's work is at is :attr:`flow` (``study_workflow``).
    """

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
        self._load_serial = 0
        self._notes_box: QMessageBox | None = None
        #: study -> detection -> risk -> review: what the open study's work is at (plain Python, no Qt)
        self.flow = StudyWorkflow()
        # the slider sends many values while dragged; the settings are written once it rests
        self._settings_timer = QTimer(self, singleShot=True, interval=500)
        self._settings_timer.timeout.connect(self._save_settings)

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.resize(1500, 900)

        self.state = ViewState(self)
        self.bridge = ReviewBridge(self)
        self.runner = DetectionRunner(detector_factory, self)
        self.runner.device = self.settings.device
        self.runner.skip_mirrored_pass = self.settings.skip_mirrored_pass
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
        self.flow.open_study(volume)  # a risk run waiting for the previous study's detection is dropped
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

    def cancel_work(self) -> None:
        """Stop loading, detection and the risk model (and a risk run waiting for detection)."""
        if self.load_job is not None and self.load_job.is_running:
            self.load_job.cancel()
        self.runner.cancel()
        self.risk_runner.cancel()
        if self.flow.cancel():  # a risk run was waiting for detection
            self._refresh_risk_panel("Not computed: cancelled.")

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

