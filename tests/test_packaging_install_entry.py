"""packaging/install_desktop_entry.sh: the menu entry and icons land in the user's XDG folders, no root needed."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lesionviewer.paths import resources_dir

PROJECT = resources_dir().parent
SCRIPT = PROJECT / "packaging" / "install_desktop_entry.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _install(data_home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "HOME": str(data_home / "home")}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def _entry(data_home: Path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(data_home / "applications" / "lesionviewer.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def _exec_program(exec_value: str) -> str:
    """The program of an Exec line, unescaped as the desktop entry specification says."""
    text = re.sub(r"\\(.)", r"\1", exec_value)  # the file's string escapes
    match = re.match(r'"((?:[^"\\]|\\.)*)"', text)
    assert match, exec_value
    return re.sub(r"\\(.)", r"\1", match.group(1)).replace("%%", "%")


def test_installs_entry_and_icons_for_the_pip_command(tmp_path):
    result = _install(tmp_path)
    assert result.returncode == 0, result.stderr
    entry = _entry(tmp_path)
    assert entry["Exec"] == "lesionviewer %F" and entry["Icon"] == "lesionviewer"
    assert "application/dicom" in entry["MimeType"]
    png = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "lesionviewer.png"
    svg = tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "lesionviewer.svg"
    assert png.read_bytes() == (resources_dir() / "icons" / "lesionviewer.png").read_bytes()
    assert svg.read_bytes() == (resources_dir() / "icons" / "lesionviewer.svg").read_bytes()
    assert not (tmp_path / "home").exists()  # XDG_DATA_HOME is honoured, nothing else written


def test_bundle_entry_runs_the_bundled_program_even_from_an_awkward_path(tmp_path):
    bundle = tmp_path / "my apps" / "Lesion $Viewer 100%"
    bundle.mkdir(parents=True)
    program = bundle / "LesionViewer"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    data_home = tmp_path / "share"
    result = _install(data_home, "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr
    entry = _entry(data_home)
    assert entry["Exec"].endswith(" %F")
    assert _exec_program(entry["Exec"]) == str(program)
    assert entry["TryExec"] == str(program)
    assert _install(data_home, "--uninstall").returncode == 0
    assert not (data_home / "applications" / "lesionviewer.desktop").exists()


def test_refuses_a_folder_without_the_program(tmp_path):
    result = _install(tmp_path / "share", "--bundle", str(tmp_path))
    assert result.returncode == 1
    assert "LesionViewer: no such program" in result.stderr
    assert not (tmp_path / "share" / "applications" / "lesionviewer.desktop").exists()
