"""What a review session answers without changing: its findings in order, the visible ones, next and
previous, its measurements, the model of its latest run. A part of
:class:`lesionviewer.review.session.ReviewSession`.

Order everywhere: slice, then score (highest first), then the finding's number. Visible: score at or
above the threshold, or accepted (the radiologist's decision outranks the slider).

Example:
    >>> id_number("F12"), id_number("M3"), id_number("x")
    (12, 3, 0)
"""
from __future__ import annotations

from lesionviewer.review.measurement import Measurement
from lesionviewer.review.reviewed_finding import ReviewedFinding
from lesionviewer.review.status import Status

__all__ = ["SessionQueries", "id_number"]


def id_number(item_id: str) -> int:
    """The number in a finding's or a measurement's id (``F12`` -> 12); 0 when it has none.

    Example:
        >>> id_number("F7")
        7
    """
    digits = item_id[1:]
    return int(digits) if digits.isdigit() else 0


class SessionQueries:
    """The read-only questions a review answers (the session holds ``_findings``, ``_measurements``,
    ``_threshold``, the ``_model_*`` fields and the ``_ordered`` cache this reads)."""

    _model_name: str
    _model_version: str
    _model_fingerprint: str
    _findings: dict[str, ReviewedFinding]
    _measurements: dict[str, Measurement]
    _threshold: float
    _ordered: list[ReviewedFinding] | None

    @property
    def model_name(self) -> str:
        """Name of the detector model of the latest run (``""`` before any run).

        Example:
            >>> from lesionviewer.review.session import ReviewSession
            >>> s = ReviewSession("1.2"); s.begin_run("mp3d63", "1.0"); s.model_name
            'mp3d63'
        """
        return self._model_name

    @property
    def model_version(self) -> str:
        """Version of the detector model of the latest run.

        Example:
            >>> from lesionviewer.review.session import ReviewSession
            >>> s = ReviewSession("1.2"); s.begin_run("mp3d63", "1.0"); s.model_version
            '1.0'
        """
        return self._model_version

    @property
    def model_fingerprint(self) -> str:
        """The latest run's model file (``lesionviewer.detection.model_fingerprint``); "" when unknown.

        Example:
            >>> from lesionviewer.review.session import ReviewSession
            >>> s = ReviewSession("1.2"); s.begin_run("m", "1", model_fingerprint="sha256:3fa2"); s.model_fingerprint
            'sha256:3fa2'
        """
        return self._model_fingerprint

    def _order(self, rf: ReviewedFinding) -> tuple[int, float, int]:
        return (rf.slice_index, -rf.score, id_number(rf.id))

    def findings(self) -> list[ReviewedFinding]:
        """Every finding, ordered by slice, then score (highest first).

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2")
            >>> _ = s.add_findings([Finding(5, (0, 0, 1, 1), 0.3, "m"), Finding(1, (0, 0, 1, 1), 0.2, "m")])
            >>> [f.slice_index for f in s.findings()]
            [1, 5]
        """
        if self._ordered is None:
            self._ordered = sorted(self._findings.values(), key=self._order)
        return list(self._ordered)

    def finding(self, finding_id: str) -> ReviewedFinding:
        """The finding with this id; ``KeyError`` naming it when there is none.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> ReviewSession("1.2").finding("F7")
            Traceback (most recent call last):
            ...
            KeyError: 'no finding F7 in this review'
        """
        try:
            return self._findings[finding_id]
        except KeyError:
            raise KeyError(f"no finding {finding_id} in this review") from None

    def _is_visible(self, rf: ReviewedFinding, threshold: float) -> bool:
        return rf.score >= threshold or rf.status is Status.ACCEPTED

    def visible_findings(self, threshold: float | None = None) -> list[ReviewedFinding]:
        """Findings shown at ``threshold`` (default: the session's): score >= threshold, or accepted.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2")
            >>> a, b = s.add_findings([Finding(0, (0, 0, 1, 1), 0.9, "m"), Finding(0, (5, 5, 9, 9), 0.1, "m")])
            >>> [f.id for f in s.visible_findings()]
            ['F1']
            >>> s.set_status(b, "accepted"); [f.id for f in s.visible_findings()]
            ['F1', 'F2']
        """
        t = self._threshold if threshold is None else float(threshold)
        return [rf for rf in self.findings() if self._is_visible(rf, t)]

    def count_above(self, threshold: float | None = None) -> int:
        """How many findings score >= ``threshold`` (default: the session's), for the slider label.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2"); _ = s.add_findings([Finding(0, (0, 0, 1, 1), 0.6, "m")])
            >>> s.count_above(0.6), s.count_above(0.61)
            (1, 0)
        """
        t = self._threshold if threshold is None else float(threshold)
        return sum(1 for rf in self._findings.values() if rf.score >= t)

    def findings_on_slice(self, slice_index: int, visible_only: bool = True) -> list[ReviewedFinding]:
        """The findings on one slice: the visible ones (default) or all of them.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2"); _ = s.add_findings([Finding(3, (0, 0, 1, 1), 0.2, "m")])
            >>> len(s.findings_on_slice(3)), len(s.findings_on_slice(3, visible_only=False))
            (0, 1)
        """
        items = self.visible_findings() if visible_only else self.findings()
        return [rf for rf in items if rf.slice_index == slice_index]

    def next_finding(
        self, slice_index: int, current_id: str | None = None, wrap: bool = True
    ) -> ReviewedFinding | None:
        """The visible finding after ``current_id``, or (with no current one) the first on a later slice.

        Order: slice, then score (highest first). Wraps to the first finding unless ``wrap=False``.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2")
            >>> _ = s.add_findings([Finding(2, (0, 0, 1, 1), 0.9, "m"), Finding(8, (0, 0, 1, 1), 0.8, "m")])
            >>> s.next_finding(2).slice_index, s.next_finding(2, "F2").slice_index, s.next_finding(9, wrap=False)
            (8, 2, None)
        """
        return self._step(slice_index, current_id, wrap, forward=True)

    def previous_finding(
        self, slice_index: int, current_id: str | None = None, wrap: bool = True
    ) -> ReviewedFinding | None:
        """The visible finding before ``current_id``, or (with no current one) the last on an earlier slice.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2")
            >>> _ = s.add_findings([Finding(2, (0, 0, 1, 1), 0.9, "m"), Finding(8, (0, 0, 1, 1), 0.8, "m")])
            >>> s.previous_finding(5).slice_index, s.previous_finding(2).slice_index
            (2, 8)
        """
        return self._step(slice_index, current_id, wrap, forward=False)

    def _step(self, slice_index: int, current_id: str | None, wrap: bool, forward: bool) -> ReviewedFinding | None:
        items = self.visible_findings()
        if not items:
            return None
        position = next((i for i, rf in enumerate(items) if rf.id == current_id), None)
        if position is not None:
            target = position + (1 if forward else -1)
        elif forward:
            target = next((i for i, rf in enumerate(items) if rf.slice_index > slice_index), len(items))
        else:
            later = [i for i, rf in enumerate(items) if rf.slice_index < slice_index]
            target = later[-1] if later else -1
        if 0 <= target < len(items):
            return items[target]
        if not wrap:
            return None
        return items[0] if forward else items[-1]

    def measurements(self) -> list[Measurement]:
        """The radiologist's measurements, oldest first.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> ReviewSession("1.2").measurements()
            []
        """
        return list(self._measurements.values())

    def measurements_on_slice(self, slice_index: int) -> list[Measurement]:
        """The measurements drawn on one slice.

        Example:
            >>> from lesionviewer.review.session import ReviewSession, Finding, Measurement
            >>> s = ReviewSession("1.2"); _ = s.add_measurement(Measurement("ruler", 4, ((0, 0), (1, 0)), (1.0,)))
            >>> [m.id for m in s.measurements_on_slice(4)], s.measurements_on_slice(3)
            (['M1'], [])
        """
        return [m for m in self._measurements.values() if m.slice_index == slice_index]
