"""Root pytest configuration: applies to the tests and to the doctests under lesionviewer/."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory, monkeypatch):
    """Keep every test's and doctest's settings, reviews and caches out of the real home folder."""
    home = tmp_path_factory.mktemp("lesionviewer_home")
    monkeypatch.setenv("LESIONVIEWER_HOME", str(home))
    return home
