"""Hostile inputs for the loaders, generated at test time (nothing stored): pipes, devices, bombs, NaN values.

Each case builds a path below a folder and says how loading it must end: a typed ``LoadError``
whose message holds a phrase, or a volume whose warnings hold one. The test runs every case with
a time limit and a memory limit. ``python tests/corpus/hostile_inputs.py OUTDIR`` writes them all
for a look by hand (named pipes and links included).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> case = CASES["named pipe as the path"]
    >>> case.build(Path(tempfile.mkdtemp())).is_fifo(), case.outcome.__name__
    (True, 'NotRegularFileError')
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from corpus.bad_dicom import edit_dicom, write_valid_series
from lesionviewer.io import (
    CorruptFileError,
    ImplausibleImageError,
    LoadError,
    NotDicomError,
    NotRegularFileError,
    UnsupportedFormatError,
)

BLOB_BYTES = 50 * 1024**2


@dataclass(frozen=True)
class HostileInput:
    """How to build one case, and how loading it must end: ``outcome`` is an error type or ``"warning"``.

    Example:
        >>> HostileInput(lambda root: root, "warning", "uneven").outcome
        'warning'
    """

    build: Callable[[Path], Path]
    outcome: type[LoadError] | str
    phrase: str


def _series(root: Path, name: str = "series", slices: int = 3) -> Path:
    folder = root / name
    write_valid_series(folder, slices)
    return folder


def _pipe_in_series(root: Path) -> Path:
    folder = _series(root)
    os.mkfifo(folder / "slice0099.dcm")
    return folder


def _pipe_as_path(root: Path) -> Path:
    path = root / "image.dcm"
    os.mkfifo(path)
    return path


def _link(target: str, name: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        path = root / name
        path.symlink_to(target)
        return path
    return build


def _link_in_series(target: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        folder = _series(root)
        (folder / "extra").symlink_to(target)
        return folder
    return build


def _only_pipes(root: Path) -> Path:
    folder = root / "pipes"
    folder.mkdir()
    for k in range(3):
        os.mkfifo(folder / f"{k}.dcm")
    return folder


def _zero_blob(root: Path) -> Path:
    path = root / "blob"
    with open(path, "wb") as f:
        f.truncate(BLOB_BYTES)  # 50 MB of zeros (sparse: cheap to make, slow to parse as DICOM)
    return path


def _marker_then_zeros(root: Path) -> Path:
    path = root / "marker_zeros"
    with open(path, "wb") as f:
        f.write(bytes(128) + b"DICM")
        f.truncate(BLOB_BYTES)
    return path


def _with_tags(**tags) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        folder = _series(root)
        for f in sorted(folder.iterdir()):
            edit_dicom(f, **tags)
        return folder
    return build


def _mhd_on_device(target: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        path = root / "ct.mhd"
        path.write_text(f"ObjectType = Image\nNDims = 3\nDimSize = 512 512 512\nElementType = MET_SHORT\n"
                        f"ElementDataFile = {target}\n")
        return path
    return build


def _nifti(values: Callable[[np.ndarray], None], name: str = "ct.nii.gz") -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        import SimpleITK as sitk

        array = np.full((4, 8, 8), -500.0, np.float32)
        values(array)
        path = root / name
        sitk.WriteImage(sitk.GetImageFromArray(array), str(path))
        return path
    return build


def _some_nan(a: np.ndarray) -> None:
    a[1, 2:4, 2:4] = np.nan


def _some_inf(a: np.ndarray) -> None:
    a[2, 0, 0] = np.inf
    a[2, 0, 1] = -np.inf


def _all_nan(a: np.ndarray) -> None:
    a[:] = np.nan


def _png(folder: Path, name: str, array: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(folder / name)
    return folder / name


def _png_hard_links(root: Path) -> Path:
    folder = root / "000001_01_01"
    first = _png(folder, "001.png", np.zeros((4096, 4096), np.uint16))  # 32 MiB decoded, a few KB on disk
    for k in range(2, 71):  # 70 slices: 2.2 GiB decoded, over the 2 GiB cap
        (folder / f"{k:03d}.png").hardlink_to(first)
    return folder


def _png_pipe_beside_slices(root: Path) -> Path:
    folder = root / "000001_01_01"
    _png(folder, "002.png", np.full((8, 8), 32768, np.uint16))
    os.mkfifo(folder / "001.png")
    return folder


def _png_gap(root: Path) -> Path:
    folder = root / "000001_01_01"
    for k in (1, 2, 6):
        _png(folder, f"{k:03d}.png", np.full((8, 8), 32768, np.uint16))
    return folder


def _flat_png_8bit(root: Path) -> Path:
    return _png(root / "flat", "000001_01_01_005.png", np.zeros((8, 8), np.uint8))


def _dl_info_pipe(root: Path) -> Path:
    folder = root / "Images_png" / "000001_01_01"
    _png(folder, "001.png", np.full((8, 8), 32768, np.uint16))
    os.mkfifo(root / "DL_info.csv")
    return folder


CASES: dict[str, HostileInput] = {
    "named pipe in a series folder": HostileInput(_pipe_in_series, "warning", "not a regular file"),
    "named pipe as the path": HostileInput(_pipe_as_path, NotRegularFileError, "a named pipe"),
    "folder of named pipes only": HostileInput(_only_pipes, NotRegularFileError, "not a regular file"),
    "link to /dev/zero as the path": HostileInput(_link("/dev/zero", "zero.dcm"), NotRegularFileError,
                                                  "a character device via a link to /dev/zero"),
    "link to /dev/urandom as the path": HostileInput(_link("/dev/urandom", "noise"), NotRegularFileError,
                                                     "/dev/urandom"),
    "link to /dev/zero in a series": HostileInput(_link_in_series("/dev/zero"), "warning", "/dev/zero"),
    "link to /dev/urandom in a series": HostileInput(_link_in_series("/dev/urandom"), "warning", "/dev/urandom"),
    "link to /dev/zero named .nii": HostileInput(_link("/dev/zero", "ct.nii"), NotRegularFileError,
                                                 "not a regular file"),
    "broken link": HostileInput(_link("/nonexistent/target", "gone.dcm"), LoadError, "no such file"),
    "MetaImage whose data is /dev/zero": HostileInput(_mhd_on_device("/dev/zero"), NotRegularFileError,
                                                      "data file /dev/zero"),
    "MetaImage whose data is /dev/urandom": HostileInput(_mhd_on_device("/dev/urandom"), NotRegularFileError,
                                                         "data file /dev/urandom"),
    "50 MB of zeros without extension": HostileInput(_zero_blob, NotDicomError, "not a DICOM file"),
    "DICM marker then 50 MB of zeros": HostileInput(_marker_then_zeros, CorruptFileError, "impossible tag"),
    "RescaleSlope nan": HostileInput(_with_tags(RescaleSlope="nan"), CorruptFileError, "RescaleSlope is 'nan'"),
    "RescaleSlope inf": HostileInput(_with_tags(RescaleSlope="inf"), CorruptFileError, "not a finite number"),
    "RescaleSlope 0": HostileInput(_with_tags(RescaleSlope="0"), CorruptFileError, "RescaleSlope is 0"),
    "RescaleIntercept nan": HostileInput(_with_tags(RescaleIntercept="nan"), CorruptFileError,
                                         "RescaleIntercept is 'nan'"),
    "PixelSpacing 0": HostileInput(_with_tags(PixelSpacing=["0", "0"]), "warning", "PixelSpacing is '0"),
    "PixelSpacing nan": HostileInput(_with_tags(PixelSpacing=["nan", "nan"]), "warning", "PixelSpacing is 'nan"),
    "PixelSpacing negative": HostileInput(_with_tags(PixelSpacing=["-0.7", "0.7"]), "warning", "PixelSpacing is"),
    "ImagePositionPatient nan": HostileInput(_with_tags(ImagePositionPatient=["nan", "0", "0"]), "warning",
                                             "ImagePositionPatient is"),
    "ImageOrientationPatient all zero": HostileInput(_with_tags(ImageOrientationPatient=["0"] * 6), "warning",
                                                     "ImageOrientationPatient is"),
    "SliceThickness inf": HostileInput(_with_tags(SliceThickness="inf"), "warning", "SliceThickness is 'inf'"),
    "NIfTI with NaN voxels": HostileInput(_nifti(_some_nan), "warning", "4 voxels are NaN"),
    "uncompressed NIfTI with NaN voxels": HostileInput(_nifti(_some_nan, "ct.nii"), "warning", "4 voxels are NaN"),
    "NIfTI with infinite voxels": HostileInput(_nifti(_some_inf), "warning", "2 voxels are infinite"),
    "NIfTI of NaN only": HostileInput(_nifti(_all_nan), CorruptFileError, "every voxel is NaN"),
    "PNG series of 70 hard links to a 4096 x 4096 slice": HostileInput(_png_hard_links, ImplausibleImageError,
                                                                       "refused before decoding"),
    "named pipe among PNG slices": HostileInput(_png_pipe_beside_slices, "warning", "001.png"),
    "DeepLesion folder with a gap": HostileInput(_png_gap, "warning", "3 slices are absent"),
    "8-bit PNG in the flat layout": HostileInput(_flat_png_8bit, UnsupportedFormatError, "not a DeepLesion slice"),
    "DL_info.csv that is a named pipe": HostileInput(_dl_info_pipe, "warning", "spacing of series 000001_01_01"),
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
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_input_corpus")
    for name, path in build_all(out).items():
        print(f"{name:55s} {path}")
