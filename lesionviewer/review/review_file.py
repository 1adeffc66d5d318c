"""The review's JSON file on disk: where it lives, atomic writing, reading, and setting bad files aside.

One file per series: ``user_data_dir()/reviews/<series key>.json``, always replaced atomically
(temporary file, fsync, rename), so a kill at any moment leaves either the previous or the new
state, never a torn file. The JSON carries ``format_version`` (:data:`FORMAT_VERSION`) and is
written and read by :mod:`lesionviewer.review.review_json`: a non-finite number is saved as
``null`` and text that is not valid UTF-8 as escapes, so no value can stop the autosave; a file
holding ``Infinity``, ``1e400``, a 5000-digit integer or absurd nesting is a :class:`ReviewFileError`.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "1.2.3.json"
    >>> write_review_file(path, {"series_key": "1.2.3"})
    >>> read_review_file(path)["format_version"]
    1
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lesionviewer.paths import user_data_dir
from lesionviewer.review import review_json
from lesionviewer.review.series_key import is_valid_key
from lesionviewer.util.atomic import atomic_write_text

FORMAT_VERSION = 1


class ReviewFileError(Exception):
    """A review file that cannot be used: unreadable, not JSON, wrong shape or a newer format.

    Example:
        >>> str(ReviewFileError("/x/1.json", "not JSON"))
        'review file /x/1.json: not JSON'
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"review file {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NewerFormatError(ReviewFileError):
    """A review file written by a newer LesionViewer: set aside as ``.unsupported``, never overwritten.

    Example:
        >>> issubclass(NewerFormatError, ReviewFileError)
        True
    """


def reviews_dir() -> Path:
    """The folder holding every saved review (created on first use).

    Example:
        >>> import os, tempfile
        >>> os.environ["LESIONVIEWER_HOME"] = tempfile.mkdtemp()  # keep the example out of the real home
        >>> reviews_dir().name
        'reviews'
    """
    folder = user_data_dir() / "reviews"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def review_path(key: str, folder: str | Path | None = None) -> Path:
    """Where the review of series ``key`` is saved; refuses keys that are not safe file names.

    Example:
        >>> review_path("1.2.3", "/tmp/r").as_posix()
        '/tmp/r/1.2.3.json'
        >>> review_path("../x", "/tmp/r")
        Traceback (most recent call last):
        ...
        ValueError: '../x' is not a valid series key (letters, digits, '.', '_', '-' only)
    """
    if not is_valid_key(key):
        raise ValueError(f"{key!r} is not a valid series key (letters, digits, '.', '_', '-' only)")
    return Path(folder if folder is not None else reviews_dir()) / f"{key}.json"


def encode_review(data: dict[str, Any], findings_json: list[str] | None = None) -> str:
    """The file text for ``data``, stamped with ``format_version``, one finding per line.

    ``findings_json`` may hold the findings already encoded (one JSON object each, by
    :func:`lesionviewer.review.review_json.dumps`): the session caches them, so that a decision on a
    5000-finding review re-encodes one finding, not all. Non-finite numbers become ``null``.

    Example:
        >>> encode_review({"series_key": "1.2"}, ['{"id": "F1"}'])
        '{"format_version": 1, "series_key": "1.2", "findings": [\\n{"id": "F1"}\\n]}\\n'
        >>> encode_review({"threshold": float("nan")})
        '{"format_version": 1, "threshold": null}\\n'
    """
    head = {"format_version": FORMAT_VERSION, **{k: v for k, v in data.items() if k != "format_version"}}
    if findings_json is None:
        return review_json.dumps(head) + "\n"
    head.pop("findings", None)
    text = review_json.dumps(head)
    return text[:-1] + ', "findings": [\n' + ",\n".join(findings_json) + "\n]}\n"


def write_review_file(path: str | Path, data: dict[str, Any], findings_json: list[str] | None = None) -> None:
    """Atomically replace ``path`` with :func:`encode_review` of ``data``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "k.json"
        >>> write_review_file(p, {"a": 1})
        >>> p.read_text()
        '{"format_version": 1, "a": 1}\\n'
    """
    atomic_write_text(path, encode_review(data, findings_json))


def read_review_file(path: str | Path) -> dict[str, Any]:
    """The JSON object saved at ``path``; :class:`ReviewFileError` when it cannot be used.

    Raises ``FileNotFoundError`` when there is no file (a series never reviewed).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.json"
        >>> _ = p.write_text('{"format_version": 1, "findi')
        >>> read_review_file(p)
        Traceback (most recent call last):
        ...
        lesionviewer.review.review_file.ReviewFileError: review file ...bad.json: not valid JSON (...)
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ReviewFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReviewFileError(path, f"not valid JSON ({exc})") from exc
    try:
        data = review_json.loads(text)
    except ValueError as exc:  # JSONDecodeError too; and Infinity, 1e400, huge integers, deep nesting
        reason = str(exc) if not isinstance(exc, json.JSONDecodeError) else f"not valid JSON ({exc})"
        raise ReviewFileError(path, reason) from exc
    if not isinstance(data, dict):
        raise ReviewFileError(path, f"holds a JSON {type(data).__name__}, not an object")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ReviewFileError(path, "has no integer format_version")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            path, f"was written by a newer LesionViewer (format {version}; this version reads up to {FORMAT_VERSION})"
        )
    if version < 1:
        raise ReviewFileError(path, f"has an unknown format_version {version}")
    return data


def set_aside(path: str | Path, label: str = "corrupt") -> Path:
    """Rename an unusable review file to ``<name>.<label>-<UTC time>`` so nothing is overwritten.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "k.json"
        >>> _ = p.write_text("junk")
        >>> kept = set_aside(p)
        >>> kept.name.startswith("k.json.corrupt-"), p.exists(), kept.read_text()
        (True, False, 'junk')
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.{label}-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{label}-{stamp}-{counter}")
    os.replace(path, target)
    return target


def remove_stale_temporaries(path: str | Path, older_than_s: float = 60.0) -> int:
    """Delete temporary files a killed autosave left beside ``path``; returns how many.

    Only ones older than ``older_than_s`` go, so a write in progress elsewhere is never touched.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "k.json"
        >>> _ = (p.parent / ".k.json.abc.tmp").write_text("half")
        >>> remove_stale_temporaries(p, older_than_s=0)
        1
    """
    path = Path(path)
    removed = 0
    now = time.time()
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime >= older_than_s:
                tmp.unlink()
                removed += 1
        except OSError:
            pass
    return removed
