"""Issue 14, item 13: the tests never write into the real home folder (~/.cache, ~/.local/share)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REAL_HOME = Path.home().resolve()  # conftest redirects the app's folders, never HOME itself


def _inside_real_home(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(REAL_HOME)


@pytest.fixture(scope="module")
def folders_seen_by_a_module_fixture():
    # Module fixtures run before the function-scoped isolation fixture: they must be isolated too.
    from lesionviewer.paths import user_cache_dir, user_data_dir

    return user_cache_dir(), user_data_dir(), os.environ.get("XDG_CACHE_HOME", "")


def test_module_scoped_fixtures_see_a_temporary_home(folders_seen_by_a_module_fixture):
    cache, data, xdg_cache = folders_seen_by_a_module_fixture
    assert not _inside_real_home(cache), cache
    assert not _inside_real_home(data), data
    assert xdg_cache and not _inside_real_home(Path(xdg_cache)), xdg_cache


def test_the_sample_study_made_by_a_test_lands_in_the_temporary_cache():
    from lesionviewer.phantom import PhantomConfig
    from lesionviewer.sample import sample_study_path

    folder = sample_study_path(config=PhantomConfig.preset("small").with_(num_slices=3))
    assert not _inside_real_home(folder), folder


def test_a_subprocess_started_by_a_test_inherits_the_temporary_home():
    code = "from lesionviewer.paths import user_cache_dir; print(user_cache_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out and not _inside_real_home(Path(out)), out
