"""Which model file made a set of findings: a fingerprint of the file's bytes.

A review remembers the fingerprint of the model file its findings came from, so that a study
reopened after the model changed (a new default model with the same name, or a retrained file
saved over the old one) is detected again with the current one instead of showing the old
model's findings as if they were current.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = path.write_bytes(b"weights")
    >>> model_fingerprint(path)
    'sha256:9a129038d9a00aed'
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from lesionviewer.util.file_sha256 import file_sha256

__all__ = ["model_fingerprint"]

#: Hex digits of the SHA-256 kept: enough to tell model files apart, short enough to read.
FINGERPRINT_HEX_DIGITS = 16


def model_fingerprint(path: str | os.PathLike) -> str:
    """``"sha256:"`` and the first 16 hex digits of the SHA-256 of the file at ``path``.

    Computed once per file state (its resolved path, size and modification time), so reopening
    studies does not read a model file again. Raises ``FileNotFoundError`` (naming the file) when
    it does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
        >>> _ = path.write_bytes(b"one"); first = model_fingerprint(path)
        >>> _ = path.write_bytes(b"two!"); first == model_fingerprint(path)
        False
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()  # FileNotFoundError names the file
    return _fingerprint(str(resolved), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _fingerprint(path: str, size: int, mtime_ns: int) -> str:
    return "sha256:" + file_sha256(path)[:FINGERPRINT_HEX_DIGITS]
