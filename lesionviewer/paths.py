"""Where LesionViewer keeps things: the bundled resources and the user's data and cache folders.

The user folders follow the XDG base-directory convention on Linux (and the platform's
equivalents elsewhere) and can be redirected with ``LESIONVIEWER_HOME`` (tests use this).

Example:
    >>> import os, tempfile
    >>> os.environ["LESIONVIEWER_HOME"] = tempfile.mkdtemp()
    >>> user_data_dir().is_dir()
    True
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    """The project's ``resources/`` folder (configs, demo weights, icon).

    Example:
        >>> (resources_dir() / "configs").name
        'configs'
    """
    bundled = getattr(sys, "_MEIPASS", None)  # inside a PyInstaller bundle
    if bundled:
        return Path(bundled) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def _home() -> Path | None:
    value = os.environ.get("LESIONVIEWER_HOME")
    return Path(value) if value else None


def user_data_dir() -> Path:
    """Folder for the user's review sessions and settings; created on first use.

    Example:
        >>> user_data_dir().exists()
        True
    """
    home = _home()
    if home is not None:
        folder = home / "data"
    elif sys.platform == "win32":
        folder = Path(os.environ.get("APPDATA", Path.home())) / "LesionViewer"
    elif sys.platform == "darwin":
        folder = Path.home() / "Library" / "Application Support" / "LesionViewer"
    else:
        folder = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "lesionviewer"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def user_cache_dir() -> Path:
    """Folder for things that can be made again (the sample study); created on first use.

    Example:
        >>> user_cache_dir().exists()
        True
    """
    home = _home()
    if home is not None:
        folder = home / "cache"
    elif sys.platform == "darwin":
        folder = Path.home() / "Library" / "Caches" / "LesionViewer"
    elif sys.platform == "win32":
        folder = Path(os.environ.get("LOCALAPPDATA", Path.home())) / "LesionViewer" / "Cache"
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lesionviewer"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
