"""The main window's study -> detection -> risk -> review state machine, tested without any widget."""
from __future__ import annotations

from lesionviewer_app.study_workflow import DetectionPhase, RiskPhase, Stage, StudyWorkflow


def test_with_both_automatic_the_risk_waits_for_detection_then_runs_once():
    flow, study = StudyWorkflow(), object()
    flow.open_study(study)
    flow.detection_started(total=30, fresh=True)
    flow.detection_running(True)
    flow.queue_risk()
    assert flow.stage is Stage.DETECTING and flow.risk_waiting
    assert flow.detection_stopped(will_restart=True) is False  # stopping only to restart: still waiting
    flow.detection_running(True)
    assert flow.detection_stopped(will_restart=False) is True
    assert flow.detection_stopped(will_restart=False) is False  # once
    flow.risk_started(study)
    assert flow.stage is Stage.SCORING_RISK and flow.shows_risk_progress(risk_running=True)
    flow.risk_stopped(will_restart=False)
    assert flow.stage is Stage.REVIEWING and flow.risk is RiskPhase.IDLE


def test_opening_another_study_or_cancelling_drops_a_waiting_risk_run():
    flow = StudyWorkflow()
    flow.open_study("first")
    flow.queue_risk()
    flow.open_study("second")
    assert not flow.risk_waiting and flow.detection_stopped(will_restart=False) is False
    flow.queue_risk()
    assert flow.cancel() is True and flow.cancel() is False


def test_a_late_result_of_an_earlier_study_is_neither_shown_nor_reported():
    flow = StudyWorkflow()
    flow.open_study("first")
    flow.risk_started("first")
    flow.open_study("second")
    assert not flow.shows_risk_progress(risk_running=True)
    assert flow.risk_failed() is False


def test_the_card_asked_for_before_the_model_is_loaded_shows_once_when_it_is_ready():
    flow = StudyWorkflow()
    assert flow.card_wanted(risk_running=False) is True and flow.risk is RiskPhase.CARD
    assert flow.risk_failed() is True  # a card job's failure is always said
    assert flow.risk_model_ready() is False  # the failure cleared the request
    flow.open_study("study")
    flow.risk_started("study")
    assert flow.card_wanted(risk_running=True) is False  # the running job shows it
    assert flow.risk_model_ready() is True and flow.risk_model_ready() is False


def test_a_fresh_run_begins_a_new_run_in_the_review_once_and_a_resumed_one_only_for_another_model():
    flow = StudyWorkflow()
    flow.detection_started(total=10, fresh=True)
    assert flow.model_ready("demo", "demo") is True and flow.model_ready("demo", "demo") is False
    flow.detection_started(total=4, fresh=False)
    assert flow.model_ready("demo", "demo") is False and flow.model_ready("other", "demo") is True


def test_the_status_text_follows_the_run_and_says_nothing_once_it_is_over():
    flow = StudyWorkflow()
    flow.progress.device = "on the CPU"
    flow.detection_started(total=12, fresh=True)
    assert flow.status_text() is None  # the runner has not said it works yet
    flow.detection_running(True)
    assert flow.detection_progress(3, 12, "about 9 s left") == "Detecting 3/12 slices on the CPU - about 9 s left"
    flow.detection_running(False)
    assert flow.detection is DetectionPhase.IDLE and flow.detection_progress(12, 12) is None
