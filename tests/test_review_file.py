"""The review file on disk (``lesionviewer.review.review_file``): its text, the reasons a bad file is
refused, setting a bad file aside and clearing a killed autosave's temporaries.

Written from the survivors of a mutation run (issue 18). Every expected value is worked by hand and
written down here: the file text byte for byte, each error's words, the set-aside names for a clock
fixed at 1 700 000 000 s (2023-11-14 22:13:20 UTC), the temporaries' ages. The folders are the test's
own ``tmp_path``; ``LESIONVIEWER_HOME`` points into it too, so the user's data folder is never touched.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lesionviewer.review.review_file import (
    NewerFormatError,
    ReviewFileError,
    encode_review,
    read_review_file,
    remove_stale_temporaries,
    set_aside,
    write_review_file,
)

CLOCK = 1_700_000_000  # 2023-11-14T22:13:20Z
STAMP = "20231114T221320Z"


@pytest.fixture(autouse=True)
def own_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LESIONVIEWER_HOME", str(tmp_path / "home"))


@pytest.fixture
def fixed_clock(monkeypatch):
    """``time.time()`` and ``time.gmtime()`` (no argument) read 1 700 000 000 s after the epoch."""
    real_gmtime = time.gmtime
    monkeypatch.setattr(time, "time", lambda: float(CLOCK))
    monkeypatch.setattr(time, "gmtime", lambda secs=None: real_gmtime(CLOCK if secs is None else secs))


def _refused(path: Path) -> ReviewFileError:
    with pytest.raises(ReviewFileError) as caught:
        read_review_file(path)
    return caught.value


# --- the error itself


def test_the_error_keeps_the_path_and_the_reason_apart():
    error = ReviewFileError("/x/1.json", "not JSON")
    assert str(error) == "review file /x/1.json: not JSON"
    assert error.path == Path("/x/1.json")
    assert error.reason == "not JSON"


# --- the file text


def test_a_format_version_in_the_data_is_replaced_by_the_current_one():
    assert encode_review({"format_version": 7, "a": 1}) == '{"format_version": 1, "a": 1}\n'
    assert encode_review({"a": 1, "format_version": 0}, []) == '{"format_version": 1, "a": 1, "findings": [\n\n]}\n'


def test_findings_already_encoded_replace_the_findings_in_the_data():
    text = encode_review({"series_key": "k", "findings": [{"id": "old"}]}, ['{"id": "F1"}', '{"id": "F2"}'])
    assert text == '{"format_version": 1, "series_key": "k", "findings": [\n{"id": "F1"},\n{"id": "F2"}\n]}\n'


def test_the_file_written_holds_the_findings_already_encoded(tmp_path):
    path = tmp_path / "k.json"
    write_review_file(path, {"series_key": "k"}, ['{"id": "F1"}'])
    assert path.read_bytes() == b'{"format_version": 1, "series_key": "k", "findings": [\n{"id": "F1"}\n]}\n'
    assert read_review_file(path) == {"format_version": 1, "series_key": "k", "findings": [{"id": "F1"}]}


# --- why a file is refused


def test_a_file_that_cannot_be_read_names_the_file_and_the_system_error(tmp_path):
    path = tmp_path / "k.json"
    path.mkdir()  # reading a folder fails with EISDIR, whose text (POSIX/glibc) is "Is a directory"
    error = _refused(path)
    assert str(error) == f"review file {path}: cannot be read (Is a directory)"
    assert error.path == path
    assert error.reason == "cannot be read (Is a directory)"


def test_a_missing_file_is_not_a_review_file_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_review_file(tmp_path / "never.json")


def test_bytes_that_are_not_utf8_are_not_valid_json(tmp_path):
    path = tmp_path / "k.json"
    path.write_bytes(b'{"a": "\xff"}')  # 0xff never starts a UTF-8 sequence; it is byte 7 (from 0)
    error = _refused(path)
    assert error.reason == "not valid JSON ('utf-8' codec can't decode byte 0xff in position 7: invalid start byte)"


def test_a_value_json_does_not_allow_is_named_as_it_is(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"format_version": 1, "threshold": Infinity}', encoding="utf-8")
    error = _refused(path)
    assert error.reason == "holds Infinity, which is not a number JSON allows"
    assert str(error) == f"review file {path}: holds Infinity, which is not a number JSON allows"


def test_broken_json_says_so_with_the_place(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"a": ', encoding="utf-8")  # the value expected at the 7th character, index 6
    assert _refused(path).reason == "not valid JSON (Expecting value: line 1 column 7 (char 6))"


def test_json_that_is_not_an_object_names_what_it_holds(tmp_path):
    path = tmp_path / "k.json"
    path.write_text("[1, 2]", encoding="utf-8")
    error = _refused(path)
    assert error.reason == "holds a JSON list, not an object"
    assert error.path == path


@pytest.mark.parametrize("text", ['{"a": 1}', '{"format_version": "1"}', '{"format_version": true}',
                                  '{"format_version": 1.0}'])
def test_a_missing_or_non_integer_format_version_is_refused(tmp_path, text):
    path = tmp_path / "k.json"
    path.write_text(text, encoding="utf-8")
    error = _refused(path)
    assert str(error) == f"review file {path}: has no integer format_version"


def test_a_newer_format_says_which_format_and_what_this_version_reads(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"format_version": 2}', encoding="utf-8")
    with pytest.raises(NewerFormatError) as caught:
        read_review_file(path)
    assert caught.value.reason == "was written by a newer LesionViewer (format 2; this version reads up to 1)"
    assert caught.value.path == path


@pytest.mark.parametrize("version", [0, -3])
def test_a_format_version_below_one_is_unknown(tmp_path, version):
    path = tmp_path / "k.json"
    path.write_text(f'{{"format_version": {version}}}', encoding="utf-8")
    error = _refused(path)
    assert type(error) is ReviewFileError
    assert str(error) == f"review file {path}: has an unknown format_version {version}"
    assert error.path == path


# --- setting a bad file aside


def test_a_bad_file_is_set_aside_under_the_utc_time(tmp_path, fixed_clock):
    path = tmp_path / "k.json"
    path.write_text("junk", encoding="utf-8")
    kept = set_aside(path, "unsupported")
    assert kept == tmp_path / f"k.json.unsupported-{STAMP}"
    assert kept.read_text(encoding="utf-8") == "junk" and not path.exists()


def test_a_second_file_set_aside_in_the_same_second_gets_number_2(tmp_path, fixed_clock):
    first = tmp_path / f"k.json.corrupt-{STAMP}"
    first.write_text("first", encoding="utf-8")
    path = tmp_path / "k.json"
    path.write_text("second", encoding="utf-8")
    kept = set_aside(path)
    assert kept == tmp_path / f"k.json.corrupt-{STAMP}-2"
    assert kept.read_text(encoding="utf-8") == "second" and first.read_text(encoding="utf-8") == "first"


def test_a_third_file_set_aside_in_the_same_second_gets_number_3(tmp_path, fixed_clock):
    (tmp_path / f"k.json.corrupt-{STAMP}").write_text("first", encoding="utf-8")
    (tmp_path / f"k.json.corrupt-{STAMP}-2").write_text("second", encoding="utf-8")
    path = tmp_path / "k.json"
    path.write_text("third", encoding="utf-8")
    kept = set_aside(path)
    assert kept == tmp_path / f"k.json.corrupt-{STAMP}-3"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"k.json.corrupt-{STAMP}", f"k.json.corrupt-{STAMP}-2", f"k.json.corrupt-{STAMP}-3"]


# --- temporaries a killed autosave left


def _temporary(folder: Path, name: str, age_s: float) -> Path:
    tmp = folder / name
    tmp.write_text("half", encoding="utf-8")
    os.utime(tmp, (CLOCK - age_s, CLOCK - age_s))
    return tmp


def test_a_temporary_one_minute_old_goes_and_a_younger_one_stays(tmp_path, fixed_clock):
    old = _temporary(tmp_path, ".k.json.a.tmp", 60)  # exactly the default minute: old enough
    young = _temporary(tmp_path, ".k.json.b.tmp", 59)
    fresh = _temporary(tmp_path, ".k.json.c.tmp", 0)
    assert remove_stale_temporaries(tmp_path / "k.json") == 1
    assert not old.exists() and young.exists() and fresh.exists()


def test_every_stale_temporary_is_counted(tmp_path, fixed_clock):
    for name in (".k.json.a.tmp", ".k.json.b.tmp", ".k.json.c.tmp"):
        _temporary(tmp_path, name, 3600)
    other = _temporary(tmp_path, ".other.json.a.tmp", 3600)  # another review's: not this file's
    assert remove_stale_temporaries(tmp_path / "k.json", older_than_s=10) == 3
    assert [p.name for p in tmp_path.iterdir()] == [other.name]
