"""tools/mutation_test.py: its docstring examples, and the per-module pyproject it writes (no mutmut run)."""
from __future__ import annotations

import doctest
import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutation_test", ROOT / "tools" / "mutation_test.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def test_docstring_examples():
    result = doctest.testmod(tool, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0


def test_every_listed_module_and_test_file_exists():
    for module, tests in tool.MODULES.items():
        assert (ROOT / module).is_file(), module
        assert tests and all((ROOT / t).is_file() for t in tests), tests


def test_scratch_pyproject_keeps_pytest_settings_and_narrows_mutmut(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "lesionviewer").mkdir(parents=True)
    (project / "lesionviewer" / "m.py").write_text("x = 1\n")
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\naddopts = "-ra"\n\n[tool.mutmut]\nsource_paths = ["lesionviewer/"]\n'
        'debug = true\n\n[tool.other]\nkeep = 1\n')
    monkeypatch.setattr(tool, "ROOT", project)
    work = tmp_path / "work"
    tool._scratch_copy(work, "lesionviewer/m.py", ["tests/test_m.py"])
    written = tomllib.loads((work / "pyproject.toml").read_text())
    assert written["tool"]["pytest"]["ini_options"]["addopts"] == "-ra"
    assert written["tool"]["other"] == {"keep": 1}
    assert written["tool"]["mutmut"] == {
        "source_paths": ["lesionviewer/"], "debug": True, "only_mutate": ["lesionviewer/m.py"],
        "pytest_add_cli_args_test_selection": ["lesionviewer/m.py", "tests/test_m.py"]}
    assert (work / "lesionviewer" / "m.py").read_text() == "x = 1\n"
