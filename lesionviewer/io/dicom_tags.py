"""Reading single tags of a DICOM header fast (numbers and ASCII straight from the raw bytes) and checking values.

Example:
    >>> import pydicom
    >>> ds = pydicom.Dataset(); ds.PixelSpacing = ["0.5", "0.5"]
    >>> tag_floats(ds, "PixelSpacing", 2), positive_or_none((0.0, 1.0))
    ((0.5, 0.5), None)
"""
from __future__ import annotations

import math
import struct
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement

# Value representations whose raw bytes we convert ourselves: numbers and ASCII-only codes/UIDs.
# pydicom's generic conversion (with validation) is most of the header-reading time for a series.
_ASCII_VRS = frozenset({"DS", "IS", "CS", "UI", "DA", "TM"})
_BINARY_VRS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d"}


class _UseGenericConversion(Exception):
    """This element needs pydicom's full value conversion."""


def _raw_values(ds: pydicom.Dataset, keyword: str) -> list | None:
    """The values of a simple numeric or ASCII element straight from its raw bytes; None where absent or empty."""
    tag = tag_for_keyword(keyword)
    elem = ds.get_item(tag, keep_deferred=True) if tag is not None else None
    if elem is None:
        return None
    if not isinstance(elem, RawDataElement) or elem.value is None:
        raise _UseGenericConversion
    vr = elem.VR or dictionary_VR(tag)
    raw = elem.value
    if not raw:
        return None
    if vr in _ASCII_VRS:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise _UseGenericConversion from None
        values = [part.strip(" \x00") for part in text.split("\\")]
        return None if values == [""] else values
    fmt = _BINARY_VRS.get(vr)
    if fmt is None:
        raise _UseGenericConversion
    size = struct.calcsize(fmt)
    if len(raw) % size:
        raise ValueError(f"{keyword} holds {len(raw)} bytes, not a whole number of {vr} values")
    return list(struct.unpack(("<" if elem.is_little_endian else ">") + fmt * (len(raw) // size), raw))


def _generic_values(ds: pydicom.Dataset, keyword: str) -> list | None:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return list(value) or None
    return [value]


def tag_values(ds: pydicom.Dataset, keyword: str) -> list | None:
    """Every value of a tag as a list (numbers and ASCII text read from the raw bytes), None where absent.

    Example:
        >>> ds = pydicom.Dataset(); ds.ImageType = ["ORIGINAL", "PRIMARY"]
        >>> tag_values(ds, "ImageType"), tag_values(ds, "Modality")
        (['ORIGINAL', 'PRIMARY'], None)
    """
    try:
        return _raw_values(ds, keyword)
    except _UseGenericConversion:
        return _generic_values(ds, keyword)


def tag_text(ds: pydicom.Dataset, keyword: str) -> str:
    """A tag's value as stripped text ("" where absent; several values joined by backslashes).

    Example:
        >>> ds = pydicom.Dataset(); ds.SeriesDescription = " CT Body "
        >>> tag_text(ds, "SeriesDescription"), tag_text(ds, "PatientName")
        ('CT Body', '')
    """
    values = tag_values(ds, keyword)
    if values is None:
        return ""
    return "\\".join(str(v) for v in values).strip()


def tag_number(ds: pydicom.Dataset, keyword: str, kind=float) -> Any:
    """The first value of a numeric tag as ``kind``, or None where it is absent or empty.

    Example:
        >>> ds = pydicom.Dataset(); ds.WindowCenter = ["40", "300"]
        >>> tag_number(ds, "WindowCenter"), tag_number(ds, "WindowWidth")
        (40.0, None)
    """
    values = tag_values(ds, keyword)
    if not values or values[0] == "":
        return None
    return int(float(values[0])) if kind is int else kind(float(values[0]))


def tag_floats(ds: pydicom.Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """All values of a numeric tag as floats (None where absent); ``ValueError`` unless there are ``count``.

    Example:
        >>> ds = pydicom.Dataset(); ds.PixelSpacing = ["0.5", "0.5"]
        >>> tag_floats(ds, "PixelSpacing", 2)
        (0.5, 0.5)
    """
    values = tag_values(ds, keyword)
    if values is None:
        return None
    floats = tuple(float(v) for v in values)
    if len(floats) != count:
        raise ValueError(f"{keyword} has {len(floats)} values, expected {count}")
    return floats


def finite_or_none(value):
    """``value`` (a number or a tuple of them) where every number is finite, else None.

    Example:
        >>> finite_or_none((1.0, 2.0)), finite_or_none(float("nan")), finite_or_none(None)
        ((1.0, 2.0), None, None)
    """
    if value is None:
        return None
    values = value if isinstance(value, tuple) else (value,)
    return value if all(math.isfinite(v) for v in values) else None


def positive_or_none(value):
    """``value`` (a number or a tuple of them) where every number is finite and > 0, else None.

    Example:
        >>> positive_or_none((0.7, 0.7)), positive_or_none((0.0, 0.7)), positive_or_none(float("inf"))
        ((0.7, 0.7), None, None)
    """
    value = finite_or_none(value)
    if value is None:
        return None
    values = value if isinstance(value, tuple) else (value,)
    return value if all(v > 0 for v in values) else None


def usable_orientation(value):
    """ImageOrientationPatient where both direction cosines are finite, non-zero and not parallel, else None.

    Example:
        >>> usable_orientation((1, 0, 0, 0, 1, 0)), usable_orientation((1, 0, 0, 1, 0, 0))
        ((1, 0, 0, 0, 1, 0), None)
    """
    value = finite_or_none(value)
    if value is None:
        return None
    row, col = value[:3], value[3:]
    cross = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0])
    return value if math.sqrt(sum(c * c for c in cross)) > 1e-3 else None
