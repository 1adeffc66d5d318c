"""The main window's risk actions: compute the study's risk score, load a risk model, show its card.

A mixin of :class:`lesionviewer_app.main_window.MainWindow` (it uses the window's runners, panels and
:attr:`flow`); when the score runs (after detection, or waiting for it) is decided by
:class:`lesionviewer_app.study_workflow.StudyWorkflow`.
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.review.session import ReviewSession
from lesionviewer_app import messages
from lesionviewer_app.model_files import is_risk_model, read_card
from lesionviewer_app.risk_panel import describe_card

__all__ = ["RiskActions"]


class RiskActions:
    """Risk > Compute risk, Load risk model..., Risk model card, and the Risk panel's updates."""

    def _auto_risk(self, session: ReviewSession) -> None:
        if not self.settings.auto_risk or not self.risk_runner.has_model or session.risk is not None:
            return
        if self.runner.is_running:
            self.flow.queue_risk()
            self.risk_panel.show_idle("Waiting for detection to finish...")
        else:
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
        self.flow.risk_started(volume)
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
        if self.flow.risk_model_ready():  # the card was asked for before the model was loaded
            self.show_risk_card()

    def _risk_progress(self, fraction: float, message: str) -> None:
        if self.flow.shows_risk_progress(self.risk_runner.is_running):
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
        if self.flow.risk_failed():  # a card job's, or the shown study's
            self.risk_panel.show_error(text)

    def _risk_running(self, running: bool) -> None:
        loading = self.load_job is not None and self.load_job.is_running
        self.cancel_button.setVisible(running or loading or self.runner.is_running)
        if not running:
            self.flow.risk_stopped(self.risk_runner.will_restart)
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
        if self.flow.card_wanted(self.risk_runner.is_running):  # else the running job shows it when ready
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

    def _toggle_auto_risk(self, on: bool) -> None:
        self.settings.auto_risk = bool(on)
        self._save_settings()
