"""Make spreadsheet cells inert against formula injection (CWE-1236).

Excel, LibreOffice and Google Sheets treat a cell whose text starts with ``=``, ``+``, ``-`` or
``@`` (and, after their own trimming, a tab or carriage return followed by one of those) as a
formula. Text that comes from DICOM headers (series descriptions) or from users (notes) is
untrusted, so every text cell we write gets a leading apostrophe when it starts with one of those
characters: spreadsheets show it as plain text. Real numbers (``int``/``float``) are left alone so
that negative coordinates stay numbers.

Example:
    >>> neutralize_cell('=HYPERLINK("http://x","y")')
    '\\'=HYPERLINK("http://x","y")'
    >>> neutralize_cell(-12.5)
    -12.5
"""
from __future__ import annotations

from typing import Any

# The OWASP list, plus the full-width forms that some East Asian Excel locales also accept as formulas.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralize_cell(value: Any) -> Any:
    """Return ``value`` safe to write into a CSV cell: risky text gets a leading apostrophe.

    Strings starting with ``= + - @``, a tab or a carriage return (or the full-width
    ``＝ ＋ － ＠``) are prefixed with ``'``. Numbers, ``None`` and other text pass unchanged.

    Example:
        >>> [neutralize_cell(v) for v in ["+1", "-2+3", "@SUM(A1)", "\\t=1", "\\r=1", "ok", "", 3, None]]
        ["'+1", "'-2+3", "'@SUM(A1)", "'\\t=1", "'\\r=1", 'ok', '', 3, None]
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
