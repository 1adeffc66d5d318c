"""Properties over random inputs: any text is inert in a CSV cell; any sequence of review actions
round-trips through the file format and never loses a decision."""
from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from lesionviewer.detection.finding import Finding
from lesionviewer.review import ReviewSession, Status
from lesionviewer.util.csv_safety import FORMULA_TRIGGERS, neutralize_cell


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_any_text_reads_back_inert_and_recoverable(text):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralize_cell(text), 1.5])
    cell, number = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert cell == text or (cell == "'" + text and text.startswith(FORMULA_TRIGGERS))
    assert number == "1.5"


findings = st.builds(
    lambda z, x, y, size, score: Finding(z, (x, y, x + size, y + size), score, "m"),
    st.integers(0, 5), st.integers(0, 50), st.integers(0, 50), st.integers(1, 20),
    st.floats(0, 1, allow_nan=False),
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(findings, max_size=4), st.lists(st.integers(0, 5), max_size=3)),
        st.tuples(st.just("status"), st.integers(0, 30), st.sampled_from(list(Status))),
        st.tuples(st.just("note"), st.integers(0, 30), st.text(max_size=20)),
        st.tuples(st.just("threshold"), st.floats(0, 1, allow_nan=False)),
        st.tuples(st.just("run"), st.booleans()),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(actions)
def test_random_reviews_round_trip_and_keep_every_decision(steps):
    s = ReviewSession("1.2.3", num_slices=6)
    decided: dict[str, Status] = {}
    for step in steps:
        kind = step[0]
        ids = [rf.id for rf in s.findings()]
        if kind == "add":
            s.add_findings(step[1], slices=step[2])
        elif kind == "run":
            s.begin_run("m2", "2", keep_pending=step[1])
        elif kind == "threshold":
            s.set_threshold(step[1])
        elif ids:
            fid = ids[step[1] % len(ids)]
            if kind == "status":
                s.set_status(fid, step[2])
                decided.pop(fid, None)
                if step[2].is_decided:
                    decided[fid] = step[2]
            else:
                s.set_note(fid, step[2])
        current = {rf.id: rf.status for rf in s.findings()}
        assert {fid: current.get(fid) for fid in decided} == decided  # detector runs never drop a decision
        assert len(current) == len(set(current))
    again = ReviewSession.from_dict(json.loads(s.to_json()))
    assert again.to_dict() == s.to_dict()
    assert again.findings() == s.findings()
    t = s.threshold
    assert [rf.id for rf in s.visible_findings()] == [
        rf.id for rf in s.findings() if rf.score >= t or rf.status is Status.ACCEPTED]
