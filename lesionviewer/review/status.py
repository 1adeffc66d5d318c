"""The radiologist's decision on one detector finding.

Example:
    >>> Status("accepted") is Status.ACCEPTED
    True
    >>> Status.REJECTED.is_decided
    True
"""
from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """``pending`` until the radiologist accepts or rejects the finding.

    Example:
        >>> [s.value for s in Status]
        ['pending', 'accepted', 'rejected']
    """

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    @property
    def is_decided(self) -> bool:
        """True for accepted and rejected findings (they survive a detector re-run).

        Example:
            >>> Status.PENDING.is_decided
            False
        """
        return self is not Status.PENDING
