"""How to reach one PACS: a DICOMweb base URL, or a DIMSE AE title, host and port.

A :class:`PacsServer` holds no secret: it names the user, and the password or token lives in the
OS keyring or is asked for each session (:mod:`lesionviewer.pacs.credentials`). ``to_dict`` is
what the viewer writes in its settings.

Example:
    >>> s = PacsServer("orthanc", kind="dimse", ae_title="ORTHANC", host="127.0.0.1", port=4242)
    >>> s.describe()
    'ORTHANC@127.0.0.1:4242'
    >>> PacsServer.from_dict(s.to_dict()) == s
    True
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

KINDS = ("dicomweb", "dimse")
AUTH_KINDS = ("none", "basic", "bearer")


@dataclass(frozen=True)
class PacsServer:
    """One configured server. ``kind`` is ``"dicomweb"`` (``url``) or ``"dimse"`` (``ae_title``,
    ``host``, ``port``); ``calling_ae`` is our own AE title; ``auth`` is ``none``, ``basic``
    (``username`` plus a password) or ``bearer`` (a token); ``verify_tls`` stays True unless the user
    turns it off for a test server; ``timeout_s`` bounds every network wait.

    Example:
        >>> PacsServer("x", kind="ftp")
        Traceback (most recent call last):
        ...
        ValueError: server 'x': kind must be one of ('dicomweb', 'dimse'), not 'ftp'
    """

    name: str
    kind: str = "dicomweb"
    url: str = ""
    ae_title: str = ""
    host: str = ""
    port: int = 104
    calling_ae: str = "LESIONVIEWER"
    auth: str = "none"
    username: str = ""
    verify_tls: bool = True
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"server {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.auth not in AUTH_KINDS:
            raise ValueError(f"server {self.name!r}: auth must be one of {AUTH_KINDS}, not {self.auth!r}")
        if self.kind == "dicomweb" and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"server {self.name!r}: a DICOMweb server needs an http:// or https:// URL")
        if self.kind == "dimse":
            if not self.ae_title or len(self.ae_title) > 16 or not self.host:
                raise ValueError(f"server {self.name!r}: a DIMSE server needs an AE title (1-16 characters) and a host")
            if not 0 < int(self.port) < 65536:
                raise ValueError(f"server {self.name!r}: port must be 1-65535, not {self.port}")

    def describe(self) -> str:
        """A short human-readable address.

        Example:
            >>> PacsServer("w", url="https://pacs/dicom-web").describe()
            'https://pacs/dicom-web'
        """
        return self.url if self.kind == "dicomweb" else f"{self.ae_title}@{self.host}:{self.port}"

    def to_dict(self) -> dict:
        """The settings form (no password or token in it).

        Example:
            >>> sorted(PacsServer("w", url="http://h/dw", auth="basic", username="u").to_dict())[:3]
            ['ae_title', 'auth', 'calling_ae']
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PacsServer":
        """Read the settings form back, ignoring unknown keys (a newer version's settings).

        Example:
            >>> PacsServer.from_dict({"name": "w", "url": "http://h", "colour": "red"}).url
            'http://h'
        """
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
