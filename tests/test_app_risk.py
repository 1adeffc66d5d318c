"""The Risk panel: score after detection, progress, cancel on a new study, card, errors as sentences, CSV row."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from lesionviewer.io import LoadCancelled  # noqa: E402
from test_app_fakes import SlowFakeDetector, make_window, message_boxes, small_volume, wait_for_jobs  # noqa: E402,F401

CARD = {"name": "fake-risk", "version": "3", "task": "risk",
        "training_data": "400 synthetic chest phantoms (lesionviewer-phantom), labelled by a large nodule",
        "intended_use": "Synthetic demo weights, not for clinical use.",
        "metrics": {"auc": 0.9132, "auc_ci95": [0.87, 0.95], "held_out_volumes": 80}}


@dataclass(frozen=True)
class FakeRiskResult:
    """Same fields as lesionviewer.risk.model.RiskResult."""

    probability: float
    logit: float
    model_name: str
    lung_found: bool = True
    note: str = ""
    enough_lung: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


class FakeRiskModel:
    """Same shape as RiskModel: ``card``, ``name``, ``predict(volume, progress, cancel)``."""

    def __init__(self, probability=0.4242, delay=0.0, lung_found=True, note="", fail=None, detector=None):
        self.card = dict(CARD)
        self.name = CARD["name"]
        self.probability, self.delay, self.lung_found, self.note, self.fail = probability, delay, lung_found, note, fail
        self.detector = detector
        self.enough_lung = lung_found
        self.calls: list = []
        self.cancelled: list = []
        self.slices_detected_before: list[int] = []

    def predict(self, volume, progress=None, cancel=None):
        self.calls.append(volume)
        if self.detector is not None:
            self.slices_detected_before.append(len(self.detector.visited()))
        for step in range(20):
            if cancel is not None and cancel():
                self.cancelled.append(volume)
                raise LoadCancelled("risk", "cancelled")
            time.sleep(self.delay)
            if progress is not None:
                progress((step + 1) / 20, "Scoring the lungs")
        if self.fail is not None:
            raise self.fail
        p = self.probability
        return FakeRiskResult(p, float(np.log(p / (1 - p))), self.name, self.lung_found, self.note, self.enough_lung)


def boxes(window):
    return [entry for entry in window.messages.shown if entry[0] == "box"]


def test_the_score_shows_after_detection_with_the_model_name_and_the_cards_caveat(make_window, qtbot):
    detector = SlowFakeDetector(delay=0.01)
    model = FakeRiskModel(0.4242, detector=detector)
    window = make_window(detector=detector, risk_model=model)
    wait_for_jobs(qtbot)
    panel = window.risk_panel
    assert panel.state == "result"
    assert panel.headline.text() == "Cancer risk 42.4%"
    assert panel.model_label.text() == "Model: fake-risk"
    assert panel.caveat.text() == "Synthetic demo weights, not for clinical use."
    assert model.calls == [window.state.volume]
    assert model.slices_detected_before == [12]  # the risk ran once detection had done every slice
    assert window.bridge.session.risk["probability"] == 0.4242
    assert window.bridge.session.risk["model_version"] == "3"
    assert window.risk_dock.isVisible() and boxes(window) == []


def test_progress_while_computing_and_a_new_study_cancels_the_run(make_window, qtbot, tmp_path):
    model = FakeRiskModel(0.3, delay=0.08)  # 1.6 s per study
    window = make_window(risk_model=model, open_study=False)
    window.open_path(tmp_path / "study.nii")
    panel = window.risk_panel
    qtbot.waitUntil(lambda: panel.progress_bar.value() > 0, timeout=5000)
    assert panel.state == "running" and panel.headline.text() == "Computing risk..."
    assert panel.detail.text() == "Scoring the lungs" and panel.progress_bar.isVisible()
    assert window.cancel_button.isVisible()
    first = window.state.volume
    second = small_volume(uid="1.2.826.0.1.3680043.8.498.77")
    window.loader = lambda path, **_: second
    window.open_path(tmp_path / "other.nii")  # the GUI is not blocked: the open goes through at once
    qtbot.waitUntil(lambda: window.state.volume is second, timeout=5000)
    wait_for_jobs(qtbot)
    assert model.cancelled == [first]
    assert model.calls == [first, second]
    assert panel.state == "result" and window.bridge.session.risk["probability"] == 0.3
    from lesionviewer.review import ReviewSession

    assert ReviewSession.open(first, folder=tmp_path / "reviews").risk is None  # the stopped run left nothing


def test_cancel_stops_the_risk_and_says_so(make_window, qtbot, tmp_path):
    model = FakeRiskModel(delay=0.05)
    window = make_window(risk_model=model, open_study=False)
    window.open_path(tmp_path / "study.nii")
    qtbot.waitUntil(lambda: window.risk_panel.progress_bar.value() > 0, timeout=5000)
    window.cancel_button.click()
    wait_for_jobs(qtbot)
    assert model.cancelled == [window.state.volume]
    assert window.risk_panel.state == "idle" and "cancelled" in window.risk_panel.detail.text()
    assert window.bridge.session.risk is None and boxes(window) == []
    assert window.run_risk()  # the button/menu computes it again
    wait_for_jobs(qtbot)
    assert window.risk_panel.state == "result"


def test_no_risk_model_says_so(make_window, qtbot):
    window = make_window()  # no risk model given, none from resources/
    assert window.risk_panel.state == "no_model"
    assert window.risk_panel.headline.text() == "No risk model"
    assert not window.risk_panel.compute_button.isEnabled()
    assert boxes(window) == []


def test_a_wrong_model_file_and_a_failing_predict_are_sentences_in_the_panel(make_window, qtbot, tmp_path):
    model = FakeRiskModel()
    window = make_window(risk_model=model, settings=_settings(auto_risk=False))
    bad = tmp_path / "holiday_risk.safetensors"

    def wrong_file(path, device):
        raise ValueError(f"{bad}: the model card says task 'detection', not 'risk'")

    window.risk_runner.factory = wrong_file
    assert window.run_risk()
    wait_for_jobs(qtbot)
    panel = window.risk_panel
    assert panel.state == "error"
    assert panel.detail.text().startswith("Cannot use the risk model")
    assert "holiday_risk.safetensors" in panel.detail.text() and "not 'risk'" in panel.detail.text()
    window.risk_runner.factory = lambda path, device: model
    model.fail = RuntimeError("the volume has no axial slices")
    assert window.run_risk()
    wait_for_jobs(qtbot)
    assert panel.detail.text() == "The risk could not be computed: the volume has no axial slices"
    assert "Traceback" not in panel.detail.text() and boxes(window) == []
    assert window.bridge.session.risk is None


def test_lung_not_found_shows_the_models_note_and_no_number(make_window, qtbot):
    note = "No lung found: the score is from the centre of the volume."
    window = make_window(risk_model=FakeRiskModel(0.02, lung_found=False, note=note))
    wait_for_jobs(qtbot)
    assert window.risk_panel.headline.text() == "No risk score for this scan"  # issue 14, item 12
    assert "%" not in window.risk_panel.headline.text() + window.risk_panel.detail.text()
    assert window.risk_panel.detail.text() == note and window.risk_panel.detail.isVisible()


def test_too_little_lung_shows_only_the_reason_never_a_percentage(make_window, qtbot):
    # Issue 14, item 12: a head or abdomen scan holds some lung at most; the score means nothing there.
    note = "only 120 ml of lung were found: the scan may not cover the chest, the score is unreliable"
    model = FakeRiskModel(0.37, lung_found=True, note=note)
    model.enough_lung = False
    window = make_window(risk_model=model)
    wait_for_jobs(qtbot)
    panel = window.risk_panel
    assert panel.headline.text() == "No risk score for this scan"
    assert "%" not in panel.headline.text() + panel.detail.text() and "37" not in panel.headline.text()
    assert panel.detail.text().startswith("Only 120 ml of lung")
    assert window.bridge.session.risk["enough_lung"] is False


def test_a_reopened_study_shows_its_saved_score_and_exports_it(make_window, qtbot, tmp_path):
    model = FakeRiskModel(0.1234)
    window = make_window(risk_model=model)
    wait_for_jobs(qtbot)
    window.open_path(tmp_path / "study.nii")  # the same series again
    qtbot.waitUntil(lambda: window.risk_panel.state == "result", timeout=5000)
    wait_for_jobs(qtbot)
    assert len(model.calls) == 1  # not computed again
    assert window.risk_panel.headline.text() == "Cancer risk 12.3%"
    out = tmp_path / "export.csv"
    assert window.export_csv(out)
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert (rows[0]["row_type"], rows[0]["score"], rows[0]["model_name"]) == ("risk", "0.1234", "fake-risk")
    assert {r["row_type"] for r in rows[1:]} == {"finding"}


def test_the_model_card_shows_its_data_caveat_and_metrics_even_before_a_run(make_window, qtbot):
    window = make_window(risk_model=FakeRiskModel(), settings=_settings(auto_risk=False))
    assert window.risk_panel.state == "idle" and window.risk_runner.card is None
    window.risk_panel.card_button.click()  # the model is loaded in the background, then its card shows
    qtbot.waitUntil(lambda: any(e[0] == "information" for e in window.messages.shown), timeout=5000)
    kind, title, text = window.messages.shown[-1]
    assert title == "Risk model card: fake-risk"
    assert "training data: 400 synthetic chest phantoms" in text
    assert "intended use: Synthetic demo weights, not for clinical use." in text
    assert "    auc: 0.9132" in text and "    auc ci95: 0.87, 0.95" in text
    assert window.bridge.session.risk is None  # showing the card computed nothing


def _settings(**changes):
    from lesionviewer_app.settings import ViewerSettings

    return ViewerSettings(**changes)


# ---------------------------------------------------------------- which file is which model

def _model_file(path, card):
    from safetensors.numpy import save_file

    metadata = {} if card is None else {"lesionviewer.model_card": json.dumps(card)}
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata=metadata)
    return path


@pytest.fixture
def resources(tmp_path, monkeypatch):
    """A resources/ folder of the test's own, with models/ in it (the library looks there for shipped models)."""
    from lesionviewer.detection import default_model

    root = tmp_path / "resources"
    (root / "models").mkdir(parents=True)
    monkeypatch.setattr(default_model, "resources_dir", lambda: root)
    return root / "models"


def test_the_detector_and_the_risk_model_are_told_apart_by_their_cards(resources):
    from lesionviewer_app import detection_runner, model_files, risk_runner

    _model_file(resources / "demo_mp3d_small.safetensors", {"name": "demo-mp3d", "architecture": "mp3d_small"})
    _model_file(resources / "demo_risk_i3d.safetensors", CARD)
    # sorted first, yet a detector: its card says so, whatever its name
    _model_file(resources / "a_risky_detector.safetensors", {"name": "d", "task": "detection"})
    assert detection_runner.default_model_path() == resources / "a_risky_detector.safetensors"
    assert model_files.default_risk_model_path() == resources / "demo_risk_i3d.safetensors"
    (resources / "a_risky_detector.safetensors").unlink()
    assert detection_runner.default_model_path() == resources / "demo_mp3d_small.safetensors"
    assert risk_runner.RiskRunner().model_path == str(resources / "demo_risk_i3d.safetensors")


def test_the_card_decides_the_kind_never_the_file_name(resources):
    from lesionviewer_app import model_files

    risk_named_like_a_detector = _model_file(resources / "b_detector.safetensors", CARD)
    detector_named_risk = _model_file(resources / "a_risk_x.safetensors", {"name": "d", "architecture": "mp3d_small"})
    assert model_files.is_risk_model(risk_named_like_a_detector)
    assert not model_files.is_risk_model(detector_named_risk)
    assert model_files.default_detector_path() == detector_named_risk
    assert model_files.default_risk_model_path() == risk_named_like_a_detector


def test_a_file_without_a_risk_card_is_no_risk_model_whatever_its_name(resources):
    from lesionviewer_app import model_files

    _model_file(resources / "demo_risk_i3d.safetensors", {"name": "old card without a task"})
    _model_file(resources / "risk_no_card.safetensors", None)
    (resources / "risk_not_a_model.safetensors").write_bytes(b"not safetensors")
    assert [model_files.is_risk_model(p) for p in sorted(resources.iterdir())] == [False, False, False]
    assert model_files.default_risk_model_path() is None
    assert model_files.default_detector_path() == resources / "demo_risk_i3d.safetensors"  # first by name


def test_a_chosen_risk_model_is_remembered_and_a_detector_file_is_refused(make_window, qtbot, tmp_path):
    from lesionviewer_app.settings import ViewerSettings

    window = make_window(risk_model=FakeRiskModel(0.7))
    wait_for_jobs(qtbot)
    detector_file = _model_file(tmp_path / "det.safetensors", {"name": "d", "task": "detection"})
    assert not window.use_risk_model(str(detector_file))
    kind, title, text = window.messages.shown[-1]
    assert title == "Not a risk model" and "det.safetensors" in text
    risk_file = _model_file(tmp_path / "mine.safetensors", CARD)
    assert window.use_model(str(risk_file))  # Detection > Load model... with a risk file: goes to the risk panel
    assert window.runner.model_path != str(risk_file)
    assert window.risk_runner.model_path == str(risk_file)
    assert ViewerSettings.load().risk_model_path == str(risk_file)
    wait_for_jobs(qtbot)
    assert window.risk_panel.state == "result"  # the shown study was scored with the new model


def test_caveat_is_the_description_not_the_command_line():
    from app.risk_panel import card_caveat

    card = {"command": "lesionviewer-train risk export --data-description 'synthetic; not for clinical use. 1400 cases'",
            "created": "2026-11-26", "description": "demo risk model on synthetic phantoms (not for clinical use)",
            "training_data": {"description": "synthetic chest CT phantoms; not for clinical use"}}
    assert card_caveat(card) == "demo risk model on synthetic phantoms (not for clinical use)"
    del card["description"]
    assert card_caveat(card) == "synthetic chest CT phantoms; not for clinical use"
    del card["training_data"]
    assert card_caveat(card) == ""  # the command line alone is never shown as the caveat


def test_shipped_demo_risk_model_caveat_says_synthetic():
    from app.risk_panel import card_caveat
    from lesionviewer.paths import resources_dir

    path = resources_dir() / "models" / "demo_risk_mp3d.safetensors"
    if not path.is_file():
        pytest.skip("no demo risk model shipped")
    from lesionviewer.risk.model import RiskModel

    text = card_caveat(RiskModel.from_file(path).card)
    assert "synthetic" in text and "not for clinical use" in text and "lesionviewer-train" not in text


def _risk_card_file(path, card):
    """A safetensors file with only a risk card in its header (enough for the header-only card read)."""
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(1, np.float32)}, str(path), metadata={"lesionviewer.risk_card": json.dumps(card)})
    return path


@pytest.mark.parametrize("card_name,shown", [("fake-risk", True), ("another-risk-model", False)])
def test_a_saved_score_shows_its_models_caveat_without_loading_the_model(make_window, qtbot, tmp_path, card_name, shown):
    first = make_window(risk_model=FakeRiskModel(0.1234))
    qtbot.waitUntil(lambda: first.risk_panel.state == "result", timeout=5000)
    wait_for_jobs(qtbot)
    first.close()
    caveat = "Synthetic demo weights, not for clinical use."
    model_file = _risk_card_file(tmp_path / "risk.safetensors", {"task": "risk", "name": card_name, "description": caveat})
    again = make_window(open_study=False, settings=_settings(auto_risk=False, auto_detect=False))
    again.risk_runner.set_model(model_file)
    again.open_path(tmp_path / "study.nii")  # a new start of the viewer on the same study
    qtbot.waitUntil(lambda: again.risk_panel.state == "result", timeout=5000)
    wait_for_jobs(qtbot)
    assert again.risk_panel.headline.text() == "Cancer risk 12.3%"
    assert again.risk_runner.card is None  # the card came from the file's header, nothing was loaded
    assert again.risk_panel.caveat.text() == (caveat if shown else "")
