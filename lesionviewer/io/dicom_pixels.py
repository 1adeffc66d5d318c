"""Decode one DICOM slice straight into its place in a preallocated int16 HU array.

Uncompressed little-endian 16-bit data (most CT exports) is read directly from the file offset
found while parsing the header - no pydicom pixel pipeline, no intermediate copies. Everything
else (JPEG lossless, JPEG-LS, JPEG 2000, RLE, deflate, big endian, 8/32-bit) goes through
pydicom and its pylibjpeg / pyjpegls decoder plugins.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> from lesionviewer.io.dicom_header import read_slice_header
    >>> [f] = write_dicom_series(Volume(np.full((1, 2, 3), 40, np.int16), (1, 1, 1)), tempfile.mkdtemp())
    >>> out = np.empty((2, 3), np.int16)
    >>> decode_slice_into(read_slice_header(f), out)
    >>> out.tolist()
    [[40, 40, 40], [40, 40, 40]]
"""
from __future__ import annotations

import numpy as np
import pydicom
from pydicom.pixels import pixel_array

from lesionviewer.io.dicom_header import UNCOMPRESSED_LITTLE_ENDIAN, SliceHeader, read_dataset
from lesionviewer.io.errors import CorruptFileError, LoadError, UnsupportedFormatError
from lesionviewer.io.file_checks import regular_file_size

_INT16_MIN, _INT16_MAX = -32768, 32767


def decode_slice_into(header: SliceHeader, out: np.ndarray) -> None:
    """Decode the slice of ``header`` into ``out`` (int16, rows x columns) as Hounsfield units.

    Raises ``CorruptFileError`` for truncated or undecodable data and ``UnsupportedFormatError``
    for a transfer syntax no installed decoder handles.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io.dicom_header import SliceHeader
        >>> decode_slice_into(SliceHeader("missing.dcm", "1.2.840.10008.1.2.1", 2, 2, pixel_offset=0, pixel_length=8),
        ...                   np.empty((2, 2), np.int16))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: missing.dcm: no such file (or a broken link)
    """
    if out.shape != (header.rows, header.columns) or out.dtype != np.int16:
        raise ValueError(f"out must be int16 of shape {(header.rows, header.columns)}, got {out.dtype} {out.shape}")
    if _is_fast_path(header):
        raw = _read_native(header)
    else:
        raw = _decode_with_pydicom(header)
    stored_to_hu(raw, header.rescale_slope, header.rescale_intercept, out)


def _is_fast_path(header: SliceHeader) -> bool:
    return (
        header.transfer_syntax in UNCOMPRESSED_LITTLE_ENDIAN
        and header.bits_allocated == 16
        and header.pixel_offset is not None
    )


def _read_native(header: SliceHeader) -> np.ndarray:
    dtype = "<i2" if header.pixel_representation == 1 else "<u2"
    raw = np.empty((header.rows, header.columns), dtype=dtype)
    regular_file_size(header.path, what="DICOM file")  # never open a pipe or device swapped in since the scan
    assert header.pixel_offset is not None  # the fast path is taken only with an offset (_is_fast_path)
    try:
        with open(header.path, "rb") as f:
            f.seek(header.pixel_offset + header.frame * raw.nbytes)
            got = f.readinto(raw.data.cast("B"))
    except OSError as exc:
        raise LoadError(header.path, f"could not be read ({exc.strerror or exc})") from None
    if got != raw.nbytes:
        raise CorruptFileError(
            header.path,
            f"the file is truncated: its pixel data needs {raw.nbytes} bytes but only {got} could be read",
        )
    return _apply_bits_stored(raw, header.bits_stored, header.pixel_representation == 1)


def _apply_bits_stored(raw: np.ndarray, bits_stored: int, signed: bool) -> np.ndarray:
    """Drop bits above BitsStored (overlays, padding) and sign-extend signed values, as DICOM defines."""
    bits = raw.dtype.itemsize * 8
    if bits_stored >= bits:
        return raw
    if signed:
        shift = bits - bits_stored
        np.left_shift(raw, shift, out=raw)
        np.right_shift(raw, shift, out=raw)
    else:
        np.bitwise_and(raw, (1 << bits_stored) - 1, out=raw)
    return raw


def _decode_with_pydicom(header: SliceHeader) -> np.ndarray:
    syntax = pydicom.uid.UID(header.transfer_syntax)
    if not syntax.is_transfer_syntax:
        raise UnsupportedFormatError(header.path, f"unknown transfer syntax '{syntax}': its pixel data cannot be decoded here")
    if syntax.is_compressed and not _has_decoder(syntax):
        raise UnsupportedFormatError(
            header.path, f"the transfer syntax {_syntax_name(syntax)} cannot be decoded (no decoder for it is installed)"
        )
    try:
        # Rescale is ours to apply (per slice, into int16); pydicom only decodes.
        if header.number_of_frames > 1:
            arr = pixel_array(header.path, index=header.frame)  # decodes only this frame
        else:
            arr = read_dataset(header.path, defer=False).pixel_array
    except LoadError:
        raise
    except (NotImplementedError, RuntimeError) as exc:
        if syntax.is_compressed:
            raise CorruptFileError(
                header.path, f"the {_syntax_name(syntax)} pixel data could not be decoded ({_first_line(exc)})"
            ) from None
        raise UnsupportedFormatError(
            header.path, f"the transfer syntax {_syntax_name(syntax)} is not supported ({_first_line(exc)})"
        ) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # Rust decoders (pylibjpeg-rle) panic with a BaseException on bad data
        raise CorruptFileError(header.path, f"the pixel data could not be decoded ({_first_line(exc)})") from None
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.shape != (header.rows, header.columns):
        raise CorruptFileError(
            header.path, f"decoded an image of shape {arr.shape}, but the header declares {header.rows} x {header.columns}"
        )
    return arr


def _has_decoder(syntax: pydicom.uid.UID) -> bool:
    try:
        from pydicom.pixels import get_decoder

        decoder = get_decoder(syntax)
    except Exception:
        return False
    return bool(decoder.is_available)


def _syntax_name(syntax: pydicom.uid.UID) -> str:
    name = syntax.name
    return f"'{name}' ({str(syntax)})" if name and name != str(syntax) else f"'{syntax}'"


def _first_line(exc: BaseException) -> str:
    """The exception's message on one line, shortened (decoder messages can list every plugin)."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    text = text or type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def stored_to_hu(raw: np.ndarray, slope: float, intercept: float, out: np.ndarray) -> None:
    """Write ``raw * slope + intercept`` into the int16 array ``out``, rounded and clipped to int16.

    Example:
        >>> import numpy as np
        >>> out = np.empty(3, np.int16)
        >>> stored_to_hu(np.array([0, 1024, 40000], np.uint16), 1.0, -1024.0, out)
        >>> out.tolist()
        [-1024, 0, 32767]
    """
    if slope == 1.0 and float(intercept).is_integer():
        offset = int(intercept)
        if raw.dtype == np.int16 and offset == 0:
            np.copyto(out, raw)
            return
        wide = raw.astype(np.int32)
        if offset:
            wide += offset
    else:
        wide = raw.astype(np.float32)
        wide *= np.float32(slope)
        wide += np.float32(intercept)
        np.rint(wide, out=wide)
    np.clip(wide, _INT16_MIN, _INT16_MAX, out=wide)
    np.copyto(out, wide, casting="unsafe")
