"""A streaming reader of ``multipart/related`` bodies (WADO-RS answers) and a writer (STOW-RS requests).

The reader takes the body in chunks as they come off the socket and hands out each part as soon
as its closing boundary has arrived, so a retrieve writes instance after instance to disk
without holding the series in memory. A body that stops before its final boundary raises
:class:`TruncatedMultipartError`.

Example:
    >>> body = b"--b\\r\\nContent-Type: application/dicom\\r\\n\\r\\nAAA\\r\\n--b\\r\\n\\r\\nBB\\r\\n--b--\\r\\n"
    >>> [p for p in iter_parts([body[:10], body[10:30], body[30:]], "b")]
    [b'AAA', b'BB']
    >>> list(iter_parts([body[:30]], "b"))
    Traceback (most recent call last):
    ...
    lesionviewer.pacs.multipart.TruncatedMultipartError: the multipart body ended before its closing boundary
"""
from __future__ import annotations

import re
import uuid
from typing import Iterable, Iterator


class TruncatedMultipartError(Exception):
    """The body ended in the middle of a part (the server went away)."""


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a ``multipart/related`` Content-Type header.

    Example:
        >>> boundary_of('multipart/related; type="application/dicom"; boundary=abc123')
        'abc123'
    """
    match = re.search(r'boundary="?([^";,]+)"?', content_type or "", flags=re.IGNORECASE)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise ValueError(f"not a multipart answer: Content-Type {content_type!r}")
    return match.group(1).strip()


def iter_parts(chunks: Iterable[bytes], boundary: str) -> Iterator[bytes]:
    """The bodies (headers stripped) of each part of the multipart stream ``chunks``.

    Example:
        >>> list(iter_parts([b"--x\\r\\n\\r\\n1\\r\\n--x--"], "x"))
        [b'1']
    """
    delimiter = b"\r\n--" + boundary.encode("ascii")
    buffer = bytearray(b"\r\n")  # so that the first boundary looks like every other one
    started = False
    search_from = 0
    for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        while True:
            at = buffer.find(delimiter, search_from)
            if at < 0:
                search_from = max(0, len(buffer) - len(delimiter))
                break
            after = at + len(delimiter)
            if len(buffer) < after + 2:
                search_from = at
                break  # need to know whether this is the closing "--"
            if started:
                # the part: the rest of the boundary line, its headers, a blank line, then the body
                head, sep, body = bytes(buffer[:at]).partition(b"\r\n\r\n")
                yield body if sep else b""
            closing = buffer[after:after + 2] == b"--"
            del buffer[:after]
            search_from = 0
            if closing:
                return
            started = True
    raise TruncatedMultipartError("the multipart body ended before its closing boundary")


def encode_related(parts: Iterable[bytes], content_type: str = "application/dicom") -> tuple[bytes, str]:
    """A ``multipart/related`` body of ``parts`` and its Content-Type header (for STOW-RS).

    Example:
        >>> body, header = encode_related([b"one"])
        >>> list(iter_parts([body], boundary_of(header)))
        [b'one']
    """
    boundary = uuid.uuid4().hex
    pieces = []
    for part in parts:
        pieces += [b"--", boundary.encode(), b"\r\nContent-Type: ", content_type.encode(), b"\r\n\r\n", part, b"\r\n"]
    pieces += [b"--", boundary.encode(), b"--\r\n"]
    return b"".join(pieces), f'multipart/related; type="{content_type}"; boundary={boundary}'
