"""A DeepLesion series folder (``Images_png/<patient>_<study>_<series>/<slice>.png``) as a ``Volume``.

Each PNG is one axial slice stored as 16-bit HU + 32768, named by its slice number. The slice
spacing is given by the caller or read from the DL_info.csv table (looked up next to
``Images_png``); slice numbers that are absent become blank (air) slices, so distances stay true.

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

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

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
from lesionviewer.io.progress import LoadProgress, ProgressCallback
from lesionviewer.io.volume import Volume

HU_OFFSET = 32768
BLANK_HU = -1024
MAX_SIDE = 8192
MAX_SLOTS = 5000
_SLICE_NAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)


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
    return any(_SLICE_NAME.match(p.name) for p in folder.iterdir() if p.is_file())


def find_dl_info(folder: str | Path) -> Path | None:
    """The DL_info table for a series folder: ``DL_info*.csv`` in the folder, next to ``Images_png`` or above it.

    Where several tables exist (e.g. the val and test splits), the one that lists this series wins.

    Example:
        >>> import tempfile
        >>> find_dl_info(tempfile.mkdtemp()) is None
        True
    """
    folder = Path(folder)
    candidates: list[Path] = []
    for place in (folder, folder.parent, folder.parent.parent):
        candidates.extend(sorted(place.glob("DL_info*.csv")))
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    for path in candidates:
        try:
            if any(r.series_key == folder.name for r in read_dl_info_cached(path)):
                return path
        except (LoadError, OSError):
            continue
    return candidates[0]


def load_deeplesion_series(
    folder: str | Path,
    spacing: tuple[float, float, float] | None = None,
    dl_info: str | Path | None = None,
    files: list[str | Path] | None = None,
    progress: ProgressCallback | None = None,
    cancel=None,
    *,
    tracker: LoadProgress | None = None,
) -> Volume:
    """Load a DeepLesion PNG series folder (or just ``files`` of it) as an int16 HU ``Volume``.

    ``spacing`` is (z, y, x) in mm; without it the spacing comes from the series' rows in
    ``dl_info`` (default: found with ``find_dl_info``). The series' annotation rows go into
    ``meta["deeplesion_records"]``. ``progress(done, total)`` counts slices; ``cancel`` (callable
    or Event) stops with ``LoadCancelled``.

    Example:
        >>> import tempfile
        >>> load_deeplesion_series(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.EmptyInputError: ...: no DeepLesion slice (a PNG named by its slice number, e.g. 042.png) in the folder
    """
    folder = Path(folder)
    if files is None:
        files = [p for p in sorted(folder.iterdir()) if p.is_file() and _SLICE_NAME.match(p.name)] if folder.is_dir() else []
    numbered = []
    for p in map(Path, files):
        m = _SLICE_NAME.match(p.name)
        if not m:
            raise UnsupportedFormatError(p, "not a DeepLesion slice (expected a PNG named by its slice number, e.g. 042.png)")
        numbered.append((int(m.group(1)), p))
    if not numbered:
        raise EmptyInputError(folder, "no DeepLesion slice (a PNG named by its slice number, e.g. 042.png) in the folder")
    numbered.sort()
    warnings: list[str] = []

    records: list[DeepLesionRecord] = []
    table = Path(dl_info) if dl_info else find_dl_info(folder)
    if table is not None:
        records = [r for r in read_dl_info_cached(table) if r.series_key == folder.name]
    if spacing is None:
        if records:
            sx, sy, sz = records[0].spacing_mm
            spacing = (float(sz), float(sy), float(sx))
        else:
            spacing = (1.0, 1.0, 1.0)
            where = f"in {table}" if table else "(no DL_info.csv found next to Images_png)"
            warnings.append(
                f"the spacing of series {folder.name} is unknown {where}; 1 mm is assumed, so sizes in mm are wrong"
            )

    sizes = {}
    for _, p in numbered:
        sizes[p] = png_image_size(p)
    counts = Counter(sizes.values())
    size, count = counts.most_common(1)[0]
    if len(counts) > 1:
        listing = ", ".join(f"{n} of {w} x {h}" for (h, w), n in counts.most_common())
        if count * 2 <= len(numbered):
            raise InconsistentSeriesError(folder, f"the slices mix image sizes ({listing}) and no size is held by most")
        warnings.append(f"the slices mix image sizes ({listing}); only the {size[1]} x {size[0]} slices were loaded")
        numbered = [(k, p) for k, p in numbered if sizes[p] == size]

    first, last = numbered[0][0], numbered[-1][0]
    if last - first + 1 > MAX_SLOTS:
        raise ImplausibleImageError(folder, f"slice numbers {first} to {last} span more than {MAX_SLOTS} slices")
    slot_of = {k: k - first for k, _ in numbered}
    num_slots = last - first + 1
    hu = np.full((num_slots, *size), BLANK_HU, dtype=np.int16)
    missing = [i for i in range(num_slots) if i + first not in slot_of]
    if missing:
        warnings.append(
            f"{len(missing)} slice{'s are' if len(missing) > 1 else ' is'} missing between slice {first} and {last} "
            f"(only {len(numbered)} PNG files); {'they are' if len(missing) > 1 else 'it is'} shown blank so distances stay true"
        )

    def decode(item: tuple[int, Path]) -> None:
        k, p = item
        hu[slot_of[k]] = _read_png_hu(p)

    if tracker is None:
        tracker = LoadProgress(progress, cancel, source=str(folder))
    tracker.set_total(tracker.done + len(numbered))
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="png-decode")
    try:
        for future in as_completed([pool.submit(decode, item) for item in numbered]):
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
        "series_key": folder.name,
        "SeriesDescription": f"DeepLesion {folder.name}",
        "Modality": "CT",
        "window_center": window_center,
        "window_width": window_width,
        "slice_indices": [k if (k - first) not in missing else None for k in range(first, last + 1)],
        "slice_positions_mm": [(first + i) * spacing[0] for i in range(num_slots)],
        "source_files": [str(dict(numbered).get(first + i)) if (first + i) in slot_of else None for i in range(num_slots)],
        "missing_slices": missing,
        "dl_info": str(table) if table else None,
        "deeplesion_records": records,
    }
    return Volume(hu=hu, spacing=spacing, origin=(0.0, 0.0, first * spacing[0]), meta=meta, warnings=warnings)


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

    try:
        with Image.open(path) as img:
            values = np.asarray(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptFileError(path, f"the PNG could not be decoded ({exc})") from None
    return np.clip(values.astype(np.int32) - HU_OFFSET, -32768, 32767).astype(np.int16)
