"""Sharded batch detection: which series a rank takes, one part file per finished series, the merge.

Many processes (``torchrun`` ranks across nodes, or one per local GPU) share one list of series:
rank ``r`` of ``w`` takes the series at positions ``r, r + w, r + 2w, ...`` of the list (the same
list everywhere: :func:`~lesionviewer.detection.cli.find_jobs` in a fixed order). Each finished series
is written to its own part file, atomically (a series is in the parts folder completely or not at
all), named by a hash of its path and series UID. A restarted rank skips the series whose part file
exists, so a killed rank loses nothing and writes nothing twice. Whichever rank finds every part
present merges them, in list order, into the CSV: exactly the rows a single process writes.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.detection.cli import SeriesJob
    >>> jobs = [SeriesJob(f"s{i}", lambda: None) for i in range(5)]
    >>> [j.path for j in shard(jobs, rank=1, world_size=2)]
    ['s1', 's3']
    >>> parts = pathlib.Path(tempfile.mkdtemp())
    >>> for job in jobs:
    ...     _ = write_part(parts, job, [{"series_path": job.path}], columns=("series_path",))
    >>> out = parts / "all.csv"
    >>> merge_parts(parts, jobs, out, columns=("series_path",))
    True
    >>> out.read_text().split()
    ['series_path', 's0', 's1', 's2', 's3', 's4']
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lesionviewer.util.atomic import atomic_write_text


def shard(jobs: Sequence, rank: int, world_size: int) -> list:
    """The jobs rank ``rank`` of ``world_size`` takes: every ``world_size``-th, from ``rank``.

    Example:
        >>> shard(list("abcde"), 0, 2)
        ['a', 'c', 'e']
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not one of the {world_size} ranks")
    return list(jobs[rank::world_size])


def part_path(parts: str | os.PathLike, job) -> Path:
    """Where the rows of ``job``'s series go: ``<parts>/<hash of path and series UID>.csv``.

    Example:
        >>> from lesionviewer.detection.cli import SeriesJob
        >>> a, b = SeriesJob("a/b", lambda: None, series_uid="1.2"), SeriesJob("a/b", lambda: None, series_uid="1.3")
        >>> part_path("p", a) == part_path("p", a), part_path("p", a) == part_path("p", b), len(part_path("p", a).name)
        (True, False, 28)
    """
    key = f"{job.path}\0{job.series_uid}".encode("utf-8", "surrogateescape")
    return Path(parts) / f"{hashlib.sha256(key).hexdigest()[:24]}.csv"


def write_part(parts: str | os.PathLike, job, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Path:
    """Write one series' rows (header included, possibly no rows) atomically; returns the path.

    Example:
        >>> import tempfile
        >>> from lesionviewer.detection.cli import SeriesJob
        >>> write_part(tempfile.mkdtemp(), SeriesJob("x", lambda: None), [], ("a",)).read_text().splitlines()
        ['a']
    """
    path = part_path(parts, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
    return path


def is_done(parts: str | os.PathLike, job) -> bool:
    """Whether ``job``'s part file exists (its series was finished by some rank, maybe an earlier run).

    Example:
        >>> from lesionviewer.detection.cli import SeriesJob
        >>> is_done("no/such/folder", SeriesJob("x", lambda: None))
        False
    """
    return part_path(parts, job).is_file()


def merge_parts(parts: str | os.PathLike, jobs: Sequence, out: str | os.PathLike, columns: Sequence[str]) -> bool:
    """Write ``out`` from the part files of ``jobs`` in their order, if every one exists; True when written.

    Example:
        >>> import tempfile
        >>> from lesionviewer.detection.cli import SeriesJob
        >>> merge_parts(tempfile.mkdtemp(), [SeriesJob("x", lambda: None)], "never.csv", ("a",))
        False
    """
    paths = [part_path(parts, job) for job in jobs]
    if not all(p.is_file() for p in paths):
        return False
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            writer.writerows(csv.DictReader(handle))
    atomic_write_text(out, buffer.getvalue())
    return True
