"""Passwords and tokens for PACS servers: in the OS keyring when there is one, else only in memory.

Nothing is ever written to the settings file. Without a usable keyring (the ``keyring`` package
absent or its backend failing), a secret lives for the session only and the viewer asks again
next time.

Example:
    >>> store = CredentialStore(use_keyring=False)
    >>> store.get("pacs1", "alice") is None
    True
    >>> store.set("pacs1", "alice", "s3cret")
    'memory'
    >>> store.get("pacs1", "alice")
    's3cret'
"""
from __future__ import annotations

import threading

SERVICE = "lesionviewer-pacs"


def _keyring():
    """The keyring module when it has a real backend, else None (no package, or the "fail"/"null" backend)."""
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception:
        return None
    module = type(backend).__module__
    if getattr(backend, "priority", 1) <= 0 or module.endswith((".fail", ".null")):
        return None
    return keyring


class CredentialStore:
    """Secrets keyed by server name and user; ``use_keyring=None`` uses the keyring when usable.

    Example:
        >>> s = CredentialStore(use_keyring=False)
        >>> _ = s.set("a", "u", "p"); s.forget("a", "u"); s.get("a", "u") is None
        True
    """

    def __init__(self, use_keyring: bool | None = None) -> None:
        self._memory: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._keyring = _keyring() if use_keyring in (None, True) else None

    @property
    def persistent(self) -> bool:
        """True when secrets go to the OS keyring (kept across sessions).

        Example:
            >>> CredentialStore(use_keyring=False).persistent
            False
        """
        return self._keyring is not None

    def get(self, server: str, user: str) -> str | None:
        """The secret for ``user`` on ``server``, or None when none is known.

        Example:
            >>> CredentialStore(use_keyring=False).get("s", "u") is None
            True
        """
        with self._lock:
            if (server, user) in self._memory:
                return self._memory[(server, user)]
        if self._keyring is not None:
            try:
                return self._keyring.get_password(SERVICE, f"{server}/{user}")
            except Exception:
                return None
        return None

    def set(self, server: str, user: str, secret: str) -> str:
        """Remember ``secret``; returns where it went: ``"keyring"`` or ``"memory"`` (this session only).

        Example:
            >>> CredentialStore(use_keyring=False).set("s", "u", "x")
            'memory'
        """
        with self._lock:
            self._memory[(server, user)] = secret
        if self._keyring is not None:
            try:
                self._keyring.set_password(SERVICE, f"{server}/{user}", secret)
                return "keyring"
            except Exception:
                pass
        return "memory"

    def forget(self, server: str, user: str) -> None:
        """Drop the secret (after a 401, say), from memory and from the keyring.

        Example:
            >>> store = CredentialStore(use_keyring=False)
            >>> store.set("s", "u", "x"), store.get("s", "u")
            ('memory', 'x')
            >>> store.forget("s", "u"); store.forget("s", "nobody")  # an unknown user is no error
            >>> store.get("s", "u") is None
            True
        """
        with self._lock:
            self._memory.pop((server, user), None)
        if self._keyring is not None:
            try:
                self._keyring.delete_password(SERVICE, f"{server}/{user}")
            except Exception:
                pass
