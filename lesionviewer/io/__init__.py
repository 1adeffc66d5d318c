"""Reading CT: DICOM series, NIfTI/NRRD/MetaImage, DeepLesion PNG series, all into a ``Volume``.

Example:
    >>> from lesionviewer.io import Volume, LoadError
    >>> issubclass(LoadError, Exception)
    True
"""
from lesionviewer.io.errors import (
    CorruptFileError,
    EmptyInputError,
    ImplausibleImageError,
    InconsistentSeriesError,
    LoadError,
    NotDicomError,
    UnsupportedFormatError,
)
from lesionviewer.io.volume import Volume

__all__ = [
    "Volume",
    "LoadError",
    "EmptyInputError",
    "NotDicomError",
    "CorruptFileError",
    "UnsupportedFormatError",
    "ImplausibleImageError",
    "InconsistentSeriesError",
]
