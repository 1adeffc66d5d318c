"""Text that can always be written as UTF-8: file names that are not valid UTF-8 made printable.

On Linux a file name is bytes. Python hands a name that is not valid UTF-8 over as text holding
"surrogate escapes" (``'caf\\udce9'`` for the Latin-1 bytes ``b'caf\\xe9'``), and such text cannot be
encoded as UTF-8: a CSV or JSON write of it raises ``UnicodeEncodeError`` and, done at the end of
a run, loses everything. :func:`utf8_safe` turns each undecodable byte into the visible escape
``\\xe9`` (Python's ``backslashreplace``), so the text stays readable and the write succeeds; text
that is valid already is returned unchanged.

Example:
    >>> utf8_safe("/data/caf\\udce9/scan.dcm")
    '/data/caf\\\\xe9/scan.dcm'
    >>> utf8_safe("/data/café")
    '/data/café'
"""
from __future__ import annotations


def is_utf8_encodable(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (it holds no lone surrogate).

    Example:
        >>> is_utf8_encodable("ok é"), is_utf8_encodable("bad \\udcff")
        (True, False)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8_safe(text: str) -> str:
    """``text`` with every byte that was not valid UTF-8 written as a ``\\xNN`` escape.

    Surrogate escapes from the file system (``\\udc80``-``\\udcff``) become the byte they stand for
    (``\\x80``-``\\xff``); any other lone surrogate becomes ``\\udNNN``. Valid text is unchanged.

    Example:
        >>> utf8_safe("a\\udcff b\\ud800 c")
        'a\\\\xff b\\\\ud800 c'
    """
    if is_utf8_encodable(text):
        return text
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
