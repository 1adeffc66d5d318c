"""Decode many slices at once, each straight into its place in one preallocated int16 array.

A pool of threads does the work: reading a file and numpy's arithmetic release the GIL, so
uncompressed series decode in parallel. (The JPEG 2000 decoder plugin appears to hold the GIL
while it runs, so compressed series gain little from threads; worker processes would, at the
cost of start-up time and of the care a frozen app and unguarded scripts need, so they are left
out on purpose.)

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> from lesionviewer.io.dicom_write import write_dicom_series
    >>> from lesionviewer.io.dicom_header import read_slice_header
    >>> from lesionviewer.io.progress import LoadProgress
    >>> files = write_dicom_series(Volume(np.full((3, 2, 2), 7, np.int16), (1, 1, 1)), tempfile.mkdtemp())
    >>> hu = np.empty((3, 2, 2), np.int16)
    >>> decode_slices([read_slice_header(f) for f in files], hu, LoadProgress(None, None))
    []
    >>> int(hu.sum())
    84
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np

from lesionviewer.io.dicom_header import SliceHeader
from lesionviewer.io.dicom_pixels import decode_slice_into
from lesionviewer.io.errors import LoadError
from lesionviewer.io.progress import LoadProgress


def decode_threads() -> int:
    """Threads used to decode pixels: one per CPU core, at least 4 (file reads wait on the disk), at most 16.

    Example:
        >>> 4 <= decode_threads() <= 16
        True
    """
    return max(4, min(16, os.cpu_count() or 4))


def decode_slices(slots: list[SliceHeader | None], hu: np.ndarray, tracker: LoadProgress) -> list[tuple[int, LoadError]]:
    """Decode every present slot into ``hu[i]``; returns ``(index, error)`` for the slices that failed, in order.

    ``tracker`` counts each finished slice and raises ``LoadCancelled`` when the caller stops the
    load (slices already running finish, the rest are dropped).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io.progress import LoadProgress
        >>> decode_slices([None], np.zeros((1, 2, 2), np.int16), LoadProgress(None, None))
        []
    """
    work = [(i, h) for i, h in enumerate(slots) if h is not None]
    failures: list[tuple[int, LoadError]] = []
    if len(work) <= 1:
        for i, h in work:
            error = _decode_one(h, hu[i])
            if error is not None:
                failures.append((i, error))
            tracker.advance()
        return failures
    pool = ThreadPoolExecutor(max_workers=min(decode_threads(), len(work)), thread_name_prefix="dicom-decode")
    try:
        futures = {pool.submit(_decode_one, h, hu[i]): i for i, h in work}
        for future in as_completed(futures):
            error = future.result()
            if error is not None:
                failures.append((futures[future], error))
            tracker.advance()  # raises LoadCancelled when the caller asked to stop
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(failures, key=lambda r: r[0])


def _decode_one(header: SliceHeader, out: np.ndarray) -> LoadError | None:
    try:
        decode_slice_into(header, out)
    except LoadError as exc:
        return exc
    except Exception as exc:  # a decoder plugin failing in an unforeseen way is still bad data
        return LoadError(header.path, f"the pixel data could not be decoded ({type(exc).__name__}: {exc})")
    return None
