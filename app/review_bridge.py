"""The review session seen from Qt: one signal per change, so widgets repaint from the session.

The session (``lesionviewer.review.ReviewSession``) holds the findings, decisions, notes,
measurements and threshold, and saves itself on every change. This bridge subscribes once and
re-emits each :class:`ReviewEvent` as ``changed``; widgets read the session, never a copy.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from lesionviewer.review.session import ReviewSession


class ReviewBridge(QObject):
    """Holds the current :class:`ReviewSession` (or None) and announces its changes."""

    #: the ReviewEvent (None when a whole session was swapped in)
    changed = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.session: ReviewSession | None = None
        self._unsubscribe = None
        self._by_slice: dict[int, list] | None = None
        self.changed.connect(self._forget_index)

    def _forget_index(self, _event=None) -> None:
        self._by_slice = None

    def visible_on_slice(self, slice_index: int) -> list:
        """The session's visible findings on one slice, from an index rebuilt after each change.

        Scrolling asks this once per frame; going through every finding each time would cost
        milliseconds on a large review.
        """
        if self.session is None:
            return []
        if self._by_slice is None:
            index: dict[int, list] = {}
            for reviewed in self.session.visible_findings():
                index.setdefault(reviewed.slice_index, []).append(reviewed)
            self._by_slice = index
        return self._by_slice.get(slice_index, [])

    def set_session(self, session: ReviewSession | None) -> None:
        """Observe ``session`` from now on (and stop observing the previous one)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.session = session
        self._by_slice = None
        if session is not None:
            self._unsubscribe = session.subscribe(self.changed.emit)
        self.changed.emit(None)
