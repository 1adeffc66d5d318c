"""Checks made before any byte of a file is read: only regular files, of a plausible size.

A study folder can hold things that are not files at all: a named pipe (opening it waits for a
writer that never comes), a link to ``/dev/zero`` (endless zeros) or to ``/dev/urandom`` (endless
noise), a socket. ``os.stat`` tells them apart without opening them, so every reader of this
package asks :func:`regular_file_size` first and never opens anything else. The size is checked
against a per-kind limit at the same time, so a 40 GB file is refused before it is read.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> pipe = os.path.join(folder, "slice.dcm"); os.mkfifo(pipe)
    >>> regular_file_size(pipe)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.io.errors.NotRegularFileError: .../slice.dcm: not a regular file (a named pipe); only regular files are read
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from lesionviewer.io.errors import ImplausibleImageError, LoadError, NotRegularFileError

#: No single DICOM, PNG or image file we read is larger than this (an 8 GiB volume plus headers).
MAX_FILE_BYTES = 8 * 1024**3 + 64 * 1024**2

_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def file_kind(mode: int) -> str:
    """Plain words for what a ``st_mode`` describes ("a regular file", "a named pipe", ...).

    Example:
        >>> import stat
        >>> file_kind(stat.S_IFIFO | 0o644), file_kind(stat.S_IFREG | 0o644)
        ('a named pipe', 'a regular file')
    """
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a file"


def regular_file_size(path: str | Path, limit: int = MAX_FILE_BYTES, what: str = "file") -> int:
    """The size in bytes of ``path`` after checking it is a regular file no larger than ``limit``.

    Symbolic links are followed, so a link to a device is named as one (with its target).
    ``NotRegularFileError`` for pipes, devices, sockets and folders; ``ImplausibleImageError``
    above ``limit``; ``LoadError`` where the path cannot be examined. Nothing is opened.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.dcm")
        >>> _ = open(path, "wb").write(b"12345")
        >>> regular_file_size(path)
        5
        >>> regular_file_size(path, limit=4, what="DICOM file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.ImplausibleImageError: ...a.dcm: the DICOM file is 5 bytes, more than the 4 bytes a DICOM file can plausibly be; refused before reading
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise LoadError(path, "no such file (or a broken link)") from None
    except OSError as exc:
        raise LoadError(path, f"could not be examined ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        via = ""
        if os.path.islink(path):
            via = f" via a link to {os.path.realpath(path)}"
        raise NotRegularFileError(path, f"not a regular file ({file_kind(info.st_mode)}{via}); only regular files are read")
    if info.st_size > limit:
        raise ImplausibleImageError(
            path,
            f"the {what} is {_bytes(info.st_size)}, more than the {_bytes(limit)} a {what} can plausibly be; "
            f"refused before reading",
        )
    return int(info.st_size)


def is_regular_file(path: str | Path) -> bool:
    """True for a regular file (links followed); False for pipes, devices, folders, missing paths.

    Example:
        >>> is_regular_file("/dev/zero"), is_regular_file(__file__)
        (False, True)
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
