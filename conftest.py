"""Root pytest configuration: applies to the tests and to the doctests under lesionviewer/.

The test suite never writes into the real home folder (issue 14, item 13). Two layers:

* at import, before any test module, fixture or doctest runs, ``LESIONVIEWER_HOME`` and the XDG
  folders (``XDG_CACHE_HOME``, ``XDG_DATA_HOME``, ``XDG_CONFIG_HOME``; matplotlib's
  ``MPLCONFIGDIR``) point into one temporary folder of this session, removed at exit. So module-
  and session-scoped fixtures, collection-time code and subprocesses inherit a temporary home too
  (a function-scoped fixture alone starts too late for those);
* each test and doctest then gets a fresh ``LESIONVIEWER_HOME`` of its own (``isolated_user_folders``).

Temporary files made with ``tempfile`` (``mkdtemp`` in the doctests' examples, for one) land in the
test's own pytest folder (``temporary_files_in_test_folder``), which pytest prunes to the last three
sessions; before, every doctest left a folder in /tmp, and a mutation run (the suite once per
mutant) left tens of thousands and filled the disk.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

from lesionviewer.util.processes import pid_alive

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

HOME_PREFIX = "lesionviewer-tests-home-"


def remove_stale_session_homes(folder: str) -> list[str]:
    """Delete the session homes in ``folder`` whose test process is gone; return their names.

    ``atexit`` removes a session's home, but a process that ends by ``os._exit`` (mutmut's forked
    workers do) or is killed leaves it behind; its name carries the process id, so the next session
    can tell.
    """
    removed = []
    for name in os.listdir(folder):
        pid = name[len(HOME_PREFIX):].split("-", 1)[0]
        if not (name.startswith(HOME_PREFIX) and pid.isdigit()) or pid_alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        removed.append(name)
    return removed


remove_stale_session_homes(tempfile.gettempdir())
SESSION_HOME = tempfile.mkdtemp(prefix=f"{HOME_PREFIX}{os.getpid()}-")
for _variable, _folder in (("LESIONVIEWER_HOME", "lesionviewer"), ("XDG_CACHE_HOME", "cache"),
                           ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"), ("MPLCONFIGDIR", "matplotlib")):
    os.environ[_variable] = os.path.join(SESSION_HOME, _folder)
    os.makedirs(os.environ[_variable], exist_ok=True)
atexit.register(shutil.rmtree, SESSION_HOME, True)


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path_factory, monkeypatch):
    """Keep every test's and doctest's settings, reviews and caches out of the real home folder."""
    home = tmp_path_factory.mktemp("lesionviewer_home")
    monkeypatch.setenv("LESIONVIEWER_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def temporary_files_in_test_folder(tmp_path_factory, monkeypatch):
    """Point ``tempfile`` (and subprocesses, through TMPDIR) at a folder pytest removes in time."""
    folder = tmp_path_factory.mktemp("tempfile")
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder
