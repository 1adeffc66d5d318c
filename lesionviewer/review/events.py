"""Change events of a review session and the small, Qt-free observer list that delivers them.

The GUI subscribes once and turns each event into a Qt signal; tests subscribe a plain list.

Example:
    >>> hub = EventHub()
    >>> seen = []
    >>> unsubscribe = hub.subscribe(seen.append)
    >>> hub.emit(ReviewEvent(ChangeKind.STATUS, ids=("F1",), slices=(4,)))
    >>> seen[0].kind.value, seen[0].ids
    ('status', ('F1',))
    >>> unsubscribe()
    >>> hub.emit(ReviewEvent(ChangeKind.NOTE))
    >>> len(seen)
    1
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


class ChangeKind(str, enum.Enum):
    """What changed in a review session.

    Example:
        >>> ChangeKind("status") is ChangeKind.STATUS
        True
    """

    FINDINGS = "findings"  # detector findings added or replaced; processed slices changed
    STATUS = "status"  # a finding was accepted, rejected or set back to pending
    NOTE = "note"  # a finding's note changed
    MEASUREMENTS = "measurements"  # a ruler or RECIST measurement was added or removed
    THRESHOLD = "threshold"  # the confidence threshold changed
    MODEL = "model"  # a new detector run began (model name/version)
    RISK = "risk"  # the whole-study risk score was set or cleared
    EXPORTED = "exported"  # the session was exported; dirty_since_export is now False
    SAVE_FAILED = "save_failed"  # the autosave could not be written; see ReviewSession.autosave_error


@dataclass(frozen=True)
class ReviewEvent:
    """One change: its kind, the finding or measurement ids and the slices it touched.

    Example:
        >>> ReviewEvent(ChangeKind.THRESHOLD).ids
        ()
    """

    kind: ChangeKind
    ids: tuple[str, ...] = ()
    slices: tuple[int, ...] = ()


Observer = Callable[[ReviewEvent], None]


class EventHub:
    """A list of callbacks called synchronously, in subscription order, for every event.

    A callback that raises is logged and skipped, so one broken view cannot stop the others or
    the autosave that already happened.

    Example:
        >>> hub = EventHub()
        >>> _ = hub.subscribe(lambda e: 1 / 0)
        >>> got = []
        >>> _ = hub.subscribe(got.append)
        >>> hub.emit(ReviewEvent(ChangeKind.NOTE))
        >>> len(got)
        1
    """

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def subscribe(self, callback: Observer) -> Callable[[], None]:
        """Call ``callback(event)`` after every change; returns a function that unsubscribes.

        Example:
            >>> hub = EventHub()
            >>> stop = hub.subscribe(lambda event: print(event.kind.value, event.ids))
            >>> hub.emit(ReviewEvent(ChangeKind.STATUS, ids=("F2",)))
            status ('F2',)
            >>> stop(); stop()  # unsubscribing twice is harmless
            >>> hub.emit(ReviewEvent(ChangeKind.NOTE))  # nobody is told any more
        """
        self._observers.append(callback)

        def unsubscribe() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return unsubscribe

    def emit(self, event: ReviewEvent) -> None:
        """Deliver ``event`` to every current subscriber.

        Example:
            >>> hub, order = EventHub(), []
            >>> _ = hub.subscribe(lambda event: order.append(("first", event.kind.value)))
            >>> _ = hub.subscribe(lambda event: order.append(("second", event.slices)))
            >>> hub.emit(ReviewEvent(ChangeKind.MODEL, slices=(3, 4)))
            >>> order  # every subscriber, in subscription order
            [('first', 'model'), ('second', (3, 4))]
        """
        for callback in list(self._observers):
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - a view's bug must not break the review model
                log.exception("review observer %r failed on %s", callback, event)
