"""Export a review to CSV: the study's risk row, one row per finding, one per measurement, one table.

Choices (so spreadsheets, pandas and PACS scripts all read it the same way):

* One header line, then data; the ``row_type`` column says ``risk``, ``finding``, ``ruler`` or
  ``recist``. Measurement rows leave the detector-only columns (box, score, status, model) empty
  and fill the ``long_axis_*_px`` / ``short_axis_*_px`` end points instead.
* The whole-study cancer risk (``session.risk``, set by the viewer's risk model) is **one
  study-level row**, the first data row, rather than a column: a study with no finding still
  carries its score, finding rows do not repeat it, and the header and every existing row stay
  exactly as they were (a script that reads findings filters ``row_type == "finding"`` as before).
  The risk row fills the series columns, ``score`` (the probability of cancer, 0..1, like the
  detector's scores; not a percentage), ``model_name``, ``model_version`` and ``note`` (the model's
  remark, e.g. that no lung was found); ``id`` and the geometry columns are empty. No risk result:
  no risk row; ``include_risk=False`` leaves it out.
* UTF-8 **with** a byte-order mark: Excel otherwise reads the file in the local ANSI code page
  and garbles accented notes; Python (``utf-8-sig``), pandas and LibreOffice accept the mark.
  Lines end in CRLF (RFC 4180). Written atomically.
* Findings exported by default: the *visible* ones (score >= the session's threshold, plus
  accepted ones), rejected ones above the threshold included with their status so the decision is
  on record. ``selection="all"`` or ``"accepted"`` choose otherwise.
* No patient name or ID unless ``include_patient=True`` (then ``volume`` supplies them).
* Every text cell goes through :func:`lesionviewer.util.csv_safety.neutralize_cell`; numbers are
  written as numbers (mm rounded to 0.01, pixels to 0.1, scores to 0.0001); a millimetre value
  that is unknown (NaN: the series had no usable spacing) is an empty cell, never ``nan``.
* Slices: ``slice_index`` counts from 0 (the array index, as the detector's CSV);
  ``slice_number`` (the last column) counts from 1 and is the number the viewer shows
  ("Slice 13/40", the findings table). Text that is not valid UTF-8 is written with its bad
  bytes as ``\\xNN`` escapes.

Example:
    >>> import csv, tempfile, pathlib
    >>> from lesionviewer.detection.finding import Finding
    >>> from lesionviewer.review.session import ReviewSession
    >>> s = ReviewSession("1.2.3")
    >>> (fid,) = s.add_findings([Finding(3, (10, 10, 20, 30), 0.91234, "mp3d63")])
    >>> s.set_note(fid, "=HYPERLINK(\\"http://evil\\")")
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "findings.csv"
    >>> export_csv(s, out)
    1
    >>> row = next(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    >>> row["slice_index"], row["slice_number"], row["score"], row["note"]
    ('3', '4', '0.9123', '\\'=HYPERLINK("http://evil")')
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from lesionviewer.io.series_identity import identity_of
from lesionviewer.review.measurement import Measurement
from lesionviewer.review.reviewed_finding import ReviewedFinding
from lesionviewer.review.status import Status
from lesionviewer.util.atomic import atomic_open
from lesionviewer.util.csv_safety import neutralize_cell
from lesionviewer.util.text_safety import utf8_safe

SELECTIONS = ("visible", "all", "accepted")
PATIENT_COLUMNS = ("patient_name", "patient_id")
_AXIS_POINTS = tuple(
    f"{axis}_axis_{c}{n}_px" for axis in ("long", "short") for n in (1, 2) for c in ("x", "y")
)
COLUMNS = (
    "row_type",
    "id",
    "study_instance_uid",
    "series_instance_uid",
    "series_description",
    "slice_index",
    "z_mm",
    "box_x1_px",
    "box_y1_px",
    "box_x2_px",
    "box_y2_px",
    "box_x1_mm",
    "box_y1_mm",
    "box_x2_mm",
    "box_y2_mm",
    "center_x_mm",
    "center_y_mm",
    "center_z_mm",
    "long_axis_mm",
    "short_axis_mm",
    "score",
    "status",
    "note",
    "model_name",
    "model_version",
    *_AXIS_POINTS,
    "slice_number",
)


def csv_columns(include_patient: bool = False) -> list[str]:
    """The header of an export; the patient columns follow ``id`` when asked for.

    Example:
        >>> csv_columns()[:4]
        ['row_type', 'id', 'study_instance_uid', 'series_instance_uid']
        >>> csv_columns(include_patient=True)[2:4]
        ['patient_name', 'patient_id']
    """
    columns = list(COLUMNS)
    if include_patient:
        columns[2:2] = PATIENT_COLUMNS
    return columns


def _mm(v: float) -> float | str:
    number = float(v)
    return round(number, 2) if math.isfinite(number) else ""


def _px(v: float) -> float | str:
    number = float(v)
    return round(number, 1) if math.isfinite(number) else ""


def _finding_row(rf: ReviewedFinding) -> dict[str, Any]:
    f = rf.finding
    row: dict[str, Any] = {
        "row_type": "finding",
        "id": rf.id,
        "slice_index": f.slice_index,
        "slice_number": f.slice_index + 1,
        "z_mm": _mm(f.z_mm),
        "long_axis_mm": _mm(f.long_axis_mm),
        "short_axis_mm": _mm(f.short_axis_mm),
        "score": round(float(f.score), 4),
        "status": rf.status.value,
        "note": rf.note,
        "model_name": f.model_name,
        "model_version": rf.model_version,
    }
    for name, v in zip(("box_x1_px", "box_y1_px", "box_x2_px", "box_y2_px"), f.box_px):
        row[name] = _px(v)
    for name, v in zip(("box_x1_mm", "box_y1_mm", "box_x2_mm", "box_y2_mm"), f.box_mm):
        row[name] = _mm(v)
    for name, v in zip(("center_x_mm", "center_y_mm", "center_z_mm"), f.center_mm):
        row[name] = _mm(v)
    return row


def _risk_row(risk: dict[str, Any]) -> dict[str, Any]:
    return {
        "row_type": "risk",
        "score": round(float(risk["probability"]), 4),
        "note": risk.get("note", ""),
        "model_name": risk.get("model_name", ""),
        "model_version": risk.get("model_version", ""),
    }


def _measurement_row(m: Measurement) -> dict[str, Any]:
    row: dict[str, Any] = {
        "row_type": m.kind,
        "id": m.id,
        "slice_index": m.slice_index,
        "slice_number": m.slice_index + 1,
        "z_mm": _mm(m.z_mm),
        "long_axis_mm": _mm(m.long_axis_mm),
        "short_axis_mm": "" if m.short_axis_mm is None else _mm(m.short_axis_mm),
        "note": m.note,
    }
    for name, v in zip(("center_x_mm", "center_y_mm", "center_z_mm"), m.center_mm):
        row[name] = _mm(v)
    coords = [c for point in m.points for c in point]
    for name, v in zip(_AXIS_POINTS, coords):
        row[name] = _px(v)
    return row


def _text(value: Any) -> Any:
    return utf8_safe(value) if isinstance(value, str) else value


def select_findings(session: Any, selection: str = "visible") -> list[ReviewedFinding]:
    """The findings an export with ``selection`` (``visible``, ``all``, ``accepted``) contains.

    Example:
        >>> from lesionviewer.detection.finding import Finding
        >>> from lesionviewer.review.session import ReviewSession
        >>> s = ReviewSession("1.2")
        >>> _ = s.add_findings([Finding(0, (0, 0, 1, 1), 0.9, "m"), Finding(1, (0, 0, 1, 1), 0.1, "m")])
        >>> [len(select_findings(s, k)) for k in SELECTIONS]
        [1, 2, 0]
    """
    if selection == "visible":
        return session.visible_findings()
    if selection == "all":
        return session.findings()
    if selection == "accepted":
        return [rf for rf in session.findings() if rf.status is Status.ACCEPTED]
    raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")


def export_csv(
    session: Any,
    path: str | Path,
    include_patient: bool = False,
    volume: Any = None,
    selection: str = "visible",
    include_measurements: bool = True,
    include_risk: bool = True,
) -> int:
    """Write ``session``'s risk score, findings and measurements to ``path``; returns the number of data rows.

    Clears ``session.dirty_since_export``. ``include_patient=True`` needs ``volume`` (its
    ``meta`` holds the patient name and ID). The risk row comes first when ``session.risk`` holds
    a result (see the module text for the format).

    Example:
        >>> import csv, tempfile, pathlib
        >>> from lesionviewer.review.session import ReviewSession
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "empty.csv"
        >>> export_csv(ReviewSession("1.2"), out)
        0
        >>> out.read_bytes()[:11]
        b'\\xef\\xbb\\xbfrow_type'
        >>> s = ReviewSession("1.2"); s.set_risk({"probability": 0.0731, "model_name": "demo-risk"})
        >>> export_csv(s, out)
        1
        >>> row = next(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
        >>> row["row_type"], row["score"], row["model_name"], row["slice_index"]
        ('risk', '0.0731', 'demo-risk', '')
    """
    if include_patient and volume is None:
        raise ValueError("include_patient=True needs the volume, whose header holds the patient name and ID")
    risk = getattr(session, "risk", None) if include_risk else None
    rows = [_risk_row(risk)] if risk else []
    rows += [_finding_row(rf) for rf in select_findings(session, selection)]
    if include_measurements:
        rows += [_measurement_row(m) for m in session.measurements()]
    common: dict[str, Any] = {
        "study_instance_uid": session.study_uid,
        "series_instance_uid": session.series_uid,
        "series_description": session.series_description,
    }
    if include_patient:
        identity = identity_of(volume)
        common["patient_name"] = identity.patient_name
        common["patient_id"] = identity.patient_id
    columns = csv_columns(include_patient)
    with atomic_open(path, "w", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            full = {**common, **row}
            writer.writerow([neutralize_cell(_text(full.get(name, ""))) for name in columns])
    session.mark_exported(path)
    return len(rows)
