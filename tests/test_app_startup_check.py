"""Issue 14, item 10: on a machine without Qt's X11 libraries the viewer names them instead of dumping core."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lesionviewer_app import startup_check
from lesionviewer_app.startup_check import EXIT_NO_WINDOW, debian_package, not_found_by_ldd, startup_problem

README = Path(__file__).resolve().parent.parent / "README.md"


def test_missing_libraries_are_named_with_their_packages():
    message = startup_problem({"DISPLAY": ":0"}, "linux",
                              lambda: ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert "libxcb-cursor.so.0" in message
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in message


def test_no_display_and_headless_runs():
    assert "no display" in startup_problem({}, "linux", lambda: [])
    assert startup_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", lambda: ["libx.so.1"]) is None
    assert startup_problem({"DISPLAY": ":0"}, "linux", lambda: []) is None
    assert startup_problem({}, "darwin", lambda: ["libx.so.1"]) is None


def test_ldd_output_is_read():
    output = ("\tlibxcb-icccm.so.4 => not found\n\tlibxcb-icccm.so.4 => not found\n"
              "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n")
    fake = lambda *args, **kwargs: subprocess.CompletedProcess(args, 0, output)  # noqa: E731
    assert not_found_by_ldd(Path("/x.so"), run=fake) == ["libxcb-icccm.so.4"]
    assert debian_package("libxcb-render-util.so.0") == "libxcb-render-util0"


def test_the_real_plugin_is_checked_on_this_machine():
    plugin = startup_check.xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6 has no xcb plugin here")
    missing = startup_check.missing_window_libraries()
    assert all(name.endswith(tuple(f".so.{i}" for i in range(10))) or ".so" in name for name in missing)


def test_lesionviewer_exits_with_the_message_instead_of_a_core_dump(monkeypatch, capsys):
    from lesionviewer_app import main as app_main

    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(startup_check, "missing_window_libraries", lambda: ["libxcb-cursor.so.0"])
    assert app_main.main([]) == EXIT_NO_WINDOW
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0" in err and "apt-get install libxcb-cursor0" in err


def test_the_readme_viewer_command_installs_the_packages_qt_needs():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- viewer-command -->\s*```\n(.*?)```", text, re.S).group(1)
    assert "apt-get install" in block
    for package in startup_check.README_PACKAGES:
        assert package in block, package
    assert "lesionviewer" in block.splitlines()[-1]
    assert "<!-- test-command -->" in text
