"""One DICOM file's header, read without its pixels, checked and reduced to what loading needs.

Reading headers first (fast: the pixel data is skipped, only its file offset is kept) lets the
loader group, sort and check a whole folder before it decodes a single pixel, and lets it refuse
an absurd image size before allocating anything.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = write_dicom_series(Volume(np.zeros((2, 4, 6), np.int16), (2.5, 0.7, 0.7)), folder)
    >>> header = read_slice_header(files[1])
    >>> header.rows, header.columns, header.position
    (4, 6, (0.0, 0.0, 2.5))
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from lesionviewer.io.dicom_tags import (  # noqa: F401 - tag readers re-exported for older importers
    finite_or_none,
    positive_or_none,
    tag_floats,
    tag_number,
    tag_text,
    tag_values,
    usable_orientation,
)
from lesionviewer.io.errors import (
    CorruptFileError,
    ImplausibleImageError,
    LoadError,
    NotDicomError,
    UnsupportedFormatError,
)
from lesionviewer.io.file_checks import regular_file_size
from lesionviewer.io.multiframe import split_frames
from lesionviewer.io.slice_header import (  # noqa: F401 - re-exported: SliceHeader's home was this file
    EXPLICIT_LITTLE,
    IMPLICIT_LITTLE,
    UNCOMPRESSED_LITTLE_ENDIAN,
    SliceHeader,
)

# Largest image side and frame count we accept; real CT is 512 or 1024 pixels a side.
MAX_IMAGE_SIDE = 8192
MAX_FRAMES = 5000


# Values larger than this stay on disk while parsing; the header itself is small.
_DEFER_BYTES = 1024
# Bytes read to check a file's start before pydicom parses it.
_HEAD_BYTES = 16384


def _has_dicm_marker(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


# Groups a DICOM data set without the preamble can start with (file meta, or the identifying group).
_FIRST_GROUPS = frozenset({0x0002, 0x0008})
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT"})
_DEFLATED = "1.2.840.10008.1.2.1.99"


def _start_problem(head: bytes, marker: bool) -> str | None:
    """Why the first bytes cannot start a DICOM file (None where they can), read before pydicom parses.

    pydicom's forced parse of a large non-DICOM file (e.g. 50 MB of zeros, read as millions of empty
    elements) takes tens of seconds; the first element already tells such a file apart.
    """
    if not marker:
        if len(head) < 8:
            return "not a DICOM file (too short)"
        group_le = int.from_bytes(head[0:2], "little")
        group_be = int.from_bytes(head[0:2], "big")
        if group_le not in _FIRST_GROUPS and group_be not in _FIRST_GROUPS:
            return "not a DICOM file (no 'DICM' marker and no DICOM tags found)"
        return None
    # After the marker: the file meta group (explicit VR little endian), then the data set.
    pos, syntax = 132, ""
    while pos + 8 <= len(head) and int.from_bytes(head[pos:pos + 2], "little") == 0x0002:
        element = int.from_bytes(head[pos + 2:pos + 4], "little")
        vr = head[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            length, value_at = int.from_bytes(head[pos + 8:pos + 12], "little"), pos + 12
        else:
            length, value_at = int.from_bytes(head[pos + 6:pos + 8], "little"), pos + 8
        if element == 0x0010:
            syntax = head[value_at:value_at + length].decode("ascii", "replace").strip(" \x00")
        pos = value_at + length
    if pos + 4 > len(head) or syntax == _DEFLATED:
        return None  # the data set starts beyond what was read, or it is compressed
    group_le = int.from_bytes(head[pos:pos + 2], "little")
    group_be = int.from_bytes(head[pos:pos + 2], "big")
    if max(group_le, group_be) < 0x0008 or (group_le == 0 and group_be == 0):
        return f"the DICOM data set starts with an impossible tag at byte {pos} (a damaged or zero-filled file)"
    return None


def read_dataset(path: str | Path, *, defer: bool = True) -> pydicom.Dataset:
    """Parse a DICOM file (large values left on disk when ``defer``); raise ``LoadError`` if it is not one.

    Files without the 128-byte preamble and ``DICM`` marker are tried too (old scanners wrote
    them); they are accepted only if the parse finds image tags.

    Example:
        >>> read_dataset(__file__)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.NotDicomError: ...dicom_header.py: not a DICOM file (no 'DICM' marker and no DICOM tags found)
    """
    path = Path(path)
    defer_size = _DEFER_BYTES if defer else None
    regular_file_size(path, what="DICOM file")
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
        marker = len(head) >= 132 and head[128:132] == b"DICM"
        problem = _start_problem(head, marker)
        if problem is not None:
            raise (CorruptFileError if marker else NotDicomError)(path, problem)
        if marker:
            return pydicom.dcmread(path, defer_size=defer_size)
        ds = pydicom.dcmread(path, defer_size=defer_size, force=True)
    except LoadError:
        raise
    except (InvalidDicomError, EOFError) as exc:
        raise NotDicomError(path, f"not a DICOM file ({exc})") from None
    except OSError as exc:
        raise LoadError(path, f"could not be read ({exc.strerror or exc})") from None
    except Exception as exc:  # a corrupt header can fail anywhere inside the parser
        if _safe_marker(path):
            raise CorruptFileError(path, f"the DICOM header is malformed ({type(exc).__name__}: {exc})") from None
        raise NotDicomError(path, "not a DICOM file (no 'DICM' marker and no DICOM tags found)") from None
    # Without the marker we accept only what clearly looks like an image header.
    if not ("Rows" in ds and "Columns" in ds and ("PixelData" in ds or "SOPClassUID" in ds)):
        raise NotDicomError(path, "not a DICOM file (no 'DICM' marker and no DICOM tags found)")
    return ds


def _safe_marker(path: Path) -> bool:
    try:
        return _has_dicm_marker(path)
    except OSError:
        return False


def read_slice_header(path: str | Path) -> SliceHeader:
    """Read and check one single-image DICOM file's header; never touches the pixel data.

    Raises ``NotDicomError`` for other files, ``UnsupportedFormatError`` for DICOM that holds
    no image (reports, presentation states), a colour image or several frames (use
    ``read_frame_headers``), ``ImplausibleImageError`` for an absurd declared size,
    ``CorruptFileError`` for a malformed or truncated header or pixel data shorter than declared.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.io.volume import Volume
        >>> from lesionviewer.io.dicom_write import write_dicom_series
        >>> [f] = write_dicom_series(Volume(np.zeros((1, 3, 3), np.int16), (1, 0.5, 0.5)), tempfile.mkdtemp())
        >>> read_slice_header(f).pixel_spacing
        (0.5, 0.5)
    """
    headers = read_frame_headers(path)
    if len(headers) != 1:
        raise UnsupportedFormatError(path, f"the file holds {len(headers)} frames, not one slice (read_frame_headers reads them)")
    return headers[0]


def read_frame_headers(path: str | Path) -> list[SliceHeader]:
    """One ``SliceHeader`` per image in the file: one for a classic slice, one per frame of a multi-frame file.

    Frames of an enhanced (multi-frame) CT take their position, orientation, spacing, rescale
    and window from the per-frame and shared functional groups; the same errors as
    ``read_slice_header`` apply.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.io.volume import Volume
        >>> from lesionviewer.io.dicom_write import write_dicom_series
        >>> [f] = write_dicom_series(Volume(np.zeros((1, 3, 3), np.int16), (1, 0.5, 0.5)), tempfile.mkdtemp())
        >>> [h.frame for h in read_frame_headers(f)]
        [0]
    """
    path = Path(path)
    ds = read_dataset(path, defer=True)
    try:
        base = _header_from_dataset(path, ds)
        if base.number_of_frames == 1:
            return [base]
        return split_frames(path, ds, base)
    except LoadError:
        raise
    except Exception as exc:  # unreadable values in an otherwise parsable header
        raise CorruptFileError(path, f"the DICOM header is malformed ({type(exc).__name__}: {exc})") from None


def _header_from_dataset(path: Path, ds: pydicom.Dataset) -> SliceHeader:
    file_meta = getattr(ds, "file_meta", None)
    transfer_syntax = str(file_meta.get("TransferSyntaxUID", "")) if file_meta is not None else ""
    if not transfer_syntax:
        transfer_syntax = IMPLICIT_LITTLE if ds.is_implicit_VR in (True, None) else EXPLICIT_LITTLE

    if not pydicom.uid.UID(transfer_syntax).is_transfer_syntax:
        raise UnsupportedFormatError(
            path, f"unknown transfer syntax '{transfer_syntax}': its pixel data cannot be decoded here"
        )

    if "PixelData" not in ds:
        sop = tag_text(ds, "SOPClassUID") or (str(file_meta.get("MediaStorageSOPClassUID", "")) if file_meta else "")
        is_image_class = "Image Storage" in getattr(pydicom.uid.UID(sop), "name", "")
        if "Rows" in ds or "ImagePositionPatient" in ds or is_image_class:
            raise CorruptFileError(path, "the file ends before its pixel data (truncated?)")
        name = getattr(pydicom.uid.UID(sop), "name", sop) if sop else "unknown"
        raise UnsupportedFormatError(path, f"this DICOM file holds no image (SOP class: {name})")

    rows = tag_number(ds, "Rows", int) or 0
    columns = tag_number(ds, "Columns", int) or 0
    frames = tag_number(ds, "NumberOfFrames", int) or 1
    samples = tag_number(ds, "SamplesPerPixel", int) or 1
    bits_allocated = tag_number(ds, "BitsAllocated", int) or 0
    if rows <= 0 or columns <= 0:
        raise ImplausibleImageError(path, f"the header declares an empty image ({rows} x {columns} pixels)")
    if rows > MAX_IMAGE_SIDE or columns > MAX_IMAGE_SIDE or frames > MAX_FRAMES or frames < 1:
        raise ImplausibleImageError(
            path,
            f"the header declares an implausible image size ({rows} x {columns} pixels x {frames} frames; "
            f"a CT slice has at most {MAX_IMAGE_SIDE} pixels a side); refused before reading the pixels",
        )
    if bits_allocated not in (8, 16, 32):
        raise UnsupportedFormatError(path, f"BitsAllocated {bits_allocated} is not supported (8, 16 or 32 expected)")
    photometric = tag_text(ds, "PhotometricInterpretation").upper() or "MONOCHROME2"
    if samples != 1 or not photometric.startswith("MONOCHROME"):
        raise UnsupportedFormatError(path, f"a colour image ({photometric}, {samples} samples per pixel) is not a CT slice")

    bits_stored = tag_number(ds, "BitsStored", int) or bits_allocated
    if not 1 <= bits_stored <= bits_allocated:
        bits_stored = bits_allocated

    pixel_offset = pixel_length = None
    raw = ds.get_item("PixelData", keep_deferred=True)
    length = getattr(raw, "length", None)
    value_tell = getattr(raw, "value_tell", None)
    if length is not None and length != 0xFFFFFFFF:
        pixel_length = int(length)
        pixel_offset = int(value_tell) if value_tell is not None else None
    elif length is None and not transfer_syntax_is_encapsulated(transfer_syntax):
        pixel_length = len(ds.PixelData)

    slope = tag_number(ds, "RescaleSlope")
    intercept = tag_number(ds, "RescaleIntercept")
    for name, value in (("RescaleSlope", slope), ("RescaleIntercept", intercept)):
        if value is not None and not math.isfinite(value):
            raise CorruptFileError(
                path, f"{name} is {tag_text(ds, name)!r}, not a finite number: the pixels cannot be converted to HU"
            )
    if slope == 0:
        raise CorruptFileError(path, "RescaleSlope is 0: every pixel would have the same value; the file is damaged")
    header = SliceHeader(
        path=str(path),
        transfer_syntax=transfer_syntax,
        rows=rows,
        columns=columns,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=tag_number(ds, "PixelRepresentation", int) or 0,
        samples_per_pixel=samples,
        photometric=photometric,
        number_of_frames=frames,
        rescale_slope=1.0 if slope is None else slope,
        rescale_intercept=intercept or 0.0,
        position=finite_or_none(tag_floats(ds, "ImagePositionPatient", 3)),
        orientation=usable_orientation(tag_floats(ds, "ImageOrientationPatient", 6)),
        pixel_spacing=positive_or_none(tag_floats(ds, "PixelSpacing", 2)),
        slice_thickness=positive_or_none(tag_number(ds, "SliceThickness")),
        spacing_between_slices=positive_or_none(tag_number(ds, "SpacingBetweenSlices")),
        instance_number=tag_number(ds, "InstanceNumber", int),
        image_type=tuple(str(v).strip() for v in (tag_values(ds, "ImageType") or ())),
        modality=tag_text(ds, "Modality"),
        sop_class_uid=tag_text(ds, "SOPClassUID"),
        patient_name=tag_text(ds, "PatientName"),
        patient_id=tag_text(ds, "PatientID"),
        study_uid=tag_text(ds, "StudyInstanceUID"),
        series_uid=tag_text(ds, "SeriesInstanceUID"),
        frame_of_reference_uid=tag_text(ds, "FrameOfReferenceUID"),
        series_number=tag_number(ds, "SeriesNumber", int),
        acquisition_number=tag_number(ds, "AcquisitionNumber", int),
        study_description=tag_text(ds, "StudyDescription"),
        series_description=tag_text(ds, "SeriesDescription"),
        study_date=tag_text(ds, "StudyDate"),
        window_center=finite_or_none(tag_number(ds, "WindowCenter")),
        window_width=positive_or_none(tag_number(ds, "WindowWidth")),
        gantry_tilt=finite_or_none(tag_number(ds, "GantryDetectorTilt")) or 0.0,
        is_little_endian=bool(ds.is_little_endian) if ds.is_little_endian is not None else True,
        pixel_offset=pixel_offset,
        pixel_length=pixel_length,
        ignored_values=tuple(header_value_problems(ds)),
    )
    _check_pixel_length(path, header)
    return header


def header_value_problems(ds: pydicom.Dataset) -> list[str]:
    """Geometry values in the header that are present but unusable (NaN, infinite, zero or negative spacing).

    They are read as absent (the loader then warns that it assumes 1 mm, or orders by
    InstanceNumber); this names them so the warning can say what the file really holds.

    Example:
        >>> ds = pydicom.Dataset(); ds.SliceThickness = "0"; ds.SpacingBetweenSlices = "2.5"
        >>> header_value_problems(ds)
        ["SliceThickness is '0'"]
    """
    problems = []
    checks = (("PixelSpacing", 2, positive_or_none), ("ImagePositionPatient", 3, finite_or_none),
              ("ImageOrientationPatient", 6, usable_orientation))
    for name, count, check in checks:
        try:
            values = tag_floats(ds, name, count)
        except ValueError:
            continue
        if values is not None and check(values) is None:
            problems.append(f"{name} is '{tag_text(ds, name)[:40]}'")
    for name in ("SliceThickness", "SpacingBetweenSlices"):
        try:
            value = tag_number(ds, name)
        except ValueError:
            continue
        if value is not None and positive_or_none(value) is None:
            problems.append(f"{name} is '{tag_text(ds, name)[:40]}'")
    return problems


def transfer_syntax_is_encapsulated(uid: str) -> bool:
    """True for compressed transfer syntaxes, whose pixel data is stored in fragments.

    Example:
        >>> transfer_syntax_is_encapsulated("1.2.840.10008.1.2.4.90"), transfer_syntax_is_encapsulated(EXPLICIT_LITTLE)
        (True, False)
    """
    try:
        return bool(pydicom.uid.UID(uid).is_encapsulated)
    except Exception:
        return False


def _check_pixel_length(path: Path, header: SliceHeader) -> None:
    if header.pixel_length is None:
        return
    expected = header.expected_pixel_bytes
    if header.pixel_length < expected:
        raise CorruptFileError(
            path,
            f"the pixel data holds {header.pixel_length} bytes but the header declares "
            f"{header.rows} x {header.columns} pixels of {header.bits_allocated} bits = {expected} bytes",
        )
    if header.pixel_offset is not None and header.transfer_syntax in UNCOMPRESSED_LITTLE_ENDIAN:
        size = os.path.getsize(path)
        available = size - header.pixel_offset
        if available < expected:
            raise CorruptFileError(
                path,
                f"the file is truncated: its pixel data needs {expected} bytes but only {max(available, 0)} "
                f"remain after byte {header.pixel_offset}",
            )
