"""The docstring examples of the GUI package, run as tests.

``app/`` is installed as the package ``lesionviewer_app`` (setup.py), and its modules import each
other under that name. Collecting ``app/`` with ``--doctest-modules`` would import a second copy of
each module as ``app.<name>`` beside ``lesionviewer_app.<name>`` (two sets of classes and Qt
signals), so the examples are collected here instead, from the installed modules: one test per
docstring that has examples, run offscreen (``QT_QPA_PLATFORM=offscreen``, conftest.py) with
pytest's default doctest option (ELLIPSIS).
"""
from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

import lesionviewer_app

APP_DIR = Path(lesionviewer_app.__path__[0])


def _modules_with_examples() -> list[str]:
    names = []
    for path in sorted(APP_DIR.rglob("*.py")):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(APP_DIR).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            names.append(".".join(("lesionviewer_app",) + parts))
    return names


def _docstring_tests() -> list:
    finder = doctest.DocTestFinder()
    params = []
    for name in _modules_with_examples():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                params.append(pytest.param(test, id=test.name))
    return params


DOCTESTS = _docstring_tests()


@pytest.mark.parametrize("test", DOCTESTS)
def test_app_docstring_example(test):
    test.globs = dict(test.globs)  # a fresh namespace per run, as pytest's doctest items have
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    result = runner.run(test, out=report.write, clear_globs=True)
    assert result.failed == 0, report.getvalue()


def test_every_app_module_with_examples_is_collected():
    # the files are found from the installed package, so a new module with examples is never missed
    on_disk = {p.stem for p in APP_DIR.glob("*.py") if ">>>" in p.read_text(encoding="utf-8")}
    collected = {t.values[0].name.split(".")[1] for t in DOCTESTS}
    assert on_disk and collected == on_disk
    assert {"orientation", "slice_order", "series_browser"} <= collected
