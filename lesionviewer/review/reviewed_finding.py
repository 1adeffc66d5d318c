"""A detector finding inside a review: its stable id, the radiologist's decision and note.

Example:
    >>> from lesionviewer.detection.finding import Finding
    >>> rf = ReviewedFinding("F1", Finding(3, (0, 0, 4, 4), 0.8, "m"))
    >>> rf.status.value, rf.slice_index, rf.score
    ('pending', 3, 0.8)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lesionviewer.detection.finding import Finding
from lesionviewer.review.status import Status


@dataclass(frozen=True)
class ReviewedFinding:
    """Immutable; the session replaces the object when the status or note changes.

    Example:
        >>> from lesionviewer.detection.finding import Finding
        >>> rf = ReviewedFinding("F2", Finding(0, (1, 1, 2, 2), 0.5, "m"), Status.ACCEPTED, "ok")
        >>> ReviewedFinding.from_dict(rf.to_dict()) == rf
        True
    """

    id: str
    finding: Finding
    status: Status = Status.PENDING
    note: str = ""
    model_version: str = ""

    @property
    def slice_index(self) -> int:
        """The axial slice the finding lies on.

        Example:
            >>> from lesionviewer.detection.finding import Finding
            >>> ReviewedFinding("F1", Finding(7, (0, 0, 1, 1), 0.1, "m")).slice_index
            7
        """
        return self.finding.slice_index

    @property
    def score(self) -> float:
        """The detector's confidence, 0..1.

        Example:
            >>> from lesionviewer.detection.finding import Finding
            >>> ReviewedFinding("F1", Finding(7, (0, 0, 1, 1), 0.25, "m")).score
            0.25
        """
        return self.finding.score

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict.

        Example:
            >>> from lesionviewer.detection.finding import Finding
            >>> ReviewedFinding("F1", Finding(0, (0, 0, 1, 1), 0.5, "m")).to_dict()["status"]
            'pending'
        """
        return {
            "id": self.id,
            "status": self.status.value,
            "note": self.note,
            "model_version": self.model_version,
            "finding": self.finding.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReviewedFinding":
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``ValueError``/``TypeError`` on bad data.

        Example:
            >>> d = {"id": "F9", "status": "rejected", "note": "",
            ...      "finding": {"slice_index": 1, "box_px": [0, 0, 2, 2], "score": 0.4, "model_name": "m"}}
            >>> ReviewedFinding.from_dict(d).status
            <Status.REJECTED: 'rejected'>
        """
        note = data.get("note", "")
        if not isinstance(data["id"], str) or not isinstance(note, str):
            raise TypeError("finding id and note must be text")
        return cls(
            id=data["id"],
            finding=Finding.from_dict(data["finding"]),
            status=Status(data.get("status", "pending")),
            note=note,
            model_version=str(data.get("model_version", "")),
        )
