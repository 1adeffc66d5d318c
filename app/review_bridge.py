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

    def set_session(self, session: ReviewSession | None) -> None:
        """Observe ``session`` from now on (and stop observing the previous one)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.session = session
        if session is not None:
            self._unsubscribe = session.subscribe(self.changed.emit)
        self.changed.emit(None)
