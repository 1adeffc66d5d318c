"""The one exception family for everything that can go wrong while reading CT data.

Every message names the file (or folder) and says in plain words what is wrong, so the
GUI can show it as it is and the command-line tools can print it without a traceback.

Example:
    >>> err = NotDicomError("/tmp/notes.txt", "no DICOM header (no 'DICM' marker, no known tags)")
    >>> str(err)
    "/tmp/notes.txt: no DICOM header (no 'DICM' marker, no known tags)"
    >>> isinstance(err, LoadError)
    True
"""
from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """A file or folder could not be read as CT; ``path`` names it, ``reason`` says why.

    Example:
        >>> LoadError("scan/", "the folder is empty").reason
        'the folder is empty'
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class EmptyInputError(LoadError):
    """The folder is empty, or holds no file that could be CT."""


class NotDicomError(LoadError):
    """The file is not DICOM (nor any other format we read)."""


class CorruptFileError(LoadError):
    """The file is truncated, its header is malformed, or its pixel data is shorter than declared."""


class UnsupportedFormatError(LoadError):
    """The transfer syntax or image type cannot be decoded here."""


class ImplausibleImageError(LoadError):
    """The header declares an image too large or too odd to be a CT (refused before allocating)."""


class InconsistentSeriesError(LoadError):
    """The files of one series disagree (mixed image sizes, no usable positions...)."""


class NotRegularFileError(LoadError):
    """The path is a named pipe, a device, a socket or a folder where a file was expected; it is never opened."""


class LoadCancelled(LoadError):
    """The caller cancelled the load through its cancel hook; nothing is wrong with the data."""
