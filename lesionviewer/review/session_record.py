"""A review session as the JSON-ready dict its autosave file holds, and back; a part of
:class:`lesionviewer.review.session.ReviewSession`.

Example:
    >>> from lesionviewer.review.session import ReviewSession
    >>> ReviewSession.from_dict(ReviewSession("1.2").to_dict()).key
    '1.2'
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesionviewer.review import review_json
from lesionviewer.review.measurement import Measurement
from lesionviewer.review.review_file import FORMAT_VERSION, ReviewFileError, encode_review
from lesionviewer.review.reviewed_finding import ReviewedFinding
from lesionviewer.review.risk_record import risk_record
from lesionviewer.review.session_queries import id_number

if TYPE_CHECKING:
    from lesionviewer.review.session import ReviewSession

__all__ = ["SessionRecord", "DEFAULT_THRESHOLD"]

#: The threshold of a review that records none.
DEFAULT_THRESHOLD = 0.5


class SessionRecord:
    """``to_json``, ``to_dict`` and ``from_dict`` of a review session (every field the session keeps)."""

    # What the session (lesionviewer.review.session.ReviewSession) holds and this reads and writes.
    _key: str
    series_uid: str
    study_uid: str
    series_description: str
    num_slices: int | None
    _threshold: float
    _model_name: str
    _model_version: str
    _model_fingerprint: str
    _processed: set[int]
    _next_finding: int
    _next_measurement: int
    _dirty: bool
    _last_export: dict[str, Any] | None
    _risk: dict[str, Any] | None
    _findings: dict[str, ReviewedFinding]
    _measurements: dict[str, Measurement]
    _encoded: dict[str, str]

    def to_json(self) -> str:
        """The autosave file's text (see :meth:`to_dict`); unchanged findings are not re-encoded.

        Example:
            >>> from lesionviewer.review.session import ReviewSession
            >>> import json
            >>> json.loads(ReviewSession("1.2").to_json())["format_version"]
            1
        """
        encoded = []
        for fid, rf in self._findings.items():
            text = self._encoded.get(fid)
            if text is None:
                text = self._encoded[fid] = review_json.dumps(rf.to_dict())
            encoded.append(text)
        return encode_review(self.to_dict(include_findings=False), encoded)

    def to_dict(self, include_findings: bool = True) -> dict[str, Any]:
        """The whole state as a JSON-ready dict (what the autosave file holds).

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding
            >>> ReviewSession("1.2").to_dict()["series_key"]
            '1.2'
        """
        data = {
            "format_version": FORMAT_VERSION,
            "series_key": self._key,
            "series_uid": self.series_uid,
            "study_uid": self.study_uid,
            "series_description": self.series_description,
            "num_slices": self.num_slices,
            "model_name": self._model_name,
            "model_version": self._model_version,
            "model_fingerprint": self._model_fingerprint,
            "threshold": self._threshold,
            "processed_slices": sorted(self._processed),
            "next_finding_number": self._next_finding,
            "next_measurement_number": self._next_measurement,
            "dirty_since_export": self._dirty,
            "last_export": self._last_export,
            "risk": self._risk,
            "measurements": [m.to_dict() for m in self._measurements.values()],
        }
        if include_findings:
            data["findings"] = [rf.to_dict() for rf in self._findings.values()]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path | None = None) -> "ReviewSession":
        """Inverse of :meth:`to_dict`; :class:`ReviewFileError` (naming ``path``) on bad content.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding
            >>> s = ReviewSession("1.2"); _ = s.add_findings([Finding(0, (0, 0, 1, 1), .9, "m")])
            >>> ReviewSession.from_dict(s.to_dict()).findings() == s.findings()
            True
        """
        try:
            num_slices = data.get("num_slices")
            # cls is ReviewSession, whose __init__ takes these (this mixin has none of its own)
            session: ReviewSession = cls(  # type: ignore[call-arg, assignment]
                str(data["series_key"]),
                series_uid=str(data.get("series_uid", "")),
                study_uid=str(data.get("study_uid", "")),
                series_description=str(data.get("series_description", "")),
                num_slices=None if num_slices is None else int(num_slices),
                path=path,
            )
            session._model_name = str(data.get("model_name", ""))
            session._model_version = str(data.get("model_version", ""))
            session._model_fingerprint = str(data.get("model_fingerprint", "") or "")  # "" in files from before it
            threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold {threshold} is outside 0..1")
            session._threshold = threshold
            session._processed = {int(i) for i in data.get("processed_slices", [])}
            session._dirty = bool(data.get("dirty_since_export", False))
            last = data.get("last_export")
            session._last_export = dict(last) if isinstance(last, dict) else None
            risk = data.get("risk")
            session._risk = None if risk is None else risk_record(risk)
            for item in data.get("findings", []):
                rf = ReviewedFinding.from_dict(item)
                session._findings[rf.id] = rf
            for item in data.get("measurements", []):
                m = Measurement.from_dict(item)
                session._measurements[m.id] = m
            biggest_f = max((id_number(i) for i in session._findings), default=0)
            biggest_m = max((id_number(i) for i in session._measurements), default=0)
            # Never reuse an id, even if the counters in the file were edited or lost.
            session._next_finding = max(int(data.get("next_finding_number", 1)), biggest_f + 1)
            session._next_measurement = max(int(data.get("next_measurement_number", 1)), biggest_m + 1)
        except ReviewFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            raise ReviewFileError(path or "<dict>", f"has unexpected content ({type(exc).__name__}: {exc})") from exc
        return session
