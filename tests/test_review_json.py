"""The review file's JSON dialect (lesionviewer.review.review_json): written as readable UTF-8,
read strictly. Written from the survivors of a mutation run (docs/testing.md)."""
from __future__ import annotations

import pytest

from lesionviewer.review.review_json import dumps, loads


def test_text_is_written_as_utf8_not_escaped():
    # a note in French or Japanese stays readable in the file (only lone surrogates are escaped)
    assert dumps({"note": "café 肝臓"}) == '{"note": "café 肝臓"}'
    assert loads(dumps({"note": "café 肝臓"})) == {"note": "café 肝臓"}


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(constant):
    with pytest.raises(ValueError, match=f"^holds {constant}, which is not a number JSON allows$"):
        loads(f'{{"threshold": {constant}}}')


def test_thirty_digit_integers_are_read_and_thirty_one_refused():
    assert loads("1" + "0" * 29) == 10**29 and loads("-" + "9" * 30) == -(10**30 - 1)
    with pytest.raises(ValueError, match=r"^holds an integer of 31 digits \(at most 30 are allowed\)$"):
        loads("1" + "0" * 30)


def test_an_overflowing_number_is_shown_by_its_first_40_characters():
    text = "9" * 45 + "e400"
    with pytest.raises(ValueError) as caught:
        loads(f"[{text}]")
    assert str(caught.value) == f"holds the number {'9' * 40}, too large for a float"
