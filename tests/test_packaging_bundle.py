"""The one-folder app builds with PyInstaller and passes its own --self-test, off screen.

Slow (a PyInstaller build of torch, Qt and vtk: see docs/packaging.md for the measured time); it
runs in CI. ``LESIONVIEWER_BUNDLE_DIR=<dist>/LesionViewer`` tests an app built beforehand instead
of building one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lesionviewer.paths import resources_dir

PROJECT = resources_dir().parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("LESIONVIEWER_BUNDLE_DIR")
    if prebuilt:
        yield Path(prebuilt)
        return
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (pip install -e '.[packaging]')")
    root = tmp_path_factory.mktemp("bundle")
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(PROJECT / "packaging" / "build_bundle.sh"), str(root / "dist"), str(root / "work")],
                            env=env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    shutil.rmtree(root / "work", ignore_errors=True)
    yield root / "dist" / "LesionViewer"
    shutil.rmtree(root, ignore_errors=True)  # several GB: do not leave it for pytest's tmp rotation


def test_bundle_holds_the_program_resources_and_plugins(bundle):
    assert os.access(bundle / "LesionViewer", os.X_OK)
    internal = bundle / "_internal"
    assert (internal / "resources" / "icons" / "lesionviewer.svg").is_file()
    assert sorted(p.name for p in (internal / "resources" / "configs").glob("*.toml")) == \
        sorted(p.name for p in (resources_dir() / "configs").glob("*.toml"))
    platforms = {p.name for p in internal.rglob("platforms/libq*.so")}
    assert {"libqoffscreen.so", "libqxcb.so"} <= platforms
    assert not list(internal.rglob("libcudnn_engines_precompiled*"))  # GPU-only libraries left out


def test_bundled_app_passes_its_self_test_off_screen(bundle, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH")}
    env.update(QT_QPA_PLATFORM="offscreen", LESIONVIEWER_HOME=str(tmp_path / "home"))
    result = subprocess.run([str(bundle / "LesionViewer"), "--self-test", "--timeout", "240"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-4000:]
    assert out.startswith(f"LesionViewer {__import__('lesionviewer').__version__} self-test (bundled)")
    for check in ("qt", "vtk", "decoders", "resources", "window", "study", "model", "detection"):
        assert f"  ok    {check}" in out, out
    assert "48 x 512 x 512" in out  # the real sample study, made by the bundled generator
    assert str(bundle / "_internal" / "resources") in out
    assert "self-test passed" in out.splitlines()[-1]


def test_bundled_app_prints_its_version(bundle, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LESIONVIEWER_HOME": str(tmp_path)}
    result = subprocess.run([str(bundle / "LesionViewer"), "--version"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip() == f"lesionviewer {__import__('lesionviewer').__version__}"
