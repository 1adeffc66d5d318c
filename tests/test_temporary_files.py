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
