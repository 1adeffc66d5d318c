"""packaging/entry.py, the bundled program's entry: --self-test goes to the self-test, the rest to the viewer."""
from __future__ import annotations

import os
import subprocess
import sys

import lesionviewer
from lesionviewer.paths import resources_dir

ENTRY = resources_dir().parent / "packaging" / "entry.py"


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LESIONVIEWER_HOME": str(tmp_path)}
    return subprocess.run([sys.executable, str(ENTRY), *args], env=env, capture_output=True, text=True, timeout=120)


def test_viewer_arguments_reach_the_viewer(tmp_path):
    result = _run(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lesionviewer {lesionviewer.__version__}"


def test_self_test_flag_runs_the_self_test_with_its_own_options(tmp_path):
    result = _run(tmp_path, "--self-test", "--timeout", "0.2")
    assert result.stdout.startswith(f"LesionViewer {lesionviewer.__version__} self-test")
    assert "no result within 0.2 s" in result.stdout
    assert result.returncode == 1
