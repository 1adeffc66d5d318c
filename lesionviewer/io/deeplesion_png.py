"""A DeepLesion PNG series as a ``Volume``: a folder ``<patient>_<study>_<series>/<slice>.png`` or flat files.

Each PNG is one axial slice stored as 16-bit HU + 32768, named by its slice number; the flat layout
of the key-slice download names each file ``<patient>_<study>_<series>_<slice>.png`` in one folder.
The slice spacing is given by the caller or read from the DL_info.csv table (looked up next to
``Images_png``). Slice numbers that are absent are not invented: the volume holds the slices that
exist, each at its true position (``Volume.slice_origins``), so distances stay true and the
detector's context interpolates between real neighbours only, never blank slices; a warning says so.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp()) / "000001_01_01"; folder.mkdir()
    >>> for k in (10, 11, 12):
    ...     Image.fromarray(np.full((4, 6), 32768 + 40, np.uint16)).save(folder / f"{k:03d}.png")
    >>> vol = load_deeplesion_series(folder, spacing=(5.0, 0.8, 0.8))
    >>> vol.shape, int(vol.hu[0, 0, 0]), vol.meta["slice_indices"]
    ((3, 4, 6), 40, [10, 11, 12])
"""
from __future__ import annotations

import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

import numpy as np

from lesionviewer.io.deeplesion_info import DeepLesionRecord, read_dl_info_cached
from lesionviewer.io.errors import (
    CorruptFileError,
    EmptyInputError,
    ImplausibleImageError,
    InconsistentSeriesError,
    LoadError,
    UnsupportedFormatError,
)
from lesionviewer.io.file_checks import is_regular_file, regular_file_size
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.series_identity import SeriesIdentity
from lesionviewer.io.volume import Volume

HU_OFFSET = 32768
MAX_SIDE = 8192
MAX_SLOTS = 5000
# A DeepLesion series is 512 x 512 x at most a few hundred slices (< 0.3 GiB); refuse before decoding above this.
MAX_SERIES_BYTES = 2 * 1024**3
# No PNG slice file is larger than this (a 8192 x 8192 16-bit image stored raw is 128 MiB).
MAX_PNG_FILE_BYTES = 256 * 1024**2
_SLICE_NAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)
_FLAT_NAME = re.compile(r"^(\d+_\d+_\d+)_(\d+)\.png$", re.IGNORECASE)


def slice_name_parts(name: str) -> tuple[str | None, int] | None:
    """``(series key or None, slice number)`` of a DeepLesion PNG file name; None for other names.

    Example:
        >>> slice_name_parts("042.png"), slice_name_parts("000001_01_01_109.png"), slice_name_parts("a.png")
        ((None, 42), ('000001_01_01', 109), None)
    """
    m = _SLICE_NAME.match(name)
    if m:
        return None, int(m.group(1))
    m = _FLAT_NAME.match(name)
    if m:
        return m.group(1), int(m.group(2))
    return None


def flat_series(folder: str | Path) -> dict[str, list[Path]]:
    """The flat-layout DeepLesion series in ``folder``: series key -> its PNG files, sorted by slice number.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("000001_01_01_110.png", "000001_01_01_109.png", "000002_01_01_7.png", "x.png"):
        ...     _ = (d / name).write_bytes(b"")
        >>> {k: [p.name for p in v] for k, v in flat_series(d).items()}
        {'000001_01_01': ['000001_01_01_109.png', '000001_01_01_110.png'], '000002_01_01': ['000002_01_01_7.png']}
    """
    found: dict[str, list[tuple[int, Path]]] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    for p in folder.iterdir():
        m = _FLAT_NAME.match(p.name)
        if m and is_regular_file(p):
            found.setdefault(m.group(1), []).append((int(m.group(2)), p))
    return {key: [p for _, p in sorted(items)] for key, items in sorted(found.items())}


def is_deeplesion_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds PNG files named by slice number (and no other images).

    Example:
        >>> import tempfile
        >>> is_deeplesion_folder(tempfile.mkdtemp())
        False
    """
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return any(slice_name_parts(p.name) for p in folder.iterdir() if is_regular_file(p))


def find_dl_info(folder: str | Path, series_key: str | None = None) -> Path | None:
    """The DL_info table for a series folder: ``DL_info*.csv`` in the folder, next to ``Images_png`` or above it.

    Where several tables exist (e.g. the val and test splits), the one that lists this series
    (``series_key``, default the folder's name) wins.

    Example:
        >>> import tempfile
        >>> find_dl_info(tempfile.mkdtemp()) is None
        True
    """
    folder = Path(folder)
    series_key = series_key or folder.name
    candidates: list[Path] = []
    for place in (folder, folder.parent, folder.parent.parent):
        candidates.extend(p for p in sorted(place.glob("DL_info*.csv")) if is_regular_file(p))
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for path in candidates:
        try:
            if any(r.series_key == series_key for r in read_dl_info_cached(path)):
                return path
        except (LoadError, OSError):
            continue
    return candidates[0]


def load_deeplesion_series(
    folder: str | Path,
    spacing: tuple[float, float, float] | None = None,
    dl_info: str | Path | None = None,
    files: Sequence[str | Path] | None = None,
    progress: ProgressCallback | None = None,
    cancel=None,
    *,
    tracker: LoadProgress | None = None,
) -> Volume:
    """Load a DeepLesion PNG series folder (or just ``files`` of it, in either naming) as an int16 HU ``Volume``.

    ``spacing`` is (z, y, x) in mm; without it the spacing comes from the series' rows in
    ``dl_info`` (default: found with ``find_dl_info``). The series' annotation rows go into
    ``meta["deeplesion_records"]``. A folder of flat-layout files holding several series loads the
    largest (a warning names the others). ``progress(done, total)`` counts slices; ``cancel``
    (callable or Event) stops with ``LoadCancelled``.

    Example:
        >>> import tempfile
        >>> load_deeplesion_series(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.EmptyInputError: ...: no DeepLesion slice (a PNG named by its slice number, e.g. 042.png, or 000001_01_01_042.png) in the folder
    """
    folder = Path(folder)
    warnings: list[str] = []
    if files is None:
        named = [p for p in sorted(folder.iterdir()) if slice_name_parts(p.name)] if folder.is_dir() else []
        odd = [p for p in named if not is_regular_file(p)]
        if odd:
            shown = ", ".join(p.name for p in odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
            warnings.append(f"{len(odd)} slice name{'s are' if len(odd) > 1 else ' is'} not a regular file "
                            f"(a pipe, device or broken link) and {'were' if len(odd) > 1 else 'was'} not read: {shown}")
        files = [p for p in named if _SLICE_NAME.match(p.name) and p not in odd]
        if not files:
            groups = flat_series(folder)
            if groups:
                key, files = max(groups.items(), key=lambda item: (len(item[1]), item[0]))
                if len(groups) > 1:
                    others = ", ".join(k for k in groups if k != key)
                    warnings.append(f"the folder holds {len(groups)} DeepLesion series; loaded {key} "
                                    f"({len(files)} slices); also there: {others}")
    numbered = []
    keys = set()
    for p in map(Path, files):
        parts = slice_name_parts(p.name)
        if parts is None:
            raise UnsupportedFormatError(
                p, "not a DeepLesion slice (expected a PNG named by its slice number, e.g. 042.png, "
                   "or <patient>_<study>_<series>_<slice>.png)")
        keys.add(parts[0] or folder.name)
        numbered.append((parts[1], p))
    if not numbered:
        raise EmptyInputError(folder, "no DeepLesion slice (a PNG named by its slice number, e.g. 042.png, "
                                      "or 000001_01_01_042.png) in the folder")
    if len(keys) > 1:
        raise InconsistentSeriesError(folder, f"the files belong to {len(keys)} series ({', '.join(sorted(keys))}); "
                                              f"load one series at a time")
    series_key = keys.pop()
    numbered.sort()
    repeated = sorted(k for k, n in Counter(k for k, _ in numbered).items() if n > 1)
    if repeated:
        warnings.append(f"slice number{'s' if len(repeated) > 1 else ''} {', '.join(map(str, repeated[:5]))} "
                        f"appear{'' if len(repeated) > 1 else 's'} twice; the first file of each was kept")
        seen: set[int] = set()
        first_of_each = []
        for k, p in numbered:
            if k not in seen:
                seen.add(k)
                first_of_each.append((k, p))
        numbered = first_of_each

    records: list[DeepLesionRecord] = []
    table = Path(dl_info) if dl_info else find_dl_info(folder, series_key)
    if table is not None:
        records = [r for r in read_dl_info_cached(table) if r.series_key == series_key]
    if spacing is None:
        if records:
            sx, sy, sz = records[0].spacing_mm
            spacing = (float(sz), float(sy), float(sx))
        else:
            spacing = (1.0, 1.0, 1.0)
            where = f"in {table}" if table else "(no DL_info.csv found next to Images_png)"
            warnings.append(
                f"the spacing of series {series_key} is unknown {where}; 1 mm is assumed, so sizes in mm are wrong"
            )
    if not all(math.isfinite(v) and v > 0 for v in spacing):
        warnings.append(f"the spacing of series {series_key} is impossible ({tuple(spacing)}); 1 mm is assumed, "
                        f"so sizes in mm are wrong")
        dz, dy, dx = (v if math.isfinite(v) and v > 0 else 1.0 for v in spacing)
        spacing = (dz, dy, dx)

    if len(numbered) > MAX_SLOTS:
        raise ImplausibleImageError(folder, f"{len(numbered)} slices; a DeepLesion series has at most {MAX_SLOTS}")
    sizes = {}
    declared = 0
    for _, p in numbered:
        sizes[p] = png_image_size(p)
        declared += sizes[p][0] * sizes[p][1] * 2
        if declared > MAX_SERIES_BYTES:
            raise ImplausibleImageError(
                folder,
                f"the PNG slices would need more than {MAX_SERIES_BYTES / 1024**3:.0f} GiB once decoded "
                f"({len(numbered)} files, the first {len(sizes)} already {declared / 1024**3:.1f} GiB); "
                f"refused before decoding (a DeepLesion series is 512 x 512 pixels a slice)",
            )
    counts = Counter(sizes.values())
    size, count = counts.most_common(1)[0]
    if len(counts) > 1:
        listing = ", ".join(f"{n} of {w} x {h}" for (h, w), n in counts.most_common())
        if count * 2 <= len(numbered):
            raise InconsistentSeriesError(folder, f"the slices mix image sizes ({listing}) and no size is held by most")
        warnings.append(f"the slices mix image sizes ({listing}); only the {size[1]} x {size[0]} slices were loaded")
        numbered = [(k, p) for k, p in numbered if sizes[p] == size]
    first, last = numbered[0][0], numbered[-1][0]

    numbers = [k for k, _ in numbered]
    absent = (last - first + 1) - len(numbered)
    positions = [k * spacing[0] for k in numbers]
    slice_origins = None
    z_step = spacing[0]
    if absent:
        z_step = (last - first) * spacing[0] / (len(numbered) - 1)
        slice_origins = np.array([[0.0, 0.0, z] for z in positions])
        gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b - a > 1]
        shown = ", ".join(f"{a + 1}-{b - 1}" if b - a > 2 else f"{a + 1}" for a, b in gaps[:4])
        more = f" and {len(gaps) - 4} more gaps" if len(gaps) > 4 else ""
        widest = max(b - a for a, b in gaps) * spacing[0]
        warnings.append(
            f"{absent} slice{'s are' if absent > 1 else ' is'} absent between slice {first} and {last} "
            f"(numbers {shown}{more}; only {len(numbered)} PNG files); nothing is invented for "
            f"{'them' if absent > 1 else 'it'}: each present slice keeps its true position and the detector's "
            f"context uses the real neighbours (up to {widest:.3g} mm apart), never blank slices"
        )

    hu = np.empty((len(numbered), *size), dtype=np.int16)

    def decode(item: tuple[int, tuple[int, Path]]) -> None:
        index, (_, p) = item
        hu[index] = _read_png_hu(p)

    if tracker is None:
        tracker = LoadProgress(progress, cancel, source=str(folder))
    tracker.set_total(tracker.done + len(numbered))
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="png-decode")
    try:
        for future in as_completed([pool.submit(decode, item) for item in enumerate(numbered)]):
            future.result()
            tracker.advance()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

    window_center = window_width = None
    if records:
        low, high = records[0].dicom_window
        window_center, window_width = (low + high) / 2, high - low
    meta = {
        "format": "deeplesion",
        "source": str(folder),
        "series_key": series_key,
        "SeriesDescription": f"DeepLesion {series_key}",
        "Modality": "CT",
        "window_center": window_center,
        "window_width": window_width,
        "slice_indices": numbers,
        "slice_positions_mm": positions,
        "source_files": [str(p) for _, p in numbered],
        "missing_slices": [],
        "absent_slice_numbers": [k for k in range(first, last + 1) if k not in set(numbers)],
        "dl_info": str(table) if table else None,
        "deeplesion_records": records,
    }
    return Volume(hu=hu, spacing=(z_step, spacing[1], spacing[2]), origin=(0.0, 0.0, positions[0]), meta=meta,
                  warnings=warnings, slice_origins=slice_origins,
                  identity=SeriesIdentity(modality="CT", description=f"DeepLesion {series_key}"))


def png_image_size(path: str | Path) -> tuple[int, int]:
    """(rows, columns) of a DeepLesion PNG slice from its header; refuses other PNG kinds and absurd sizes.

    Example:
        >>> import tempfile, os, numpy as np
        >>> from PIL import Image
        >>> path = os.path.join(tempfile.mkdtemp(), "001.png")
        >>> Image.fromarray(np.zeros((3, 5), np.uint16)).save(path)
        >>> png_image_size(path)
        (3, 5)
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    regular_file_size(path, limit=MAX_PNG_FILE_BYTES, what="PNG slice")
    try:
        with Image.open(path) as img:
            width, height = img.size
            mode = img.mode
    except UnidentifiedImageError:
        raise CorruptFileError(path, "not a readable PNG image") from None
    except OSError as exc:
        raise CorruptFileError(path, f"the PNG could not be read ({exc})") from None
    if mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise UnsupportedFormatError(path, f"a {mode} PNG is not a DeepLesion slice (16-bit grey, HU + 32768, expected)")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImplausibleImageError(path, f"implausible image size {width} x {height}; refused before decoding")
    return height, width


def _read_png_hu(path: Path) -> np.ndarray:
    from PIL import Image

    regular_file_size(path, limit=MAX_PNG_FILE_BYTES, what="PNG slice")
    try:
        with Image.open(path) as img:
            values = np.asarray(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptFileError(path, f"the PNG could not be decoded ({exc})") from None
    if values.dtype == np.uint16 or values.dtype == np.dtype(">u2"):
        # v - 32768 for every 16-bit v is exactly v with its top bit flipped, read as int16: no wider copy.
        return (values.astype("<u2", copy=False) ^ np.uint16(HU_OFFSET)).view(np.int16)
    return np.clip(values.astype(np.int32) - HU_OFFSET, -32768, 32767).astype(np.int16)
