"""The local cache of retrieved series: private (0700), size-capped, purgeable, never half-written.

A retrieve streams instances into a staging folder under ``<root>/.partial/``; only when every
instance has arrived is a ``complete.json`` written into it and the folder renamed to
``<root>/series/<SeriesInstanceUID>`` in one step. A cancelled, failed or killed transfer leaves
no folder under ``series/`` (stale staging folders of dead processes are removed on the next
start), so whatever :meth:`PacsCache.get` returns is complete. When the cache grows past its cap,
the series used least recently are removed.

Example:
    >>> import tempfile
    >>> cache = PacsCache(tempfile.mkdtemp() + "/pacs", max_bytes=10_000_000)
    >>> with cache.staging("1.2.3") as stage:
    ...     _ = stage.write_instance("1.2.3.4", b"DICM...")
    >>> sorted(p.name for p in cache.get("1.2.3").iterdir())
    ['1.2.3.4.dcm', 'complete.json']
    >>> oct(cache.root.stat().st_mode & 0o777)
    '0o700'
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

from lesionviewer.util.atomic import atomic_write_text
from lesionviewer.util.processes import pid_alive

MARKER = "complete.json"
DEFAULT_MAX_BYTES = 5 * 1024**3
_UNSAFE = re.compile(r"[^0-9A-Za-z._-]")


def safe_name(uid: str) -> str:
    """A file-name-safe form of a UID (a UID has only digits and dots; anything else is replaced).

    Example:
        >>> safe_name("1.2/../3")
        '1.2_.._3'
    """
    name = _UNSAFE.sub("_", str(uid).strip())
    if not name or name in (".", ".."):
        raise ValueError(f"not a usable UID: {uid!r}")
    return name


def default_cache_root() -> Path:
    """``<user cache folder>/pacs`` (outside the project; ``LESIONVIEWER_HOME`` redirects it).

    Example:
        >>> default_cache_root().name
        'pacs'
    """
    from lesionviewer.paths import user_cache_dir

    return user_cache_dir() / "pacs"


def _private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


class Staging:
    """A series being received: instances are written into ``folder`` until the block ends.

    Example:
        >>> import tempfile
        >>> cache = PacsCache(tempfile.mkdtemp())
        >>> with cache.staging("7") as stage:
        ...     _ = stage.write_instance("7.1", b"x")
        ...     stage.count, stage.bytes
        (1, 1)
    """

    def __init__(self, folder: Path, series_uid: str) -> None:
        self.folder = folder
        self.series_uid = series_uid
        self.count = 0
        self.bytes = 0
        self.info: dict = {}

    def path_for(self, sop_uid: str) -> Path:
        """Where the instance ``sop_uid`` goes.

        Example:
            >>> Staging(Path("/tmp/s"), "1").path_for("1.2").name
            '1.2.dcm'
        """
        return self.folder / f"{safe_name(sop_uid)}.dcm"

    def write_instance(self, sop_uid: str, *chunks: bytes) -> Path:
        """Write one instance from its encoded bytes (given in one or several pieces).

        Example:
            >>> import tempfile
            >>> s = Staging(Path(tempfile.mkdtemp()), "1")
            >>> s.write_instance("1.1", b"ab", b"c").read_bytes()
            b'abc'
        """
        path = self.path_for(sop_uid)
        with open(path, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            size = handle.tell()
        self.count += 1
        self.bytes += size
        return path


class PacsCache:
    """Series retrieved from PACS servers, kept in ``root`` (default: :func:`default_cache_root`).

    Example:
        >>> import tempfile
        >>> cache = PacsCache(tempfile.mkdtemp())
        >>> cache.get("9.9") is None, cache.total_bytes()
        (True, 0)
    """

    def __init__(self, root: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = _private_folder(Path(root) if root is not None else default_cache_root())
        self.max_bytes = int(max_bytes)
        self._series = _private_folder(self.root / "series")
        self._partial = _private_folder(self.root / ".partial")
        self._remove_stale_staging()

    def _remove_stale_staging(self) -> None:
        for folder in self._partial.iterdir():
            pid = folder.name.split("-", 1)[0]
            if not pid.isdigit() or not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def series_folder(self, series_uid: str) -> Path:
        """Where the complete series ``series_uid`` lives (whether or not it is there).

        Example:
            >>> import tempfile
            >>> PacsCache(tempfile.mkdtemp()).series_folder("1.2").parent.name
            'series'
        """
        return self._series / safe_name(series_uid)

    def get(self, series_uid: str) -> Path | None:
        """The folder of the complete series ``series_uid``, or None; marks it as just used.

        Example:
            >>> import tempfile
            >>> PacsCache(tempfile.mkdtemp()).get("1.2") is None
            True
        """
        folder = self.series_folder(series_uid)
        marker = folder / MARKER
        if not marker.is_file():
            return None
        with contextlib.suppress(OSError):
            os.utime(marker)
        return folder

    def info(self, series_uid: str) -> dict | None:
        """What ``complete.json`` says of a cached series (count, bytes, server, ...), or None.

        Example:
            >>> import tempfile
            >>> c = PacsCache(tempfile.mkdtemp())
            >>> with c.staging("5") as s:
            ...     _ = s.write_instance("5.1", b"1234")
            >>> c.info("5")["bytes"]
            4
        """
        folder = self.get(series_uid)
        return json.loads((folder / MARKER).read_text()) if folder else None

    @contextlib.contextmanager
    def staging(self, series_uid: str) -> Iterator[Staging]:
        """A staging folder for ``series_uid``; the series becomes visible only if the block ends
        cleanly (an exception removes it). A series already cached is replaced.

        Example:
            >>> import tempfile
            >>> c = PacsCache(tempfile.mkdtemp())
            >>> try:
            ...     with c.staging("3") as s:
            ...         _ = s.write_instance("3.1", b"x"); raise OSError("link down")
            ... except OSError:
            ...     pass
            >>> c.get("3") is None, list(c.root.joinpath(".partial").iterdir())
            (True, [])
        """
        folder = _private_folder(self._partial / f"{os.getpid()}-{uuid.uuid4().hex}")
        stage = Staging(folder, series_uid)
        try:
            yield stage
            info = {"series_uid": series_uid, "count": stage.count, "bytes": stage.bytes,
                    "completed": time.strftime("%Y-%m-%dT%H:%M:%S"), **stage.info}
            atomic_write_text(folder / MARKER, json.dumps(info, indent=1))
            target = self.series_folder(series_uid)
            if target.exists():
                old = self._partial / f"{os.getpid()}-old-{uuid.uuid4().hex}"
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, target)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.enforce_cap(keep=series_uid)

    def cached_series(self) -> list[str]:
        """The UIDs (folder names) of the complete series in the cache, least recently used first.

        Example:
            >>> import tempfile
            >>> PacsCache(tempfile.mkdtemp()).cached_series()
            []
        """
        complete = [f for f in self._series.iterdir() if (f / MARKER).is_file()]
        complete.sort(key=lambda f: (f / MARKER).stat().st_mtime)
        return [f.name for f in complete]

    def total_bytes(self) -> int:
        """Bytes held by complete series.

        Example:
            >>> import tempfile
            >>> PacsCache(tempfile.mkdtemp()).total_bytes()
            0
        """
        return sum(_folder_bytes(self._series / name) for name in self.cached_series())

    def remove(self, series_uid: str) -> bool:
        """Remove one series; True if it was there.

        Example:
            >>> import tempfile
            >>> PacsCache(tempfile.mkdtemp()).remove("1")
            False
        """
        folder = self.series_folder(series_uid)
        if not folder.exists():
            return False
        trash = self._partial / f"{os.getpid()}-del-{uuid.uuid4().hex}"
        os.replace(folder, trash)  # gone from series/ at once, deleted after
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def purge(self) -> int:
        """Remove every cached series; returns how many.

        Example:
            >>> import tempfile
            >>> c = PacsCache(tempfile.mkdtemp())
            >>> with c.staging("1") as s:
            ...     _ = s.write_instance("1.1", b"x")
            >>> c.purge(), c.cached_series()
            (1, [])
        """
        names = [f.name for f in self._series.iterdir()]
        for name in names:
            self.remove(name)
        return len(names)

    def enforce_cap(self, keep: str | None = None) -> list[str]:
        """Remove least recently used series until the cache is within ``max_bytes``; never ``keep``.

        Example:
            >>> import tempfile
            >>> c = PacsCache(tempfile.mkdtemp(), max_bytes=5)
            >>> for uid in ("1", "2"):
            ...     with c.staging(uid) as s:
            ...         _ = s.write_instance(uid + ".1", b"abcd")
            >>> c.cached_series()
            ['2']
        """
        removed: list[str] = []
        sizes = {name: _folder_bytes(self._series / name) for name in self.cached_series()}
        total = sum(sizes.values())
        for name, size in sizes.items():
            if total <= self.max_bytes:
                break
            if keep is not None and name == safe_name(keep):
                continue
            self.remove(name)
            removed.append(name)
            total -= size
        return removed
