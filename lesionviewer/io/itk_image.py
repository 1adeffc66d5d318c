"""NIfTI, NRRD and MetaImage volumes through SimpleITK, converted to our ``Volume`` conventions.

SimpleITK already works in LPS with a column-per-axis direction matrix, like ``Volume``; only
the axis order differs: SimpleITK's spacing and size are (x, y, z), ours (z, y, x).
The header is read first, so an absurd declared size is refused before any pixel is allocated.

Example:
    >>> import tempfile, os, numpy as np, SimpleITK as sitk
    >>> path = os.path.join(tempfile.mkdtemp(), "ct.nii.gz")
    >>> img = sitk.GetImageFromArray(np.full((3, 4, 5), -1000, np.int16)); img.SetSpacing((0.75, 0.5, 2.5))
    >>> sitk.WriteImage(img, path)
    >>> vol = load_itk_image(path)
    >>> vol.shape, vol.spacing
    ((3, 4, 5), (2.5, 0.5, 0.75))
"""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesionviewer.io.errors import (
    CorruptFileError,
    ImplausibleImageError,
    LoadError,
    NotRegularFileError,
    UnsupportedFormatError,
)
from lesionviewer.io.file_checks import regular_file_size
from lesionviewer.io.series_identity import SeriesIdentity
from lesionviewer.io.volume import Volume

ITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
# The same limits as for DICOM: sides up to 8192 pixels, volumes up to 8 GiB of int16.
MAX_SIDE = 8192
MAX_VOXELS = 4 * 1024**3
# The image as stored (float64 NIfTI is 4 times the int16 volume) is refused above this.
MAX_SOURCE_BYTES = 16 * 1024**3
# HU given to NaN voxels (air, like a missing slice); they are counted in a warning.
NOT_A_NUMBER_HU = -1024


def is_itk_image_path(path: str | Path) -> bool:
    """True for file names SimpleITK reads for us (.nii, .nii.gz, .nrrd, .nhdr, .mha, .mhd).

    Example:
        >>> is_itk_image_path("scan.NII.GZ"), is_itk_image_path("slice.dcm")
        (True, False)
    """
    name = str(path).lower()
    return name.endswith(ITK_SUFFIXES)


def _format_name(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    return "metaimage"


def load_itk_image(path: str | Path) -> Volume:
    """Read a NIfTI / NRRD / MetaImage file as an int16 HU ``Volume`` (values rounded and clipped to int16).

    Example:
        >>> load_itk_image("/nonexistent/ct.nrrd")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: /nonexistent/ct.nrrd: the file does not exist
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise LoadError(path, "the file does not exist")
    regular_file_size(path, what=f"{_format_name(path)} file")
    check_detached_data(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise CorruptFileError(path, f"the {_format_name(path)} header could not be read ({_itk_reason(exc)})") from None
    size = tuple(int(s) for s in reader.GetSize())
    dimension = reader.GetDimension()
    components = reader.GetNumberOfComponents()
    if dimension not in (2, 3) or components != 1:
        raise UnsupportedFormatError(
            path, f"a {dimension}-D image with {components} values per voxel is not a CT volume (3-D, one value per voxel)"
        )
    if any(s <= 0 for s in size) or any(s > MAX_SIDE for s in size[:2]) or int(np.prod(size)) > MAX_VOXELS:
        raise ImplausibleImageError(path, f"the header declares an implausible image size {size}; refused before reading")
    pixel_bytes = int(np.prod(size)) * max(int(reader.GetNumberOfComponents()), 1) * _pixel_bytes(reader)
    if pixel_bytes > MAX_SOURCE_BYTES:
        raise ImplausibleImageError(
            path, f"the image would need {pixel_bytes / 1024**3:.1f} GiB in its stored type "
                  f"({reader.GetPixelIDTypeAsString() if hasattr(reader, 'GetPixelIDTypeAsString') else 'pixels'}); "
                  f"refused (limit {MAX_SOURCE_BYTES / 1024**3:.0f} GiB)"
        )
    if path.name.lower().endswith((".nii", ".nii.gz")):
        check_nifti_complete(path)
    scan = scan_nifti_values(path) if path.name.lower().endswith((".nii", ".nii.gz")) else None
    if scan is not None and scan.total and scan.not_numbers + scan.infinite == scan.total:
        raise CorruptFileError(path, "every voxel is NaN or infinite: the image holds no values")
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise CorruptFileError(path, f"the {_format_name(path)} data could not be read ({_itk_reason(exc)})") from None
    volume = volume_from_sitk(image, source=path)
    if scan is not None and (scan.not_numbers or scan.infinite):
        # ITK's NIfTI reader turns NaN and infinite voxels into 0 without a word: put them back as we show them.
        flat = volume.hu.reshape(-1)
        if scan.nan_at is not None and scan.total == flat.size:
            flat[scan.nan_at] = NOT_A_NUMBER_HU
            flat[scan.plus_inf_at] = 32767
            flat[scan.minus_inf_at] = -32768
            shown = f"shown as {NOT_A_NUMBER_HU} HU (NaN) and the int16 limits (infinite)"
        else:
            shown = "read as 0 HU"
        volume.warnings.append(
            f"the image holds values that are not numbers: {_voxel_words(scan.not_numbers, 'NaN')}"
            f"{' and ' if scan.not_numbers and scan.infinite else ''}{_voxel_words(scan.infinite, 'infinite')} "
            f"({100 * (scan.not_numbers + scan.infinite) / scan.total:.2g}% of the volume), {shown}"
        )
    return volume


def _voxel_words(n: int, what: str) -> str:
    return "" if not n else f"{n} voxel{'s are' if n > 1 else ' is'} {what}"


@dataclass
class NiftiValueScan:
    """Counts (and where few enough, the flat indices) of the non-finite voxels of a float NIfTI file.

    Example:
        >>> NiftiValueScan(total=8).not_numbers
        0
    """

    total: int = 0
    not_numbers: int = 0
    infinite: int = 0
    nan_at: np.ndarray | None = None
    plus_inf_at: np.ndarray | None = None
    minus_inf_at: np.ndarray | None = None


# Where more voxels than this are not numbers only the counts are kept (their indices would cost memory).
MAX_MARKED_VOXELS = 10_000_000
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def scan_nifti_values(path: str | Path) -> NiftiValueScan | None:
    """Count the NaN and infinite voxels of a float32/float64 NIfTI file, reading its data once in chunks.

    None for integer data (which cannot hold them) or a header this scan does not follow.

    Example:
        >>> import tempfile, os, numpy as np, SimpleITK as sitk
        >>> path = os.path.join(tempfile.mkdtemp(), "ct.nii")
        >>> a = np.zeros((2, 2, 2), np.float32); a[0, 0, 1] = np.nan; a[1, 1, 1] = -np.inf
        >>> sitk.WriteImage(sitk.GetImageFromArray(a), path)
        >>> scan = scan_nifti_values(path)
        >>> scan.total, scan.not_numbers, scan.infinite, scan.nan_at.tolist(), scan.minus_inf_at.tolist()
        (8, 1, 1, [1], [7])
    """
    path = Path(path)
    compressed = path.name.lower().endswith(".gz")
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as f:
            head = f.read(544)
            layout = _nifti_float_layout(head)
            if layout is None:
                return None
            dtype, offset, total = layout
            f.seek(offset)
            scan = NiftiValueScan(total=total)
            marks: dict[str, list[np.ndarray]] = {"nan": [], "plus": [], "minus": []}
            done = 0
            chunk_items = (8 << 20) // dtype.itemsize
            while done < total:
                data = f.read(min(chunk_items, total - done) * dtype.itemsize)
                if len(data) < dtype.itemsize:
                    break
                values = np.frombuffer(data[: len(data) - len(data) % dtype.itemsize], dtype=dtype)
                bad = ~np.isfinite(values)
                if bad.any():
                    nan = np.isnan(values)
                    scan.not_numbers += int(nan.sum())
                    scan.infinite += int(bad.sum() - nan.sum())
                    if scan.not_numbers + scan.infinite <= MAX_MARKED_VOXELS:
                        marks["nan"].append(np.flatnonzero(nan) + done)
                        marks["plus"].append(np.flatnonzero(values == np.inf) + done)
                        marks["minus"].append(np.flatnonzero(values == -np.inf) + done)
                done += len(values)
    except (OSError, EOFError, zlib.error):
        return None  # the completeness check reports unreadable files
    if scan.not_numbers + scan.infinite <= MAX_MARKED_VOXELS:
        empty = np.zeros(0, np.int64)
        scan.nan_at = np.concatenate(marks["nan"]) if marks["nan"] else empty
        scan.plus_inf_at = np.concatenate(marks["plus"]) if marks["plus"] else empty
        scan.minus_inf_at = np.concatenate(marks["minus"]) if marks["minus"] else empty
    return scan


def _nifti_float_layout(head: bytes) -> tuple[np.dtype, int, int] | None:
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            datatype = struct.unpack(order + "h", head[70:72])[0]
            offset = max(int(struct.unpack(order + "f", head[108:112])[0]), 352)
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            datatype = struct.unpack(order + "h", head[12:14])[0]
            dims = struct.unpack(order + "8q", head[16:80])
            offset = max(struct.unpack(order + "q", head[168:176])[0], 544)
            break
    else:
        return None
    if datatype not in _NIFTI_FLOATS or not 1 <= dims[0] <= 7:
        return None
    total = int(np.prod([max(int(d), 1) for d in dims[1 : dims[0] + 1]], dtype=np.int64))
    return np.dtype(order + _NIFTI_FLOATS[datatype]), int(offset), total


def _nifti_expected_bytes(head: bytes) -> int | None:
    """Bytes a NIfTI-1 or NIfTI-2 file must hold (header, extensions and voxels), from its header."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            dims = struct.unpack(order + "8h", head[40:56])
            bitpix = struct.unpack(order + "h", head[72:74])[0]
            offset = max(int(struct.unpack(order + "f", head[108:112])[0]), 352)
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            bitpix = struct.unpack(order + "h", head[14:16])[0]
            dims = struct.unpack(order + "8q", head[16:80])
            offset = max(struct.unpack(order + "q", head[168:176])[0], 544)
            break
    else:
        return None
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0:
        return None
    voxels = int(np.prod([max(int(d), 1) for d in dims[1 : ndim + 1]], dtype=np.int64))
    return offset + voxels * bitpix // 8


def check_nifti_complete(path: str | Path) -> None:
    """Raise ``CorruptFileError`` when a .nii / .nii.gz file holds fewer bytes than its header declares.

    ITK's NIfTI reader fills a truncated file's missing voxels with zeros without a word, so we
    check ourselves (for .nii.gz this decompresses the stream once, without keeping it).

    Example:
        >>> import tempfile, os, numpy as np, SimpleITK as sitk
        >>> path = os.path.join(tempfile.mkdtemp(), "cut.nii")
        >>> sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 4, 4), np.int16)), path)
        >>> with open(path, "r+b") as f: _ = f.truncate(400)
        >>> check_nifti_complete(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.CorruptFileError: ...cut.nii: the file is truncated: it holds 400 bytes but its header declares 480
    """
    path = Path(path)
    compressed = path.name.lower().endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as f:
            head = f.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(path, f"the NIfTI file could not be read ({exc})") from None
    expected = _nifti_expected_bytes(head)
    if expected is None:
        raise CorruptFileError(path, "not a NIfTI file (its header size field is neither 348 nor 540)")
    if not compressed:
        held = path.stat().st_size
    else:
        held = 0
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            with open(path, "rb") as raw:
                while chunk := raw.read(1 << 20):
                    held += len(inflater.decompress(chunk, 1 << 24))
                    while inflater.unconsumed_tail:
                        held += len(inflater.decompress(inflater.unconsumed_tail, 1 << 24))
                    if inflater.eof:
                        break
        except zlib.error as exc:
            raise CorruptFileError(path, f"the compressed data is damaged ({exc})") from None
        if not inflater.eof and held < expected:
            raise CorruptFileError(
                path, f"the file is truncated: it ends after {held} of the {expected} bytes its header declares"
            )
    if held < expected:
        raise CorruptFileError(path, f"the file is truncated: it holds {held} bytes but its header declares {expected}")


def _pixel_bytes(reader) -> int:
    import SimpleITK as sitk

    sizes = {sitk.sitkUInt8: 1, sitk.sitkInt8: 1, sitk.sitkUInt16: 2, sitk.sitkInt16: 2, sitk.sitkUInt32: 4,
             sitk.sitkInt32: 4, sitk.sitkFloat32: 4, sitk.sitkUInt64: 8, sitk.sitkInt64: 8, sitk.sitkFloat64: 8}
    return sizes.get(reader.GetPixelID(), 8)


def detached_data_files(header: str | Path) -> list[Path]:
    """The data files a MetaImage (.mhd) or detached NRRD (.nhdr) header names (none for other files).

    Only what a simple header names is listed: ``ElementDataFile = x.raw`` / ``data file: x.raw``,
    relative to the header's folder; ``LOCAL`` (data in the header file) gives none.

    Example:
        >>> import tempfile, pathlib
        >>> header = pathlib.Path(tempfile.mkdtemp()) / "ct.mhd"
        >>> _ = header.write_text("NDims = 3\\nElementDataFile = ct.raw\\n")
        >>> [p.name for p in detached_data_files(header)]
        ['ct.raw']
    """
    header = Path(header)
    name = header.name.lower()
    if not name.endswith((".mhd", ".nhdr")):
        return []
    regular_file_size(header, limit=1024**2, what="image header")
    try:
        text = header.read_bytes().decode("latin-1")
    except OSError as exc:
        raise LoadError(header, f"could not be read ({exc.strerror or exc})") from None
    named: list[str] = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        key, sep, value = line.partition("=" if name.endswith(".mhd") else ":")
        key = key.strip().lower().replace(" ", "")
        if not sep or key not in ("elementdatafile", "datafile"):
            continue
        value = value.strip()
        if value.upper() == "LOCAL":
            break
        if value.upper().startswith("LIST"):
            named.extend(item.strip() for item in lines[k + 1:] if item.strip())
        else:
            named.append(value.split()[0] if "%" in value else value)
        break
    return [header.parent / item for item in named if "%" not in item]


def check_detached_data(header: str | Path) -> None:
    """Refuse a header whose data file is not a regular file (e.g. ``ElementDataFile = /dev/zero``).

    Example:
        >>> import tempfile, pathlib
        >>> header = pathlib.Path(tempfile.mkdtemp()) / "ct.mhd"
        >>> _ = header.write_text("NDims = 3\\nElementDataFile = /dev/urandom\\n")
        >>> check_detached_data(header)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.NotRegularFileError: ...ct.mhd: its data file /dev/urandom is not a regular file (a character device); only regular files are read
    """
    for data in detached_data_files(header):
        try:
            regular_file_size(data, what="image data file")
        except NotRegularFileError as exc:
            raise NotRegularFileError(header, f"its data file {data} is {exc.reason}") from None
        except LoadError as exc:
            raise LoadError(header, f"its data file {data}: {exc.reason}") from None


def volume_from_sitk(image, source: str | Path = "") -> Volume:
    """Convert a SimpleITK image (2-D or 3-D, scalar) to a ``Volume``.

    Example:
        >>> import numpy as np, SimpleITK as sitk
        >>> img = sitk.GetImageFromArray(np.zeros((2, 3, 4), np.float32)); img.SetOrigin((1, 2, 3))
        >>> v = volume_from_sitk(img)
        >>> v.shape, v.origin, v.hu.dtype.name
        ((2, 3, 4), (1.0, 2.0, 3.0), 'int16')
    """
    import SimpleITK as sitk

    array = sitk.GetArrayViewFromImage(image)
    spacing = list(image.GetSpacing())
    origin = list(image.GetOrigin())
    direction = np.asarray(image.GetDirection(), float).reshape(image.GetDimension(), image.GetDimension())
    if image.GetDimension() == 2:
        array = array[np.newaxis]
        spacing.append(1.0)
        origin.append(0.0)
        d3 = np.eye(3)
        d3[:2, :2] = direction
        direction = d3
    warnings: list[str] = []
    if array.dtype == np.int16:
        hu = np.array(array, dtype=np.int16)
    elif np.issubdtype(array.dtype, np.integer):
        hu = np.clip(array, -32768, 32767).astype(np.int16)
    else:
        hu = np.empty(array.shape, np.int16)
        not_numbers = infinite = 0
        # Float CT (NIfTI often stores float32); round per slice to keep peak memory low.
        for k in range(array.shape[0]):
            plane = array[k]
            bad = ~np.isfinite(plane)
            if bad.any():
                nan = np.isnan(plane)
                not_numbers += int(nan.sum())
                infinite += int(bad.sum()) - int(nan.sum())
                plane = np.where(nan, NOT_A_NUMBER_HU, plane)
            hu[k] = np.clip(np.rint(plane), -32768, 32767)
        total = int(array.size)
        if not_numbers + infinite == total:
            raise CorruptFileError(source or "image", "every voxel is NaN or infinite: the image holds no values")
        if not_numbers or infinite:
            parts = []
            if not_numbers:
                parts.append(f"{not_numbers} voxel{'s are' if not_numbers > 1 else ' is'} NaN (shown as {NOT_A_NUMBER_HU} HU)")
            if infinite:
                parts.append(f"{infinite} voxel{'s are' if infinite > 1 else ' is'} infinite (clipped to the int16 range)")
            warnings.append(f"the image holds values that are not numbers: {'; '.join(parts)}, "
                            f"{100 * (not_numbers + infinite) / total:.2g}% of the volume")
    spacing_ok = all(math.isfinite(v) and v > 0 for v in spacing[:3])
    if not spacing_ok:
        warnings.append(f"the header gives an impossible voxel spacing {tuple(spacing[:3])}; 1 mm is assumed, "
                        f"so sizes in mm are unknown")
        spacing = [v if (math.isfinite(v) and v > 0) else 1.0 for v in spacing]
    if not all(math.isfinite(v) for v in origin[:3]) or not np.all(np.isfinite(direction)):
        warnings.append("the header gives an impossible origin or orientation; the identity at 0 is assumed")
        origin = [0.0, 0.0, 0.0]
        direction = np.eye(3)
    meta = {
        "format": _format_name(Path(str(source))) if source else "itk",
        "source": str(source),
        "source_files": [str(source)] if source else [],
        "pixel_type": image.GetPixelIDTypeAsString(),
    }
    return Volume(
        hu=hu,
        spacing=(spacing[2], spacing[1], spacing[0]),
        origin=tuple(origin[:3]),
        direction=direction,
        meta=meta,
        warnings=warnings,
        identity=SeriesIdentity(),  # NIfTI, NRRD and MetaImage headers carry no series identity
    )


def _itk_reason(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # ITK messages end with the useful description after the file/line location.
    for line in reversed(lines):
        if "Description:" in line:
            return line.split("Description:", 1)[1].strip()
    return lines[-1] if lines else "unknown error"
