"""What the viewer is doing with the open study, as an explicit state machine in plain Python (no Qt).

A study goes study -> detection -> risk -> review: detection runs when it opens (or on request),
the risk score runs after detection (waiting for it when both are automatic), and the radiologist
reviews throughout. The main window feeds the runners' events in (``detection_started``,
``detection_stopped``, ``risk_failed`` ...) and asks what to show or start next; it keeps no flags
of its own. Two tracks, each with its own states:

* detection: ``IDLE`` -> ``RUNNING`` -> ``IDLE``;
* risk: ``IDLE`` -> ``WAITING`` (for detection to end) -> ``SCORING`` -> ``IDLE``, or ``IDLE`` ->
  ``CARD`` (loading the model only to show its card) -> ``IDLE``.

:attr:`StudyWorkflow.stage` combines them into the one word the window could show.

Example:
    >>> flow = StudyWorkflow()
    >>> study = object()
    >>> flow.open_study(study); flow.detection_started(total=40, fresh=True); flow.detection_running(True)
    >>> flow.queue_risk()
    >>> flow.stage, flow.risk
    (<Stage.DETECTING: 'detecting'>, <RiskPhase.WAITING: 'waiting for detection'>)
    >>> flow.detection_stopped(will_restart=False)  # detection over: the waiting risk run starts now
    True
    >>> flow.risk_started(study); flow.stage
    <Stage.SCORING_RISK: 'scoring risk'>
    >>> flow.risk_stopped(will_restart=False); flow.stage
    <Stage.REVIEWING: 'reviewing'>
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lesionviewer_app.detection_estimate import ESTIMATING

__all__ = ["Stage", "DetectionPhase", "RiskPhase", "RiskJob", "DetectionProgress", "StudyWorkflow"]


class Stage(Enum):
    """Where the open study is in study -> detection -> risk -> review."""

    NO_STUDY = "no study"
    DETECTING = "detecting"
    SCORING_RISK = "scoring risk"
    REVIEWING = "reviewing"


class DetectionPhase(Enum):
    """The detection track."""

    IDLE = "idle"
    RUNNING = "running"


class RiskPhase(Enum):
    """The risk track."""

    IDLE = "idle"
    WAITING = "waiting for detection"
    SCORING = "scoring"
    CARD = "loading the model for its card"


@dataclass(frozen=True)
class RiskJob:
    """What the last risk job was started for: to score ``volume``, or (``for_card``) to show the model's card.

    Example:
        >>> RiskJob(volume=None, for_card=True).for_card
        True
    """

    volume: object | None
    for_card: bool = False


@dataclass
class DetectionProgress:
    """Slices done of the run, the time left and where it runs, as the status bar says them.

    Example:
        >>> DetectionProgress(done=3, total=12, left="about 9 s left", device="on the CPU").text()
        'Detecting 3/12 slices on the CPU - about 9 s left'
    """

    done: int = 0
    total: int = 0
    left: str = ESTIMATING
    device: str = ""

    def text(self) -> str:
        where = f" {self.device}" if self.device else ""
        return f"Detecting {self.done}/{self.total} slices{where} - {self.left}"


class StudyWorkflow:
    """The state of the open study's work (see the module docstring); events in, decisions out.

    Example:
        >>> flow = StudyWorkflow()
        >>> flow.stage
        <Stage.NO_STUDY: 'no study'>
    """

    def __init__(self) -> None:
        self.study: object | None = None
        self.detection = DetectionPhase.IDLE
        self.risk = RiskPhase.IDLE
        #: the purpose of the last risk job started (progress and failures of other jobs are not shown)
        self.risk_job: RiskJob | None = None
        #: the risk model's card is to be shown once the model is loaded
        self.card_requested = False
        #: the next detector model that reports ready begins a new run in the review
        self.fresh_run = False
        self.progress = DetectionProgress()

    # ------------------------------------------------------------------ study
    @property
    def stage(self) -> Stage:
        """The one word for where the study is: no study, detecting, scoring risk, or reviewing.

        Example:
            >>> flow = StudyWorkflow(); flow.open_study(object()); flow.stage
            <Stage.REVIEWING: 'reviewing'>
        """
        if self.study is None:
            return Stage.NO_STUDY
        if self.detection is DetectionPhase.RUNNING:
            return Stage.DETECTING
        if self.risk in (RiskPhase.SCORING, RiskPhase.WAITING):
            return Stage.SCORING_RISK
        return Stage.REVIEWING

    def open_study(self, volume: object) -> None:
        """A study is shown: a risk run still waiting for the previous study's detection is dropped.

        Example:
            >>> flow = StudyWorkflow(); flow.open_study("a"); flow.queue_risk(); flow.open_study("b")
            >>> flow.risk
            <RiskPhase.IDLE: 'idle'>
        """
        self.study = volume
        if self.risk is RiskPhase.WAITING:
            self.risk = RiskPhase.IDLE

    # ------------------------------------------------------------------ detection
    def detection_started(self, total: int, fresh: bool) -> None:
        """A run over ``total`` slices is asked for; ``fresh``: a new run (not the rest of an interrupted one).

        The track turns ``RUNNING`` when the runner says it works (:meth:`detection_running`).
        """
        self.fresh_run = fresh
        self.progress = DetectionProgress(0, total, ESTIMATING, self.progress.device)

    def model_ready(self, model_name: str, review_model_name: str) -> bool:
        """The detector is loaded: True when the review must begin a new run (a fresh run, or another model).

        Example:
            >>> flow = StudyWorkflow(); flow.detection_started(10, fresh=False)
            >>> flow.model_ready("m1", "m1"), flow.model_ready("m2", "m1")
            (False, True)
        """
        begin = self.fresh_run or review_model_name != model_name
        if begin:
            self.fresh_run = False
        return begin

    def detection_progress(self, done: int, total: int, left: str | None = None) -> str | None:
        """Record progress; the status text to show, or None for a late signal of a run already over.

        Example:
            >>> flow = StudyWorkflow(); flow.detection_progress(1, 4) is None
            True
            >>> flow.detection_running(True); flow.detection_progress(2, 4, "about 4 s left")
            'Detecting 2/4 slices - about 4 s left'
        """
        self.progress.done, self.progress.total = done, total
        if left is not None:
            self.progress.left = left
        return self.status_text()

    def status_text(self) -> str | None:
        """The status bar's detection text while a run works, else None."""
        return self.progress.text() if self.detection is DetectionPhase.RUNNING else None

    def detection_running(self, running: bool) -> None:
        """The runner says whether it works (it also says so between a cancel and a restart)."""
        self.detection = DetectionPhase.RUNNING if running else DetectionPhase.IDLE

    def detection_stopped(self, will_restart: bool) -> bool:
        """The run stopped; True when the risk run that waited for it must start now.

        Example:
            >>> flow = StudyWorkflow(); flow.open_study("a"); flow.queue_risk()
            >>> flow.detection_stopped(will_restart=True), flow.risk  # stopped only to start again
            (False, <RiskPhase.WAITING: 'waiting for detection'>)
        """
        self.detection = DetectionPhase.IDLE
        if self.risk is not RiskPhase.WAITING or will_restart:
            return False
        self.risk = RiskPhase.IDLE
        return True

    # ------------------------------------------------------------------ risk
    def queue_risk(self) -> None:
        """Score the open study's risk once detection is over."""
        self.risk = RiskPhase.WAITING

    @property
    def risk_waiting(self) -> bool:
        """True while a risk run waits for detection to end."""
        return self.risk is RiskPhase.WAITING

    def risk_started(self, volume: object) -> None:
        """A risk job scoring ``volume`` starts (a waiting run no longer waits)."""
        self.risk = RiskPhase.SCORING
        self.risk_job = RiskJob(volume)

    def card_wanted(self, risk_running: bool) -> bool:
        """The user asked for the risk model's card before the model is loaded; True when a job must
        start to load it (none works yet: one that works shows the card when its model is ready).

        Example:
            >>> flow = StudyWorkflow()
            >>> flow.card_wanted(risk_running=False), flow.risk, flow.card_requested
            (True, <RiskPhase.CARD: 'loading the model for its card'>, True)
        """
        self.card_requested = True
        if risk_running:
            return False
        self.risk = RiskPhase.CARD
        self.risk_job = RiskJob(None, for_card=True)
        return True

    def risk_model_ready(self) -> bool:
        """The risk model is loaded; True when its card is to be shown now (once)."""
        show, self.card_requested = self.card_requested, False
        return show

    def shows_risk_progress(self, risk_running: bool) -> bool:
        """True when the risk job's progress belongs to the study on screen."""
        return risk_running and self.risk_job is not None and self.risk_job.volume is self.study \
            and not self.risk_job.for_card

    def risk_failed(self) -> bool:
        """The risk job failed; True when the Risk panel must say so (a card job, or the shown study's).

        Example:
            >>> flow = StudyWorkflow(); flow.open_study("a"); flow.risk_started("old study")
            >>> flow.risk_failed()
            False
        """
        self.card_requested = False
        job = self.risk_job
        return job is not None and (job.for_card or job.volume is self.study)

    def risk_stopped(self, will_restart: bool) -> None:
        """The risk job stopped (done, failed or cancelled)."""
        if not will_restart and self.risk in (RiskPhase.SCORING, RiskPhase.CARD):
            self.risk = RiskPhase.IDLE

    def cancel(self) -> bool:
        """Stop everything; True when a risk run was waiting for detection (the panel says it was cancelled).

        Example:
            >>> flow = StudyWorkflow(); flow.open_study("a"); flow.queue_risk()
            >>> flow.cancel(), flow.risk
            (True, <RiskPhase.IDLE: 'idle'>)
        """
        waiting = self.risk is RiskPhase.WAITING
        if waiting:
            self.risk = RiskPhase.IDLE
        return waiting
