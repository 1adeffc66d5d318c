"""Properties over random inputs: any text is inert in a CSV cell; any sequence of review actions
round-trips through the file format and never loses a decision."""
from __future__ import annotations

import csv
import io
import json
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lesionviewer.detection.finding import Finding
from lesionviewer.review import ReviewSession, Status
from lesionviewer.util.csv_safety import neutralize_cell


# The rule, written from its sources rather than read from the module: OWASP's CSV-injection list
# (a cell starting with = + - @, tab 0x09 or carriage return 0x0D is a formula) and the full-width
# forms of the four signs (U+FF01..U+FF5E are ASCII + 0xFEE0, named "FULLWIDTH <ASCII name>"),
# which East Asian Excel locales read as formulas too.
OWASP_SIGNS = ("=", "+", "-", "@")
OWASP_CONTROLS = ("\t", "\r")
FULLWIDTH_SIGNS = tuple(unicodedata.lookup("FULLWIDTH " + unicodedata.name(c)) for c in OWASP_SIGNS)
NEAR_MISSES = ("'", "a", " ", "\n", "1", "*", "\uff1c", "\ufe62", "\u2212", "\u00a0", "\uff01")


def starts_a_formula(text: str) -> bool:
    return text[:1] in OWASP_SIGNS + OWASP_CONTROLS + FULLWIDTH_SIGNS


def test_the_rule_names_the_four_full_width_signs():
    assert FULLWIDTH_SIGNS == ("\uff1d", "\uff0b", "\uff0d", "\uff20")
    assert all(ord(w) - ord(c) == 0xFEE0 for w, c in zip(FULLWIDTH_SIGNS, OWASP_SIGNS))


@pytest.mark.parametrize("first", OWASP_SIGNS + OWASP_CONTROLS + FULLWIDTH_SIGNS,
                         ids=lambda c: unicodedata.name(c, f"U+{ord(c):04X}"))
def test_every_formula_trigger_is_neutralized(first):
    assert neutralize_cell(first + "1+1") == "'" + first + "1+1"
    assert neutralize_cell(first) == "'" + first


@pytest.mark.parametrize("first", NEAR_MISSES, ids=lambda c: f"U+{ord(c):04X}")
def test_near_misses_stay_as_written(first):
    assert neutralize_cell(first + "1+1") == first + "1+1"


texts = st.one_of(
    st.text(),
    st.tuples(st.sampled_from(OWASP_SIGNS + OWASP_CONTROLS + FULLWIDTH_SIGNS + NEAR_MISSES), st.text()).map("".join),
)


@settings(max_examples=200, deadline=None)
@given(texts)
@example("\uff0b1")
def test_any_text_reads_back_inert_and_recoverable(text):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralize_cell(text), 1.5])
    cell, number = next(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    assert not starts_a_formula(cell)
    if starts_a_formula(text):
        assert cell == "'" + text
    else:
        assert cell == text
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
