"""A detector finding inside a review: its stable id, the radiologist's decision and note.

Example:
    >>> from lesionviewer.detection.finding import Finding
    >>> rf = ReviewedFinding("F1", Finding(3, (0, 0, 4, 4), 0.8, "m"))
    >>> rf.status.value, rf.slice_index, rf.score
    ('pending', 3, 0.8)
"""
from __future__ import annotations

import math
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

    @property
    def kept_by_reruns(self) -> bool:
        """True when a new detector run must never replace this finding: the user decided it
        (accepted or rejected) or wrote a note on it. What the user did is never lost to a re-detection.

        Example:
            >>> from lesionviewer.detection.finding import Finding
            >>> found = Finding(0, (0, 0, 1, 1), 0.9, "m")
            >>> [ReviewedFinding("F1", found, note=n).kept_by_reruns for n in ("", "  ", "compare with 2019")]
            [False, False, True]
        """
        return self.status.is_decided or bool(self.note.strip())

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
            >>> d["finding"]["width_mm"] = None  # unknown (the series had no usable spacing)
            >>> ReviewedFinding.from_dict(d).finding.width_mm
            nan
        """
        note = data.get("note", "")
        if not isinstance(data["id"], str) or not isinstance(note, str):
            raise TypeError("finding id and note must be text")
        finding = Finding.from_dict(_unknown_as_nan(data["finding"]))
        check_finding_numbers(finding)
        return cls(
            id=data["id"],
            finding=finding,
            status=Status(data.get("status", "pending")),
            note=note,
            model_version=str(data.get("model_version", "")),
        )


#: The millimetre fields: unknown (NaN, saved as null) when the series' geometry is unknown.
MM_FIELDS = ("box_mm", "center_mm", "z_mm", "width_mm", "height_mm", "long_axis_mm", "short_axis_mm")


def _unknown_as_nan(data: Any) -> Any:
    # The review file writes a non-finite millimetre value as null; it reads back as NaN (unknown).
    if not isinstance(data, dict):
        return data
    fixed = dict(data)
    for name in MM_FIELDS:
        value = fixed.get(name)
        if value is None and name in fixed:
            fixed[name] = math.nan
        elif isinstance(value, list):
            fixed[name] = [math.nan if v is None else v for v in value]
    return fixed


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_finding_numbers(f: Finding) -> None:
    """``ValueError`` unless ``f``'s slice, pixel box and score are usable (mm values may be unknown: NaN).

    Example:
        >>> check_finding_numbers(Finding(0, (0, 0, 1, 1), 0.5, "m", width_mm=float("nan")))
        >>> check_finding_numbers(Finding(0, (0, 0, float("inf"), 1), 0.5, "m"))
        Traceback (most recent call last):
        ...
        ValueError: a finding holds inf where a finite number belongs
    """
    # A file edited by hand or damaged must fail here, on opening, not later in a repaint or export.
    if not isinstance(f.slice_index, int) or isinstance(f.slice_index, bool) or f.slice_index < 0:
        raise ValueError(f"slice_index must be a non-negative integer, got {f.slice_index!r}")
    groups = {"box_px": f.box_px, "box_mm": f.box_mm, "center_mm": f.center_mm}
    sizes = {"box_px": 4, "box_mm": 4, "center_mm": 3}
    for name, values in groups.items():
        if len(values) != sizes[name]:
            raise ValueError(f"{name} must hold {sizes[name]} numbers, got {values!r}")
    for v in [*f.box_px, f.score]:
        if not _is_number(v) or not math.isfinite(v):
            raise ValueError(f"a finding holds {v!r} where a finite number belongs")
    for v in [*f.box_mm, *f.center_mm, f.z_mm, f.width_mm, f.height_mm, f.long_axis_mm, f.short_axis_mm]:
        if not _is_number(v):
            raise ValueError(f"a finding holds {v!r} where a number (or null) belongs")
    if not isinstance(f.model_name, str):
        raise TypeError("model_name must be text")
