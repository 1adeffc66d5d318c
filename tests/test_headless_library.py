"""The library must run on a GPU server without a display: no module of it may import Qt."""
import json
import subprocess
import sys


def test_importing_every_library_module_loads_no_qt():
    # A fresh interpreter, so modules imported by other tests cannot hide a Qt import.
    script = r"""
import importlib, json, pkgutil, sys
import lesionviewer
names = [m.name for m in pkgutil.walk_packages(lesionviewer.__path__, "lesionviewer.")]
for name in names:
    importlib.import_module(name)
qt = sorted(m for m in sys.modules if m.split(".")[0] in {"PySide6", "pyqtgraph", "PyQt5", "PyQt6", "qtpy", "shiboken6"})
print(json.dumps({"modules": names, "qt": qt}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "lesionviewer.io.volume" in report["modules"]
    assert report["qt"] == []


def test_gui_package_is_installed_under_its_own_name_not_as_app(tmp_path):
    # From a neutral folder, so the checkout itself is not on sys.path.
    script = "import importlib.util as u, lesionviewer_app; print(lesionviewer_app.__name__, u.find_spec('app') is None)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.split() == ["lesionviewer_app", "True"]
