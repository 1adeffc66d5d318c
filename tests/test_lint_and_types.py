"""The library passes its linter and its type checker with the configuration in pyproject.toml.

Both run in a subprocess on ``lesionviewer/`` (the headless library); each ``# noqa`` left in it (and in
``app/``) says why.
They are skipped where the tools are not installed (``pip install -e ".[test]"`` installs them).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from import_graph import ROOT


def _tool(name: str) -> list[str]:
    if subprocess.run([sys.executable, "-m", name, "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", name]
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return [path]


def test_ruff_finds_nothing_in_the_library():
    out = subprocess.run([*_tool("ruff"), "check", "lesionviewer"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_finds_nothing_in_the_library():
    out = subprocess.run([*_tool("mypy"), "--config-file", "pyproject.toml"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-2000:]


def test_every_noqa_left_in_the_library_and_the_app_says_why():
    bare = [f"{path.relative_to(ROOT)}:{number}"
            for folder in ("lesionviewer", "app") for path in sorted((ROOT / folder).rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
            if "# noqa" in line and not re.search(r"# noqa: [A-Z0-9, ]+ - \S", line)]
    assert bare == []
