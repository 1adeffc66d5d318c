"""The AI node's persistent queue: every received instance and every series' state, in SQLite.

A series moves ``receiving`` -> ``processing`` -> ``sending`` -> ``done`` (or ``skipped``,
``failed``). An instance is recorded only after its file is safely on disk, and the C-STORE is
acknowledged only after that, so a kill loses nothing the sender thinks was delivered. On start,
:meth:`NodeQueue.recover` puts a series that was being processed back to ``receiving`` (its
detection starts over: nothing was sent yet) and leaves ``sending`` ones to be sent again (their
SR has stable UIDs, so the PACS keeps one copy). A series once ``done`` is never queued again.

Example:
    >>> import tempfile
    >>> q = NodeQueue(tempfile.mkdtemp() + "/queue.sqlite3")
    >>> q.record_instance("1.2", "1", "CT", "1.2.1", "/in/1.dcm", now=100.0)
    'receiving'
    >>> q.claim_quiet(quiet_s=5, now=103.0), q.claim_quiet(quiet_s=5, now=106.0)
    ([], ['1.2'])
    >>> q.state("1.2")
    'processing'
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

STATES = ("receiving", "processing", "sending", "done", "skipped", "failed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    series_uid TEXT PRIMARY KEY, study_uid TEXT, modality TEXT, state TEXT NOT NULL,
    last_received REAL, attempts INTEGER DEFAULT 0, sr_path TEXT, result TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY, series_uid TEXT NOT NULL, path TEXT NOT NULL);
"""


class NodeQueue:
    """The queue in the SQLite file ``path`` (WAL, synchronous=FULL); safe to use from several threads.

    Example:
        >>> import tempfile
        >>> NodeQueue(tempfile.mkdtemp() + "/q.sqlite3").series_in("done")
        []
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database.

        Example:
            >>> import sqlite3, tempfile
            >>> path = tempfile.mkdtemp() + "/q.sqlite3"
            >>> q = NodeQueue(path); q.record_instance("7", "1", "CT", "7.1", "/a", now=1.0)
            'receiving'
            >>> q.close()
            >>> try:
            ...     q.state("7")
            ... except sqlite3.ProgrammingError:
            ...     print("closed")
            closed
            >>> NodeQueue(path).state("7")  # what was recorded is on disk
            'receiving'
        """
        self._db.close()

    def _one(self, sql: str, args: tuple = ()):
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def record_instance(self, series_uid: str, study_uid: str, modality: str, sop_uid: str, path: str,
                        now: float | None = None) -> str:
        """Record a received instance (its file already written); returns the series' state.
        A series already past ``receiving`` keeps its state (it is not processed twice).

        Example:
            >>> import tempfile
            >>> q = NodeQueue(tempfile.mkdtemp() + "/q.sqlite3")
            >>> _ = q.record_instance("9", "1", "CT", "9.1", "/a"); q.set_state("9", "done")
            >>> q.record_instance("9", "1", "CT", "9.2", "/b")
            'done'
        """
        now = time.time() if now is None else now
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?)", (sop_uid, series_uid, path))
            self._db.execute("INSERT OR IGNORE INTO series (series_uid, study_uid, modality, state, last_received) "
                             "VALUES (?, ?, ?, 'receiving', ?)", (series_uid, study_uid, modality, now))
            self._db.execute("UPDATE series SET last_received=? WHERE series_uid=? AND state='receiving'",
                             (now, series_uid))
            state = self._db.execute("SELECT state FROM series WHERE series_uid=?", (series_uid,)).fetchone()[0]
            self._db.execute("COMMIT")
        return state

    def claim_quiet(self, quiet_s: float, now: float | None = None) -> list[str]:
        """Series in ``receiving`` with no instance for ``quiet_s`` seconds, now set to ``processing``.

        Example:
            >>> import tempfile
            >>> NodeQueue(tempfile.mkdtemp() + "/q.sqlite3").claim_quiet(1.0)
            []
        """
        now = time.time() if now is None else now
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute("SELECT series_uid FROM series WHERE state='receiving' AND last_received<=? "
                                    "ORDER BY last_received", (now - quiet_s,)).fetchall()
            for (uid,) in rows:
                self._db.execute("UPDATE series SET state='processing', attempts=attempts+1 WHERE series_uid=?",
                                 (uid,))
            self._db.execute("COMMIT")
        return [uid for (uid,) in rows]

    def set_state(self, series_uid: str, state: str, *, sr_path: str | None = None, result: dict | None = None,
                  error: str | None = None) -> None:
        """Move a series to ``state`` (one of :data:`STATES`), with what goes with it.

        Example:
            >>> import tempfile
            >>> q = NodeQueue(tempfile.mkdtemp() + "/q.sqlite3")
            >>> q.set_state("1", "finished")
            Traceback (most recent call last):
            ...
            ValueError: unknown state 'finished'
        """
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._lock, self._db:
            self._db.execute("UPDATE series SET state=?, sr_path=COALESCE(?, sr_path), result=COALESCE(?, result), "
                             "error=? WHERE series_uid=?",
                             (state, sr_path, json.dumps(result) if result is not None else None, error, series_uid))

    def recover(self, now: float | None = None) -> dict[str, list[str]]:
        """After a restart: ``processing`` goes back to ``receiving`` (its quiet period restarts);
        returns ``{"requeued": [...], "to_send": [...]}``.

        Example:
            >>> import tempfile
            >>> q = NodeQueue(tempfile.mkdtemp() + "/q.sqlite3")
            >>> _ = q.record_instance("5", "1", "CT", "5.1", "/a", now=0); _ = q.claim_quiet(1, now=10)
            >>> q.recover(now=20)
            {'requeued': ['5'], 'to_send': []}
        """
        now = time.time() if now is None else now
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            requeued = [u for (u,) in self._db.execute("SELECT series_uid FROM series WHERE state='processing'")]
            self._db.execute("UPDATE series SET state='receiving', last_received=? WHERE state='processing'", (now,))
            to_send = [u for (u,) in self._db.execute("SELECT series_uid FROM series WHERE state='sending'")]
            self._db.execute("COMMIT")
        return {"requeued": requeued, "to_send": to_send}

    def state(self, series_uid: str) -> str | None:
        """The state of a series, or None when unknown.

        Example:
            >>> import tempfile
            >>> NodeQueue(tempfile.mkdtemp() + "/q.sqlite3").state("1") is None
            True
        """
        row = self._one("SELECT state FROM series WHERE series_uid=?", (series_uid,))
        return row[0] if row else None

    def series(self, series_uid: str) -> dict | None:
        """Everything recorded about a series (``result`` decoded), or None.

        Example:
            >>> import tempfile
            >>> q = NodeQueue(tempfile.mkdtemp() + "/q.sqlite3")
            >>> _ = q.record_instance("3", "1", "CT", "3.1", "/a"); q.series("3")["instances"]
            1
        """
        with self._lock:
            cursor = self._db.execute("SELECT * FROM series WHERE series_uid=?", (series_uid,))
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
            count = self._db.execute("SELECT COUNT(*) FROM instances WHERE series_uid=?", (series_uid,)).fetchone()[0]
        if row is None:
            return None
        info = dict(zip(names, row))
        info["result"] = json.loads(info["result"]) if info["result"] else None
        info["instances"] = count
        return info

    def series_in(self, state: str) -> list[str]:
        """The series now in ``state``.

        Example:
            >>> import tempfile
            >>> NodeQueue(tempfile.mkdtemp() + "/q.sqlite3").series_in("receiving")
            []
        """
        with self._lock:
            return [u for (u,) in self._db.execute("SELECT series_uid FROM series WHERE state=?", (state,))]

    def instance_paths(self, series_uid: str) -> list[str]:
        """The files of a series' received instances.

        Example:
            >>> import tempfile
            >>> NodeQueue(tempfile.mkdtemp() + "/q.sqlite3").instance_paths("1")
            []
        """
        with self._lock:
            return [p for (p,) in self._db.execute("SELECT path FROM instances WHERE series_uid=? ORDER BY path",
                                                   (series_uid,))]
