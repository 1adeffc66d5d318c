"""The review of a CT series, headless: findings with decisions and notes, measurements, autosave, export.

The GUI observes a :class:`ReviewSession`; it holds no review state of its own.

Public API (stable; everything else in this package is an implementation detail):

Opening and observing
  - ``ReviewSession.open(volume_or_key, folder=None)``: the saved review of a series, or a fresh
    one; never raises for a bad file (``session.warnings`` says what happened).
  - ``session.subscribe(callback) -> unsubscribe``: ``callback(ReviewEvent)`` after every change,
    *after* it is saved. ``ReviewEvent(kind, ids, slices)``; ``kind`` is a :class:`ChangeKind`;
    ``SAVE_FAILED`` follows a change that could not be written (``session.autosave_error``).
Detector results
  - ``session.begin_run(model_name, model_version, keep_pending=False, model_fingerprint="")``: a run
    starts (processed slices reset; pending findings without a note dropped unless ``keep_pending``;
    decided and noted findings always stay); ``model_fingerprint`` names the model file's bytes.
  - ``session.add_findings(findings, slices)``: one batch of results (a slice or more); returns the
    new ids (``F<n>``). Its saves are throttled to one a second; ``session.flush()`` writes what is
    held back (call it when a run finishes, is cancelled, and before closing).
  - ``session.unprocessed_slices()``, ``session.processed_slices``.
  - ``session.set_risk(risk_result, model_version=None)``: the whole-study risk score (or None);
    ``session.risk`` reads it back (a dict, see :mod:`lesionviewer.review.risk_record`).
The radiologist's work
  - ``session.set_status(id, "pending" | "accepted" | "rejected")`` (or a :class:`Status`).
  - ``session.set_note(id, text)``: a finding (``F..``) or a measurement (``M..``).
  - ``session.add_measurement(Measurement.ruler(volume, z, p1, p2))`` or
    ``Measurement.recist(volume, z, (a, b), (c, d))`` -> id ``M<n>``; ``remove_measurement(id)``.
  - ``session.set_threshold(t)``: 0..1, default 0.5.
Reading
  - ``findings()`` (by slice, then score), ``finding(id)``, ``visible_findings(t=None)`` (score >=
    threshold, or accepted), ``count_above(t=None)``, ``findings_on_slice(z, visible_only=True)``,
    ``next_finding(z, current_id=None)`` / ``previous_finding(...)`` (visible ones, wrapping),
    ``measurements()``, ``measurements_on_slice(z)``.
  - Properties: ``key, path, threshold, model_name, model_version, model_fingerprint, dirty_since_export,
    last_export, risk, series_uid, study_uid, series_description, num_slices, warnings, autosave_error``.
Export and keys
  - ``export_csv(session, path, include_patient=False, volume=None, selection="visible")``.
  - ``export_sr(session, volume, path, selection="accepted")``: DICOM SR TID 1500 (needs highdicom
    and a volume loaded from DICOM files).
  - ``series_key(volume)``: the SeriesInstanceUID, else ``vol-<hash of geometry and pixels>``.

Rules: a detector re-run replaces *pending* findings on the slices it covers and keeps accepted and
rejected ones (a new box with IoU >= 0.5 to a decided one on the same slice is dropped);
``dirty_since_export`` is set by decisions, notes and measurements and cleared by an export;
every change except detector output is saved before observers hear of it. Call the
session from one thread (the GUI thread). Files: ``user_data_dir()/reviews/<key>.json``, JSON with
``format_version`` 1, replaced atomically on every change; an unusable one is kept as
``<key>.json.corrupt-<UTC time>``.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.detection.finding import Finding
    >>> from lesionviewer.review import ReviewSession, Measurement, export_csv
    >>> vol = Volume(np.zeros((8, 64, 64), np.int16), (2.0, 0.5, 0.5), meta={"SeriesInstanceUID": "1.2.9"})
    >>> session = ReviewSession.open(vol, folder=tempfile.mkdtemp())
    >>> events = []
    >>> unsubscribe = session.subscribe(lambda e: events.append(e.kind.value))
    >>> session.begin_run("mp3d63", "1.0")
    >>> ids = session.add_findings([Finding.from_pixel_box(vol, 2, (8, 8, 24, 20), 0.8, "mp3d63")], slices=[1, 2, 3])
    >>> session.set_status(ids[0], "accepted")
    >>> mid = session.add_measurement(Measurement.ruler(vol, 2, (8, 8), (24, 8)))
    >>> events, session.dirty_since_export
    (['model', 'findings', 'status', 'measurements'], True)
    >>> export_csv(session, tempfile.mkdtemp() + "/review.csv"), session.dirty_since_export
    (2, False)
"""
from lesionviewer.review.csv_export import csv_columns, export_csv
from lesionviewer.review.events import ChangeKind, ReviewEvent
from lesionviewer.review.measurement import Measurement
from lesionviewer.review.review_file import FORMAT_VERSION, ReviewFileError
from lesionviewer.review.reviewed_finding import ReviewedFinding
from lesionviewer.review.series_key import series_key
from lesionviewer.review.session import ReviewSession
from lesionviewer.review.sr_export import export_sr
from lesionviewer.review.status import Status

__all__ = [
    "ReviewSession",
    "ReviewedFinding",
    "Status",
    "Measurement",
    "ReviewEvent",
    "ChangeKind",
    "ReviewFileError",
    "FORMAT_VERSION",
    "series_key",
    "export_csv",
    "csv_columns",
    "export_sr",
]
