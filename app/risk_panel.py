"""The Risk panel: the study's cancer-risk score with its model's name, card and caveats.

A display only: the main window tells it what to show (no model, waiting, computing with progress,
a result, a failure) and hears its two buttons (compute again, show the model card). The score is
the review session's risk record (:mod:`lesionviewer.review.risk_record`), so a reopened study
shows the score it had.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

#: card keys shown first in the card's text, in this order; the others follow as the card lists them
CARD_FIRST = ("name", "version", "task", "description", "intended_use", "training_data", "data", "metrics")
#: a card text longer than this is cut in the panel's card view
MAX_CARD_TEXT = 600
NOTE_STYLE = "color: #c07000"
ERROR_STYLE = "color: #b03030"
CAVEAT_STYLE = "color: gray"


#: The headline when a scan holds too little lung for a score (no number is shown).
NO_SCORE_HEADLINE = "No risk score for this scan"


def format_probability(probability: float) -> str:
    """A probability as the percentage the panel shows, e.g. ``0.1234 -> '12.3%'``."""
    percent = 100.0 * float(probability)
    if 0.0 < percent < 0.1:
        return "<0.1%"
    if 99.9 < percent < 100.0:
        return ">99.9%"
    return f"{percent:.1f}%"


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(v) for v in value)
    text = str(value)
    return text if len(text) <= MAX_CARD_TEXT else text[:MAX_CARD_TEXT] + "..."


def describe_card(card: dict) -> str:
    """The model card as plain text lines (``key: value``; a nested dict indented under its key)."""
    keys = [k for k in CARD_FIRST if k in card] + [k for k in card if k not in CARD_FIRST]
    lines = []
    for key in keys:
        value = card[key]
        label = str(key).replace("_", " ")
        if isinstance(value, dict):
            lines.append(f"{label}:")
            lines += [f"    {str(k).replace('_', ' ')}: {_value_text(v)}" for k, v in value.items()]
        else:
            lines.append(f"{label}: {_value_text(value)}")
    return "\n".join(lines)


#: Card fields read for the caveat, in this order; the command line (which may quote a description)
#: and the dates are never shown as one.
CAVEAT_FIELDS = ("description", "training_data", "label_rule", "name")
NOT_CAVEAT_FIELDS = ("command", "created")


def card_caveat(card: dict | None) -> str:
    """The card's own words about clinical use (e.g. "synthetic, not for clinical use"), or "".

    The model's description comes first, then what it was trained on, then any other field except
    the recorded command line.
    """
    def texts(value: Any):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from texts(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from texts(v)

    card = card or {}
    rest = [k for k in card if k not in CAVEAT_FIELDS and k not in NOT_CAVEAT_FIELDS]
    for key in [k for k in CAVEAT_FIELDS if k in card] + rest:
        for text in texts(card[key]):
            if "clinical" in text.lower():
                return text if len(text) <= MAX_CARD_TEXT else text[:MAX_CARD_TEXT] + "..."
    return ""


class RiskPanel(QWidget):
    """Score, model name, caveat, note, progress and two buttons; ``state`` names what it shows."""

    compute_requested = Signal()
    card_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.state = "no_study"
        self._name = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.headline = QLabel()
        self.headline.setStyleSheet("font-size: 15pt; font-weight: bold")
        self.headline.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.headline)
        self.model_label = QLabel()
        layout.addWidget(self.model_label)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.detail)
        self.caveat = QLabel()
        self.caveat.setWordWrap(True)
        self.caveat.setStyleSheet(CAVEAT_STYLE)
        layout.addWidget(self.caveat)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setVisible(False)
        layout.addWidget(self.progress_bar)
        buttons = QHBoxLayout()
        self.compute_button = QPushButton("Compute risk")
        self.compute_button.setFocusPolicy(Qt.NoFocus)
        self.compute_button.clicked.connect(self.compute_requested.emit)
        self.card_button = QPushButton("Model card...")
        self.card_button.setFocusPolicy(Qt.NoFocus)
        self.card_button.clicked.connect(self.card_requested.emit)
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.card_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.show_no_study()

    # ------------------------------------------------------------------ the model
    def set_model(self, name: str, card: dict | None) -> None:
        """The model whose card the caveat line quotes (None: not loaded yet)."""
        self._name = name
        self.caveat.setText(card_caveat(card))
        self.caveat.setVisible(bool(self.caveat.text()))

    # ------------------------------------------------------------------ what it shows
    def _show(self, state: str, headline: str, detail: str = "", style: str = "", model: str = "",
              running: bool = False, can_compute: bool = True) -> None:
        self.state = state
        self.headline.setText(headline)
        self.model_label.setText(model)
        self.model_label.setVisible(bool(model))
        self.detail.setText(detail)
        self.detail.setStyleSheet(style)
        self.detail.setVisible(bool(detail))
        self.progress_bar.setVisible(running)
        self.compute_button.setEnabled(can_compute and not running)

    def show_no_study(self) -> None:
        """Nothing open."""
        self._show("no_study", "Risk", "Open a study to see its risk score.", can_compute=False)

    def show_no_model(self) -> None:
        """No risk model file shipped or chosen."""
        self._show("no_model", "No risk model", "Choose one with Risk > Load risk model...", can_compute=False)
        self.card_button.setEnabled(False)

    def show_idle(self, text: str = "Not computed yet.") -> None:
        """A model, a study, no score (yet): e.g. waiting for detection, or after a cancel."""
        self._show("idle", "Risk", text)
        self.card_button.setEnabled(True)

    def show_running(self, fraction: float = 0.0, message: str = "") -> None:
        """``Computing risk...`` with the model's progress."""
        self.progress_bar.setValue(int(round(100 * min(max(fraction, 0.0), 1.0))))
        self._show("running", "Computing risk...", message, model=self._model_line(self._name), running=True)
        self.card_button.setEnabled(True)

    def show_result(self, record: dict) -> None:
        """The score of a risk record (``probability``, ``model_name``, ``lung_found``, ``enough_lung``, ``note``).

        With no lung or too little lung (a head or abdomen scan) no percentage is shown at all,
        only the reason: a number there would be read as a risk, and it means nothing.
        """
        note = str(record.get("note") or "")
        model = self._model_line(str(record.get("model_name") or ""))
        lung_found = record.get("lung_found", True)
        if not record.get("enough_lung", lung_found) or not lung_found:
            reason = note or "Too little lung was found in this scan for a lung-cancer risk score."
            self._show("result", NO_SCORE_HEADLINE, reason[:1].upper() + reason[1:], NOTE_STYLE, model=model)
        else:
            self._show("result", f"Cancer risk {format_probability(record['probability'])}", note,
                       NOTE_STYLE if note else "", model=model)
        self.card_button.setEnabled(True)

    def show_error(self, text: str) -> None:
        """A plain sentence saying why there is no score (never a traceback)."""
        self._show("error", "Risk not available", text, ERROR_STYLE)
        self.card_button.setEnabled(bool(self._name))

    @staticmethod
    def _model_line(name: str) -> str:
        return f"Model: {name}" if name else ""
