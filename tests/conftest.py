"""Shared fixtures: where the real CT test data lives, and an isolated user folder per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real CT in ../shared/data; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (only the project's CI and developers have it)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory, monkeypatch):
    """Keep every test's settings, review sessions and caches out of the real home folder."""
    home = tmp_path_factory.mktemp("lesionviewer_home")
    monkeypatch.setenv("LESIONVIEWER_HOME", str(home))
    return home
