"""The suite's temporary files stay inside pytest's own folders (conftest.temporary_files_in_test_folder).

A doctest that calls ``tempfile.mkdtemp()`` used to leave its folder in /tmp for good; a mutation run,
which runs the suite once per mutant, left tens of thousands of them and filled the disk.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def test_mkdtemp_lands_under_pytests_base_folder(tmp_path_factory):
    base = tmp_path_factory.getbasetemp().resolve()
    made = Path(tempfile.mkdtemp()).resolve()
    assert base in made.parents
    assert made.is_dir()


def test_subprocesses_inherit_the_same_temporary_folder(tmp_path_factory):
    base = tmp_path_factory.getbasetemp().resolve()
    printed = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                             capture_output=True, text=True, check=True, env=dict(os.environ)).stdout.strip()
    assert base in Path(printed).resolve().parents


def test_the_folder_is_a_numbered_one_of_this_test(tmp_path_factory):
    folder = Path(tempfile.gettempdir())
    assert folder.name.startswith("tempfile")  # mktemp("tempfile") numbers it: tempfile0, tempfile1, ...
    assert folder.parent.resolve() == tmp_path_factory.getbasetemp().resolve()


def _root_conftest(config):
    """The project's root conftest as pytest loaded it (not run a second time: it sets the session's home).

    ``tests/conftest.py`` has the same module name, so the root one is found among pytest's plugins.
    """
    path = Path(__file__).resolve().parent.parent / "conftest.py"
    return next(p for p in config.pluginmanager.get_plugins()
                if getattr(p, "__file__", None) and Path(p.__file__).resolve() == path)


def test_session_homes_of_ended_processes_are_removed_and_live_ones_kept(tmp_path, pytestconfig):
    conftest = _root_conftest(pytestconfig)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a process id that has ended
    for name in (f"{conftest.HOME_PREFIX}{dead}-abc", f"{conftest.HOME_PREFIX}{os.getpid()}-def",
                 f"{conftest.HOME_PREFIX}oldstyle", "unrelated-123-x"):
        (tmp_path / name).mkdir()
    assert conftest.remove_stale_session_homes(str(tmp_path)) == [f"{conftest.HOME_PREFIX}{dead}-abc"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{conftest.HOME_PREFIX}{os.getpid()}-def", f"{conftest.HOME_PREFIX}oldstyle", "unrelated-123-x"])
