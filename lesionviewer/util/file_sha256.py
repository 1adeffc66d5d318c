"""The SHA-256 of a file's bytes, read in blocks (model files and sample manifests are tens of MB).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "f.bin"
    >>> _ = path.write_bytes(b"weights")
    >>> file_sha256(path)[:16]
    '9a129038d9a00aed'
"""
from __future__ import annotations

import hashlib
import os

__all__ = ["file_sha256"]


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path`` (``FileNotFoundError`` names a missing file).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
        >>> _ = path.write_bytes(b""); file_sha256(path)[:8]
        'e3b0c442'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
