"""The review file's JSON dialect: always writable, strictly read.

Writing never fails because of a value: a number that is not finite (NaN or infinity, e.g. a
millimetre size on a series whose pixel spacing is unknown) is written as ``null``, and text that
is not valid UTF-8 (a folder name in another encoding, kept as the last export's path) is written
with its lone surrogates as ``\\uDCxx`` escapes, which read back to the very same text. So one odd
value can never stop the autosave.

Reading refuses what this writer never produces, with a ``ValueError`` that says what: ``NaN``,
``Infinity``, a number too large for a float (``1e400``), an integer of more than
:data:`MAX_INTEGER_DIGITS` digits, and nesting too deep for the parser (a ``RecursionError``).

Example:
    >>> text = dumps({"size_mm": float("nan"), "path": "/data/caf\\udce9"})
    >>> text
    '{"size_mm": null, "path": "/data/caf\\\\udce9"}'
    >>> loads(text)["path"] == "/data/caf\\udce9"
    True
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

#: The longest integer a review file may hold (a slice index or a counter needs far fewer).
MAX_INTEGER_DIGITS = 30

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth of lists, tuples and dicts) replaced by None.

    Example:
        >>> finite_or_none({"a": [1.5, float("inf")], "b": (float("nan"), "x")})
        {'a': [1.5, None], 'b': [None, 'x']}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """JSON text of ``value`` that can always be written as UTF-8 (see the module text).

    Example:
        >>> dumps([float("-inf"), "\\udcff"])
        '[null, "\\\\udcff"]'
    """
    text = json.dumps(finite_or_none(value), ensure_ascii=False, allow_nan=False)
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"holds {name}, which is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"holds the number {text[:40]}, too large for a float")
    return value


def _short_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise ValueError(f"holds an integer of {digits} digits (at most {MAX_INTEGER_DIGITS} are allowed)")
    return int(text)


def loads(text: str) -> Any:
    """Parse review JSON strictly; ``ValueError`` saying what is wrong (see the module text).

    Example:
        >>> loads('{"threshold": 1e400}')
        Traceback (most recent call last):
        ...
        ValueError: holds the number 1e400, too large for a float
        >>> loads("[" * 100000 + "]" * 100000)
        Traceback (most recent call last):
        ...
        ValueError: holds JSON nested too deeply to read
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_short_int)
    except RecursionError:
        raise ValueError("holds JSON nested too deeply to read") from None
