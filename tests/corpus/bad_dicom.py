"""Build the bad-input corpus: each case is a small file or folder derived from a valid pydicom-written series.

Run ``python tests/corpus/bad_dicom.py OUTDIR`` to write the whole corpus for a look by hand;
the tests call the builders into their own temporary folders.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> case = CASES["truncated file"]
    >>> path = case.build(Path(tempfile.mkdtemp()))
    >>> path.name
    'truncated.dcm'
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import generate_uid

from lesionviewer.io import (
    CorruptFileError,
    EmptyInputError,
    ImplausibleImageError,
    InconsistentSeriesError,
    LoadError,
    NotDicomError,
    UnsupportedFormatError,
    Volume,
    write_dicom_series,
)

SIZE = 16


def small_volume(slices: int = 4, size: int = SIZE, spacing=(2.0, 0.8, 0.8), seed: int = 0) -> Volume:
    """A small volume with distinct values per slice (slice k holds k * 10 HU plus a gradient).

    Example:
        >>> int(small_volume(2, 4).hu[1, 0, 0])
        10
    """
    hu = np.zeros((slices, size, size), np.int16)
    hu += (np.arange(slices, dtype=np.int16) * 10)[:, None, None]
    hu += np.arange(size, dtype=np.int16)[None, None, :]
    return Volume(hu=hu, spacing=spacing, origin=(-10.0, -20.0, -30.0))


def write_valid_series(folder: Path, slices: int = 4, size: int = SIZE, **kwargs) -> list[Path]:
    """A valid uncompressed series of ``slices`` files in ``folder``.

    Example:
        >>> import tempfile
        >>> len(write_valid_series(Path(tempfile.mkdtemp()), 3))
        3
    """
    return write_dicom_series(small_volume(slices, size), folder, **kwargs)


def edit_dicom(path: Path, out: Path | None = None, **tags) -> Path:
    """Rewrite a DICOM file with changed tags (``None`` deletes a tag); returns the written path.

    Example:
        >>> import tempfile
        >>> [f] = write_valid_series(Path(tempfile.mkdtemp()), 1)
        >>> pydicom.dcmread(edit_dicom(f, SeriesDescription="x")).SeriesDescription
        'x'
    """
    ds = pydicom.dcmread(path)
    for keyword, value in tags.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    out = out or path
    ds.save_as(out, enforce_file_format=True)
    return out


def one_valid_file(root: Path, name: str = "valid") -> Path:
    """One valid single-slice file ``root/<name>.dcm``.

    Example:
        >>> import tempfile
        >>> one_valid_file(Path(tempfile.mkdtemp())).name
        'valid.dcm'
    """
    [path] = write_valid_series(root / f"_{name}", 1)
    target = root / f"{name}.dcm"
    shutil.move(path, target)
    shutil.rmtree(root / f"_{name}")
    return target


def _empty_folder(root: Path) -> Path:
    folder = root / "empty"
    folder.mkdir()
    return folder


def _folder_without_dicom(root: Path) -> Path:
    folder = root / "no_dicom"
    folder.mkdir()
    (folder / "notes.txt").write_text("patient list\n")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (folder / "blob").write_bytes(bytes(range(256)) * 3)
    return folder


def _non_dicom_file(root: Path) -> Path:
    path = root / "report.dcm"
    path.write_text("This is a text report, not an image.\n" * 20)
    return path


def _truncated_file(root: Path) -> Path:
    path = one_valid_file(root, "truncated")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - SIZE * SIZE])  # cut half of the pixel data
    return path


def _truncated_header(root: Path) -> Path:
    path = one_valid_file(root, "truncated_header")
    path.write_bytes(path.read_bytes()[:300])
    return path


def _short_pixel_data(root: Path) -> Path:
    path = one_valid_file(root, "short_pixels")
    ds = pydicom.dcmread(path)
    ds.PixelData = ds.PixelData[: SIZE * SIZE]  # half the declared 16 x 16 x 2 bytes; the file itself is consistent
    ds.save_as(path, enforce_file_format=True)
    return path


def _absurd_size(root: Path) -> Path:
    path = one_valid_file(root, "absurd_size")
    return edit_dicom(path, Rows=65535, Columns=65535, NumberOfFrames="10000")


def _with_syntax(root: Path, name: str, syntax: str, fragment: bytes) -> Path:
    path = one_valid_file(root, name)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def _unknown_syntax(root: Path) -> Path:
    return _with_syntax(root, "unknown_syntax", "1.2.826.0.1.3680043.9999.1", b"\x00" * 64)


def _unsupported_syntax(root: Path) -> Path:
    return _with_syntax(root, "mpeg2", "1.2.840.10008.1.2.4.100", b"\x00\x00\x01\xb3" + b"\x00" * 60)


def _undecodable_jpeg2000(root: Path) -> Path:
    return _with_syntax(root, "bad_j2k", "1.2.840.10008.1.2.4.90", b"\xff\x4f\xff\x51" + bytes(range(60)))


def _mixed_sizes(root: Path) -> Path:
    folder = root / "mixed_sizes"
    uid, study = generate_uid(), generate_uid()
    write_dicom_series(small_volume(3, 16), folder, series_uid=uid, study_uid=study, file_prefix="big")
    vol = small_volume(3, 8)
    vol.origin = (-10.0, -20.0, -30.0 + 3 * 2.0)
    write_dicom_series(vol, folder, series_uid=uid, study_uid=study, file_prefix="small")
    return folder


def _non_image_dicom(root: Path) -> Path:
    path = one_valid_file(root, "no_image")
    return edit_dicom(path, PixelData=None, Rows=None, Columns=None, ImagePositionPatient=None,
                      SOPClassUID="1.2.840.10008.5.1.4.1.1.88.11")


@dataclass(frozen=True)
class BadInput:
    """One corpus case: how to build it, the error it must give and a phrase the message must contain.

    Example:
        >>> CASES["empty folder"].error.__name__
        'EmptyInputError'
    """

    build: Callable[[Path], Path]
    error: type[LoadError]
    phrase: str


CASES: dict[str, BadInput] = {
    "empty folder": BadInput(_empty_folder, EmptyInputError, "empty"),
    "folder with no DICOM": BadInput(_folder_without_dicom, EmptyInputError, "no DICOM image"),
    "non-DICOM file": BadInput(_non_dicom_file, NotDicomError, "not a DICOM file"),
    "truncated file": BadInput(_truncated_file, CorruptFileError, "truncated"),
    "truncated header": BadInput(_truncated_header, CorruptFileError, "truncated"),
    "pixel data shorter than declared": BadInput(_short_pixel_data, CorruptFileError, "declares"),
    "absurd image size": BadInput(_absurd_size, ImplausibleImageError, "implausible image size"),
    "unknown transfer syntax": BadInput(_unknown_syntax, UnsupportedFormatError, "unknown transfer syntax"),
    "unsupported transfer syntax": BadInput(_unsupported_syntax, UnsupportedFormatError, "MPEG2"),
    "undecodable JPEG 2000": BadInput(_undecodable_jpeg2000, CorruptFileError, "could not be decoded"),
    "mixed sizes, no majority": BadInput(_mixed_sizes, InconsistentSeriesError, "mixes image sizes"),
    "DICOM without an image": BadInput(_non_image_dicom, UnsupportedFormatError, "holds no image"),
}


def build_all(root: Path) -> dict[str, Path]:
    """Write every case below ``root`` (one sub-folder each); returns case name -> path.

    Example:
        >>> import tempfile
        >>> len(build_all(Path(tempfile.mkdtemp()))) == len(CASES)
        True
    """
    built = {}
    for i, (name, case) in enumerate(CASES.items()):
        place = root / f"{i:02d}"
        place.mkdir(parents=True, exist_ok=True)
        built[name] = case.build(place)
    return built


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_input_corpus")
    for name, path in build_all(out).items():
        print(f"{name:35s} {path}")
