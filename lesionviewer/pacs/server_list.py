"""The user's configured PACS servers, kept in ``<user data folder>/pacs_servers.json`` (atomically,
owner-only; no password or token in it: those go to :mod:`lesionviewer.pacs.credentials`).

Example:
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/servers.json"
    >>> save_servers([PacsServer("web", url="https://pacs/dicom-web", auth="basic", username="me")], path)
    >>> [s.name for s in load_servers(path)], "password" in open(path).read()
    (['web'], False)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from lesionviewer.pacs.server import PacsServer
from lesionviewer.util.atomic import atomic_write_text


def servers_path() -> Path:
    """Where the server list lives.

    Example:
        >>> servers_path().name
        'pacs_servers.json'
    """
    from lesionviewer.paths import user_data_dir

    return user_data_dir() / "pacs_servers.json"


def load_servers(path: str | Path | None = None) -> list[PacsServer]:
    """The saved servers (an empty list when none are saved); a broken file raises ``ValueError``.

    Example:
        >>> import tempfile
        >>> load_servers(tempfile.mkdtemp() + "/none.json")
        []
    """
    path = Path(path) if path is not None else servers_path()
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [PacsServer.from_dict(item) for item in data.get("servers", [])]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a readable PACS server list ({exc})") from None


def save_servers(servers: list[PacsServer], path: str | Path | None = None) -> None:
    """Save the server list (names must be unique).

    Example:
        >>> save_servers([PacsServer("a", url="http://h"), PacsServer("a", url="http://g")], "/tmp/x.json")
        Traceback (most recent call last):
        ...
        ValueError: two PACS servers are called 'a'
    """
    names = [s.name for s in servers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"two PACS servers are called {name!r}")
    path = Path(path) if path is not None else servers_path()
    atomic_write_text(path, json.dumps({"servers": [s.to_dict() for s in servers]}, indent=1))
    os.chmod(path, 0o600)
