"""Reading CT: DICOM series, NIfTI/NRRD/MetaImage, DeepLesion PNG series, all into a ``Volume``.

``load_volume(path)`` is the one entry point; ``find_series(folder)`` lists what a folder holds
(headers only) so a user can choose; ``read_dl_info(path)`` parses DeepLesion's DL_info.csv.
Everything that goes wrong is a ``LoadError`` naming the file and the problem.

Example:
    >>> from lesionviewer.io import Volume, LoadError, load_volume
    >>> issubclass(LoadError, Exception)
    True
"""
from lesionviewer.io.deeplesion_info import DeepLesionRecord, read_dl_info
from lesionviewer.io.deeplesion_png import load_deeplesion_series
from lesionviewer.io.dicom_write import write_dicom_series
from lesionviewer.io.errors import (
    CorruptFileError,
    EmptyInputError,
    ImplausibleImageError,
    InconsistentSeriesError,
    LoadCancelled,
    LoadError,
    NotDicomError,
    NotRegularFileError,
    UnsupportedFormatError,
)
from lesionviewer.io.itk_image import load_itk_image
from lesionviewer.io.load import find_series, load_volume
from lesionviewer.io.series_info import SeriesInfo
from lesionviewer.io.volume import Volume

__all__ = [
    "Volume",
    "load_volume",
    "find_series",
    "SeriesInfo",
    "read_dl_info",
    "DeepLesionRecord",
    "load_deeplesion_series",
    "load_itk_image",
    "write_dicom_series",
    "LoadError",
    "EmptyInputError",
    "NotDicomError",
    "NotRegularFileError",
    "CorruptFileError",
    "UnsupportedFormatError",
    "ImplausibleImageError",
    "InconsistentSeriesError",
    "LoadCancelled",
]
