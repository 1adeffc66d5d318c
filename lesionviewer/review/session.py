"""The review of one CT series: detector findings with decisions and notes, measurements, threshold.

A :class:`ReviewSession` is a plain Python object that the GUI observes (``subscribe``); every
change is saved (when the session has a file, as every session from :meth:`ReviewSession.open`
has) and then announced with a :class:`~lesionviewer.review.events.ReviewEvent`.

Rules worth knowing:

* **Re-running the detector** (:meth:`ReviewSession.add_findings`): for every slice in ``slices``,
  the *pending* findings already there are replaced by the new ones; *accepted and rejected*
  findings stay, and a new finding that overlaps a decided one on the same slice (IoU >= 0.5) is
  dropped, so a decision is never duplicated or undone by a re-run.
* **Visible** findings (the overlay, the export default, next/previous): score >= threshold, plus
  accepted findings whatever their score (the radiologist's decision outranks the slider).
* **dirty_since_export** becomes True on a decision, a note or a measurement change (the
  radiologist's work), not on detector output or threshold moves; exporting clears it.
* **Saving**: every change is written (atomically, fsynced) before observers hear of it, except
  detector output, whose saves are throttled to one a second (:meth:`ReviewSession.flush` writes
  the rest); losing it costs only a re-detection, as the processed-slice marks are saved with it.
* **No value stops the autosave**: a non-finite millimetre value (a series with unknown spacing)
  is saved as ``null`` and reads back as NaN; text that is not valid UTF-8 (an export folder's
  name in another encoding) is saved escaped and reads back unchanged; a measurement with a
  non-finite or negative length, a finding with a non-finite box or score are refused at entry
  with a ``ValueError`` that says why. :meth:`ReviewSession.open` never raises for a bad file.
* Not thread-safe: call it from one thread (the GUI thread); a worker hands results over by signal.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.detection.finding import Finding
    >>> vol = Volume(np.zeros((10, 64, 64), np.int16), (2.0, 0.5, 0.5), meta={"SeriesInstanceUID": "1.2.3"})
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()  # the app leaves folder out: user_data_dir()/reviews
    >>> session = ReviewSession.open(vol, folder=folder)   # restores <folder>/1.2.3.json if present
    >>> ids = session.add_findings([Finding.from_pixel_box(vol, 4, (10, 10, 20, 20), 0.9, "demo")], slices=[3, 4, 5])
    >>> session.set_status(ids[0], "accepted")
    >>> ReviewSession.open(vol, folder=folder).finding(ids[0]).status.value   # already on disk
    'accepted'
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

from lesionviewer.detection.finding import Finding
from lesionviewer.io.series_identity import identity_of
from lesionviewer.review.box_overlap import box_iou
from lesionviewer.review.events import ChangeKind, EventHub, Observer, ReviewEvent
from lesionviewer.review.legacy_review import adopt_legacy_review
from lesionviewer.review.measurement import Measurement
from lesionviewer.review.review_file import (
    NewerFormatError,
    ReviewFileError,
    read_review_file,
    remove_stale_temporaries,
    review_path,
    set_aside,
)
from lesionviewer.review.reviewed_finding import ReviewedFinding, check_finding_numbers
from lesionviewer.review.risk_record import risk_record
from lesionviewer.review.series_key import is_valid_key, series_key
from lesionviewer.review.session_queries import SessionQueries
from lesionviewer.review.session_record import DEFAULT_THRESHOLD, SessionRecord
from lesionviewer.review.status import Status
from lesionviewer.util.atomic import atomic_write_text

# Detector output is saved at most this often (seconds); see ReviewSession.add_findings.
FINDINGS_SAVE_INTERVAL_S = 1.0
DUPLICATE_IOU = 0.5  # a re-run's finding this close to a decided one is the same lesion


class ReviewSession(SessionQueries, SessionRecord):
    """Findings, decisions, notes, measurements and the threshold of one series' review.

    Build one with :meth:`open` (restores and autosaves); the constructor alone makes a session
    that saves only when given ``path``.

    Example:
        >>> s = ReviewSession("1.2.3")            # in memory only: path=None
        >>> from lesionviewer.detection.finding import Finding
        >>> s.add_findings([Finding(2, (0, 0, 8, 8), 0.7, "m"), Finding(2, (30, 30, 40, 40), 0.2, "m")])
        ['F1', 'F2']
        >>> s.count_above(0.5), s.count_above(0.1)
        (1, 2)
    """

    def __init__(
        self,
        key: str,
        *,
        series_uid: str = "",
        study_uid: str = "",
        series_description: str = "",
        num_slices: int | None = None,
        path: str | Path | None = None,
    ) -> None:
        if not is_valid_key(key):
            raise ValueError(f"{key!r} is not a valid series key (letters, digits, '.', '_', '-' only)")
        self._key = key
        self.series_uid = series_uid
        self.study_uid = study_uid
        self.series_description = series_description
        self.num_slices = num_slices
        self._path = Path(path) if path is not None else None
        self._findings: dict[str, ReviewedFinding] = {}
        self._measurements: dict[str, Measurement] = {}
        self._threshold = DEFAULT_THRESHOLD
        self._model_name = ""
        self._model_version = ""
        self._model_fingerprint = ""
        self._processed: set[int] = set()
        self._next_finding = 1
        self._next_measurement = 1
        self._dirty = False
        self._last_export: dict[str, Any] | None = None
        self._risk: dict[str, Any] | None = None
        self._hub = EventHub()
        # Caches, dropped by _commit: each finding's JSON (so a save re-encodes only what changed)
        # and the ordered list (the GUI asks for it on every repaint).
        self._encoded: dict[str, str] = {}
        self._ordered: list[ReviewedFinding] | None = None
        self._unsaved = False
        self._last_save = -math.inf
        self.warnings: list[str] = []
        self.autosave_error: str | None = None

    # ------------------------------------------------------------------ opening and saving

    @classmethod
    def open(cls, source: Any, *, folder: str | Path | None = None) -> "ReviewSession":
        """The saved review of ``source`` (a ``Volume`` or a series key), or a fresh one.

        Never raises for a bad file: an unreadable, corrupt or newer-format file is renamed to
        ``<key>.json.corrupt-<time>`` (or ``.unsupported-<time>``), a fresh session starts and
        ``session.warnings`` says what happened. ``folder`` defaults to ``user_data_dir()/reviews``.

        Example:
            >>> import tempfile, pathlib
            >>> folder = pathlib.Path(tempfile.mkdtemp())
            >>> _ = (folder / "9.9.json").write_text("{ not json")
            >>> s = ReviewSession.open("9.9", folder=folder)
            >>> len(s.findings()), "corrupt" in s.warnings[0]
            (0, True)
        """
        volume = None if isinstance(source, str) else source
        key = source if isinstance(source, str) else series_key(source)
        path = review_path(key, folder) if folder is not None else None
        warnings: list[str] = []
        if path is None:
            try:
                path = review_path(key)
            except OSError as exc:  # no user data folder (read-only home, full disk)
                session = cls(key)
                session.warnings.append(f"Reviews cannot be saved ({exc}); this review will be lost on closing.")
                if volume is not None:
                    session._adopt_volume(volume)
                return session
        remove_stale_temporaries(path)
        if volume is not None:  # a review saved by an earlier version under the bare SeriesInstanceUID
            adopt_legacy_review(volume, key, path)
        try:
            session = cls.from_dict(read_review_file(path), path=path)
            if session.key != key:
                raise ReviewFileError(path, f"belongs to series {session.key!r}, not {key!r}")
        except FileNotFoundError:
            session = cls(key, path=path)
        except ReviewFileError as exc:
            label = "unsupported" if isinstance(exc, NewerFormatError) else "corrupt"
            try:
                kept = set_aside(path, label)
                where = f"it was kept as {kept.name}"
            except OSError as move_exc:
                kept = None
                where = f"it could not be set aside ({move_exc}); autosave is off to protect it"
            warnings.append(f"The saved review could not be used: {exc}; {where}. A new review was started.")
            session = cls(key, path=path if kept is not None else None)
        if volume is not None:
            session._adopt_volume(volume)
        session.warnings = warnings + session.warnings
        return session

    def _adopt_volume(self, volume: Any) -> None:
        identity = identity_of(volume)
        self.series_uid = self.series_uid or identity.series_uid
        self.study_uid = self.study_uid or identity.study_uid
        self.series_description = self.series_description or identity.description
        n = int(volume.num_slices)
        if self.num_slices is not None and self.num_slices != n:
            self.warnings.append(
                f"This series now has {n} slices but the saved review was made on {self.num_slices}; "
                "findings may not sit on the right slices."
            )
        self.num_slices = n

    @property
    def key(self) -> str:
        """The series key the review is saved under.

        Example:
            >>> ReviewSession("1.2").key
            '1.2'
        """
        return self._key

    @property
    def path(self) -> Path | None:
        """The autosave file, or ``None`` for an in-memory session.

        Example:
            >>> ReviewSession("1.2").path is None
            True
        """
        return self._path

    def save(self) -> None:
        """Write the whole state now (atomically). Changes save themselves; see also :meth:`flush`.

        Raises ``OSError`` when the file cannot be written, and ``ValueError`` without a path.

        Example:
            >>> import tempfile, pathlib
            >>> s = ReviewSession("5.5", path=pathlib.Path(tempfile.mkdtemp()) / "5.5.json")
            >>> s.save(); s.path.exists()
            True
        """
        if self._path is None:
            raise ValueError("this review session has no file (create it with ReviewSession.open)")
        atomic_write_text(self._path, self.to_json())
        self._unsaved = False
        self._last_save = time.monotonic()

    def flush(self) -> None:
        """Save detector results that the save throttle held back (call it when a run ends or stops).

        Decisions, notes, measurements and the threshold are saved at once anyway (and take any
        held-back results with them); only :meth:`add_findings` is throttled.

        Example:
            >>> import tempfile, pathlib
            >>> s = ReviewSession("5.6", path=pathlib.Path(tempfile.mkdtemp()) / "5.6.json")
            >>> _ = s.add_findings([], slices=[0]); _ = s.add_findings([], slices=[1])  # the 2nd is held back
            >>> s.flush(); ReviewSession.open("5.6", folder=s.path.parent).processed_slices
            frozenset({0, 1})
        """
        if self._unsaved and self._path is not None and not self._autosave():
            self._hub.emit(ReviewEvent(ChangeKind.SAVE_FAILED))

    def _autosave(self) -> bool:
        try:
            self.save()
        except (OSError, ValueError, TypeError) as exc:
            # Keep the change in memory and say so; the next successful save writes everything.
            self.autosave_error = f"could not save the review to {self._path}: {exc}"
            self._unsaved = True
            return False
        self.autosave_error = None
        return True

    def subscribe(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(event)`` after every change (after it is saved); returns the unsubscriber.

        Example:
            >>> s = ReviewSession("1.2")
            >>> events = []
            >>> stop = s.subscribe(events.append)
            >>> s.set_threshold(0.3)
            >>> events[0].kind.value
            'threshold'
            >>> stop()
        """
        return self._hub.subscribe(callback)

    def _commit(
        self, kind: ChangeKind, ids: Iterable[str] = (), slices: Iterable[int] = (), dirty: bool = False,
        throttled: bool = False,
    ) -> None:
        self._ordered = None
        for stale in set(self._encoded) - set(self._findings):
            del self._encoded[stale]
        if dirty:
            self._dirty = True
        failed = False
        if self._path is not None:
            if throttled and time.monotonic() - self._last_save < FINDINGS_SAVE_INTERVAL_S:
                self._unsaved = True
            else:
                failed = not self._autosave()
        self._hub.emit(ReviewEvent(kind, tuple(ids), tuple(sorted(set(slices)))))
        if failed:
            self._hub.emit(ReviewEvent(ChangeKind.SAVE_FAILED))

    # ------------------------------------------------------------------ plain state

    @property
    def threshold(self) -> float:
        """The confidence threshold of the overlay, 0..1 (default 0.5).

        Example:
            >>> ReviewSession("1.2").threshold
            0.5
        """
        return self._threshold

    @property
    def processed_slices(self) -> frozenset[int]:
        """Slices the detector has finished in the current run.

        Example:
            >>> s = ReviewSession("1.2"); _ = s.add_findings([], slices=[0, 1]); sorted(s.processed_slices)
            [0, 1]
        """
        return frozenset(self._processed)

    @property
    def dirty_since_export(self) -> bool:
        """True when decisions, notes or measurements changed since the last export.

        Example:
            >>> s = ReviewSession("1.2"); s.add_measurement(Measurement("ruler", 0, ((0, 0), (1, 0)), (1.0,)))
            'M1'
            >>> s.dirty_since_export
            True
        """
        return self._dirty

    @property
    def last_export(self) -> dict[str, Any] | None:
        """``{"path": ..., "time": ...}`` of the latest export, or ``None``.

        Example:
            >>> ReviewSession("1.2").last_export is None
            True
        """
        return dict(self._last_export) if self._last_export else None

    def unprocessed_slices(self) -> list[int]:
        """Slices the detector still has to do in this run (needs ``num_slices``).

        Example:
            >>> s = ReviewSession("1.2", num_slices=4); _ = s.add_findings([], slices=[1, 2])
            >>> s.unprocessed_slices()
            [0, 3]
        """
        if self.num_slices is None:
            raise ValueError("the number of slices is unknown (open the session with a Volume)")
        return [i for i in range(self.num_slices) if i not in self._processed]

    def _invalidate(self, finding_id: str) -> None:
        self._encoded.pop(finding_id, None)

    # ------------------------------------------------------------------ changes

    def _check_slice(self, slice_index: int) -> int:
        i = int(slice_index)
        if i < 0 or (self.num_slices is not None and i >= self.num_slices):
            raise ValueError(f"slice {i} is outside this series (0..{(self.num_slices or 1) - 1})")
        return i

    def begin_run(self, model_name: str, model_version: str = "", *, keep_pending: bool = False,
                  model_fingerprint: str = "") -> None:
        """Start a detector run: record the model, forget which slices were done, drop pending findings.

        Decided and noted findings always stay (``ReviewedFinding.kept_by_reruns``); ``keep_pending=True``
        keeps the other pending ones until each slice's new results replace them. ``model_fingerprint``:
        see :attr:`model_fingerprint`. To resume a cancelled run with the same model, skip this and
        detect :meth:`unprocessed_slices` only.

        Example:
            >>> s = ReviewSession("1.2")
            >>> a, b = s.add_findings([Finding(0, (0, 0, 1, 1), .9, "m"), Finding(1, (0, 0, 1, 1), .9, "m")])
            >>> s.set_status(a, "rejected"); s.set_note(b, "ask the surgeon"); s.begin_run("other", "2")
            >>> [(f.id, f.status.value) for f in s.findings()], s.processed_slices
            ([('F1', 'rejected'), ('F2', 'pending')], frozenset())
        """
        self._model_name = str(model_name)
        self._model_version = str(model_version)
        self._model_fingerprint = str(model_fingerprint)
        self._processed.clear()
        dropped = []
        if not keep_pending:
            dropped = [fid for fid, rf in self._findings.items() if not rf.kept_by_reruns]
            for fid in dropped:
                del self._findings[fid]
        self._commit(ChangeKind.MODEL, dropped)

    def add_findings(
        self, findings: Iterable[Finding], slices: Iterable[int] | None = None, model_version: str | None = None
    ) -> list[str]:
        """Add one batch of detector results; returns the new findings' ids (``F<n>``).

        ``slices``: the slices this batch covered, those where nothing was found too (default: the
        findings' own). There, pending findings are replaced but decided and noted ones stay
        (``kept_by_reruns``); a new finding with IoU >= 0.5 to one kept on its slice is dropped.
        The slices are marked processed.

        Saving is throttled to once a second here (a save is an fsync; a fast detector reports many
        slices a second): what is held back is written by the next change or :meth:`flush`; lost
        only by a crash within that second, it costs a re-detection of those slices (the
        processed-slice marks are saved with them).

        Example:
            >>> s = ReviewSession("1.2")
            >>> first = s.add_findings([Finding(4, (0, 0, 10, 10), 0.8, "m")], slices=[4])
            >>> s.set_status(first[0], "accepted")
            >>> rerun = [Finding(4, (1, 1, 10, 10), 0.85, "m"), Finding(4, (40, 40, 50, 50), 0.6, "m")]
            >>> s.add_findings(rerun, slices=[4])  # the first is the accepted lesion again: dropped
            ['F2']
        """
        batch = list(findings)
        for f in batch:
            if not isinstance(f, Finding):
                raise TypeError(f"add_findings takes Finding objects, got {type(f).__name__}")
            if not math.isfinite(f.score):
                raise ValueError(f"finding on slice {f.slice_index} has a non-finite score {f.score}")
            check_finding_numbers(f)
            self._check_slice(f.slice_index)
        covered = {self._check_slice(i) for i in slices} if slices is not None else {f.slice_index for f in batch}
        covered |= {f.slice_index for f in batch}
        replaced = [fid for fid, rf in self._findings.items() if rf.slice_index in covered and not rf.kept_by_reruns]
        for fid in replaced:
            del self._findings[fid]
        kept = [rf for rf in self._findings.values() if rf.slice_index in covered]
        version = self._model_version if model_version is None else str(model_version)
        added = []
        for f in sorted(batch, key=lambda f: (f.slice_index, -f.score)):
            same_lesion = (
                d.slice_index == f.slice_index and box_iou(d.finding.box_px, f.box_px) >= DUPLICATE_IOU for d in kept
            )
            if any(same_lesion):
                continue
            fid = f"F{self._next_finding}"
            self._next_finding += 1
            self._findings[fid] = ReviewedFinding(fid, f, Status.PENDING, "", version)
            added.append(fid)
        self._processed |= covered
        self._commit(ChangeKind.FINDINGS, added, covered, throttled=True)
        return added

    def set_status(self, finding_id: str, status: Status | str) -> None:
        """Accept, reject, or set back to pending one finding (saved at once).

        Example:
            >>> s = ReviewSession("1.2"); (fid,) = s.add_findings([Finding(0, (0, 0, 1, 1), .9, "m")])
            >>> s.set_status(fid, "rejected"); s.finding(fid).status.value
            'rejected'
            >>> s.set_status(fid, "maybe")
            Traceback (most recent call last):
            ...
            ValueError: 'maybe' is not a valid Status
        """
        rf = self.finding(finding_id)
        new = Status(status)
        if new is rf.status:
            return
        self._findings[finding_id] = replace(rf, status=new)
        self._invalidate(finding_id)
        self._commit(ChangeKind.STATUS, [finding_id], [rf.slice_index], dirty=True)

    def set_note(self, item_id: str, text: str) -> None:
        """Set the free-text note of a finding (``F..``) or a measurement (``M..``).

        Example:
            >>> s = ReviewSession("1.2"); (fid,) = s.add_findings([Finding(0, (0, 0, 1, 1), .9, "m")])
            >>> s.set_note(fid, "likely a vessel"); s.finding(fid).note
            'likely a vessel'
        """
        if not isinstance(text, str):
            raise TypeError(f"a note is text, got {type(text).__name__}")
        if item_id in self._measurements:
            m = self._measurements[item_id]
            if m.note == text:
                return
            self._measurements[item_id] = replace(m, note=text)
            self._commit(ChangeKind.NOTE, [item_id], [m.slice_index], dirty=True)
            return
        rf = self.finding(item_id)
        if rf.note == text:
            return
        self._findings[item_id] = replace(rf, note=text)
        self._invalidate(item_id)
        self._commit(ChangeKind.NOTE, [item_id], [rf.slice_index], dirty=True)

    def add_measurement(self, measurement: Measurement) -> str:
        """Keep a ruler or RECIST measurement (see :class:`Measurement`); returns its id (``M<n>``).

        Example:
            >>> s = ReviewSession("1.2", num_slices=3)
            >>> s.add_measurement(Measurement("recist", 2, ((0, 0), (4, 0), (2, -1), (2, 1)), (4.0, 2.0)))
            'M1'
        """
        self._check_slice(measurement.slice_index)
        mid = f"M{self._next_measurement}"
        self._next_measurement += 1
        self._measurements[mid] = measurement.with_id(mid)
        self._commit(ChangeKind.MEASUREMENTS, [mid], [measurement.slice_index], dirty=True)
        return mid

    def remove_measurement(self, measurement_id: str) -> None:
        """Delete a measurement; ``KeyError`` naming it when there is none.

        Example:
            >>> s = ReviewSession("1.2"); mid = s.add_measurement(Measurement("ruler", 0, ((0, 0), (1, 0)), (1.0,)))
            >>> s.remove_measurement(mid); s.measurements()
            []
        """
        try:
            m = self._measurements.pop(measurement_id)
        except KeyError:
            raise KeyError(f"no measurement {measurement_id} in this review") from None
        self._commit(ChangeKind.MEASUREMENTS, [measurement_id], [m.slice_index], dirty=True)

    def set_threshold(self, threshold: float) -> None:
        """Set the confidence threshold (0..1) that filters the overlay.

        Example:
            >>> s = ReviewSession("1.2"); s.set_threshold(0.25); s.threshold
            0.25
            >>> s.set_threshold(2)
            Traceback (most recent call last):
            ...
            ValueError: the confidence threshold must be between 0 and 1, got 2.0
        """
        t = float(threshold)
        if not (0.0 <= t <= 1.0):
            raise ValueError(f"the confidence threshold must be between 0 and 1, got {t}")
        if t == self._threshold:
            return
        self._threshold = t
        self._commit(ChangeKind.THRESHOLD)

    def mark_exported(self, path: str | Path) -> None:
        """Record an export to ``path`` and clear :attr:`dirty_since_export` (``export_csv`` calls it).

        Example:
            >>> s = ReviewSession("1.2"); _ = s.add_measurement(Measurement("ruler", 0, ((0, 0), (1, 0)), (1.0,)))
            >>> s.mark_exported("/tmp/x.csv"); s.dirty_since_export
            False
        """
        self._dirty = False
        self._last_export = {"path": str(path), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._commit(ChangeKind.EXPORTED)

    @property
    def risk(self) -> dict[str, Any] | None:
        """The last whole-study risk result (a :func:`~lesionviewer.review.risk_record.risk_record`), or None.

        Example:
            >>> s = ReviewSession("1.2"); s.risk is None
            True
        """
        return None if self._risk is None else dict(self._risk)

    def set_risk(self, result: Any, model_version: str | None = None) -> None:
        """Keep the risk model's result for this series (saved at once; exported as the ``risk`` row).

        ``result`` is a ``RiskResult``, a dict of its fields, or None to forget the score. A new
        score is detector-like output, not the radiologist's work: it leaves
        :attr:`dirty_since_export` as it was. ``ValueError`` for a probability outside 0..1.

        Example:
            >>> s = ReviewSession("1.2")
            >>> s.set_risk({"probability": 0.25, "model_name": "demo-risk"}, model_version="2")
            >>> s.risk["probability"], s.risk["model_version"], s.dirty_since_export
            (0.25, '2', False)
        """
        record = None if result is None else risk_record(result, model_version)
        if record == self._risk:
            return
        self._risk = record
        self._commit(ChangeKind.RISK)
