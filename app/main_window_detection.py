"""The main window's detection actions: run the detector, follow its progress, choose the model and device.

A mixin of :class:`lesionviewer_app.main_window.MainWindow`; the run's state (fresh or resumed,
progress, the risk run waiting for it) is in :class:`lesionviewer_app.study_workflow.StudyWorkflow`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from lesionviewer.detection.model_fingerprint import model_fingerprint
from lesionviewer.detection.model_status import demonstration_reason
from lesionviewer.review.session import ReviewSession
from lesionviewer_app import messages
from lesionviewer_app.detection_estimate import describe_remaining
from lesionviewer_app.model_files import is_risk_model, read_card

__all__ = ["DetectionActions", "MODEL_CHANGED_MESSAGE"]

#: Shown when a study reopens with findings of another model file than the current one.
MODEL_CHANGED_MESSAGE = ("The detection model changed since this study's findings were made: detecting again "
                         "with the current one (your decisions and notes stay)")


class DetectionActions:
    """Detection > Run detection, Load model..., Device, and the status bar's progress."""

    def _auto_detect(self, session: ReviewSession) -> None:
        if not self.settings.auto_detect or not self._has_model():
            return
        if session.model_name and self._model_changed_since(session):
            # findings of another model file (a new default model of the same name, a retrained file):
            # detect again; the new findings replace the pending ones, decisions and notes stay
            self.statusBar().showMessage(MODEL_CHANGED_MESSAGE, 15000)
            self.run_detection()
        elif session.model_name and session.unprocessed_slices():
            self.run_detection(resume=True)  # a cancelled or interrupted run: do the rest
        elif not session.model_name:
            self.run_detection()

    def _current_model_fingerprint(self) -> str:
        """The current model file's fingerprint (``lesionviewer.detection.model_fingerprint``), or ""
        when there is no file to read: no model, or a detector that is not read from one."""
        from lesionviewer_app.detection_runner import library_detector_factory

        path = self.runner.model_path
        if self.runner.factory is not library_detector_factory or not path:
            return ""
        try:
            return model_fingerprint(path)
        except OSError:  # gone or unreadable: loading it will say so, naming the file
            return ""

    def _model_changed_since(self, session: ReviewSession) -> bool:
        """True when the review's findings came from another model file than the current one (a
        review written before fingerprints were kept counts as another: it cannot tell)."""
        current = self._current_model_fingerprint()
        return bool(current) and session.model_fingerprint != current

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
        self.flow.detection_started(volume.num_slices - len(skip), fresh=not resume)
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

    def _model_ready(self, name: str, device: str) -> None:
        session = self.bridge.session
        from lesionviewer.detection.device import NO_GPU_MESSAGE  # torch is loaded by now

        no_gpu = NO_GPU_MESSAGE in device
        short = " ".join(device.replace(NO_GPU_MESSAGE, "").split()).rstrip(".")  # the sentences left, single-spaced
        self.flow.progress.device = "on the CPU" if no_gpu else f"on {short}"
        self.model_label.setText(f"Model: {name} | {short}")
        self.model_label.setToolTip(device)
        self.device_note.setVisible(no_gpu)
        if no_gpu:
            self.device_note.setText("No GPU: running on the CPU")
            self.device_note.setToolTip(NO_GPU_MESSAGE)
            self.statusBar().showMessage(NO_GPU_MESSAGE, 15000)
        self._show_detection_status()
        if session is not None and self.flow.model_ready(name, session.model_name):
            card = getattr(self.runner.model, "card", None)  # a test's detector may have none
            session.begin_run(name, str(getattr(card, "version", "") or ""), keep_pending=True,
                              model_fingerprint=self._current_model_fingerprint())

    def _findings_ready(self, volume, slices, findings) -> None:
        session = self.bridge.session
        if session is None or volume is not self.state.volume:
            return  # results of a study no longer shown
        session.add_findings(findings, slices=slices)

    def _detection_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        self.flow.detection_progress(done, total)
        self._show_detection_status()

    def _detection_estimate(self, done: int, total: int, seconds_left: float) -> None:
        self.flow.progress.left = describe_remaining(seconds_left)
        self._detection_progress(done, total)

    def _show_detection_status(self) -> None:
        text = self.flow.status_text()
        if text is not None:  # else a late signal of a run already over
            self.progress_label.setText(text)

    def flush_review(self) -> None:
        """Write detector results the session's save throttle held back (end of a run, switch, close)."""
        flush = getattr(self.bridge.session, "flush", None)
        if flush is not None:
            flush()

    def _detection_running(self, running: bool) -> None:
        self.flow.detection_running(running)
        if not running:
            self.flush_review()
        loading = self.load_job is not None and self.load_job.is_running
        self.progress_bar.setVisible(running or loading)
        self.cancel_button.setVisible(running or loading or self.risk_runner.is_running)
        if not running and not loading:
            self.progress_label.setText("")
        if not running and self.flow.detection_stopped(self.runner.will_restart):
            self.run_risk()  # the risk run that waited for detection

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
            members = fields.pop("ensemble_members", None) or []
            text = "\n".join(f"{k}: {v}" for k, v in fields.items() if k not in ("architecture_options",))
            if members:  # an ensemble: its members by name, not their whole cards
                names = ", ".join(str(member.get("name", "?")) for member in members)
                text += f"\nensemble of {len(members)} detectors, each slice read by every one: {names}"
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

    def _toggle_fast_detection(self, on: bool) -> None:
        """Skip (or take again) the mirrored second reading a model's card asks for; from the next run on."""
        self.settings.skip_mirrored_pass = bool(on)
        self._save_settings()
        self.runner.skip_mirrored_pass = bool(on)
        self.statusBar().showMessage(
            "Detection reads each slice once (half the time; finds fewer lesions)" if on
            else "Detection reads each slice twice where the model asks for it (fewer false alarms)", 5000)

    def _toggle_auto_detect(self, on: bool) -> None:
        self.settings.auto_detect = bool(on)
        self._save_settings()
        session = self.bridge.session
        if on and session is not None and not self.runner.is_running:
            self._auto_detect(session)  # turned back on: detect the open study now
