"""Before Qt starts: the system libraries its window needs, and a display to show it on.

On a fresh Debian or Ubuntu, ``pip install`` brings Qt itself but not the X11 libraries Qt's
``xcb`` window plugin links to (libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1 and friends). Qt
then aborts with a core dump and a hint few people can act on. :func:`startup_problem` finds the
missing libraries first (``ldd`` on the plugin; ``dlopen`` of a known list where ``ldd`` is absent)
and says which Debian/Ubuntu packages hold them, as one ``apt-get install`` line; it also catches a
session without any display. This module never imports Qt.

Example:
    >>> debian_package("libxcb-icccm.so.4"), debian_package("libxkbcommon-x11.so.0")
    ('libxcb-icccm4', 'libxkbcommon-x11-0')
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

#: Libraries Qt's xcb plugin links to on Linux and the Debian/Ubuntu packages that hold them.
PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

#: The apt-get line the README names (the whole set, so one command prepares a fresh machine).
README_PACKAGES = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-image0", "libxcb-render-util0",
                   "libxcb-shape0", "libxcb-randr0", "libxcb-xinerama0", "libxcb-xkb1", "libxkbcommon-x11-0",
                   "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3", "libglib2.0-0")

#: The exit status of ``lesionviewer`` when the window cannot be opened for one of these reasons.
EXIT_NO_WINDOW = 3


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that usually holds ``soname`` (the table, else Debian's naming rule).

    Example:
        >>> debian_package("libfoo.so.2"), debian_package("libbar2.so.1")
        ('libfoo2', 'libbar2-1')
    """
    if soname in PACKAGES:
        return PACKAGES[soname]
    match = re.fullmatch(r"(.+)\.so\.(\d+)(?:\..*)?", soname)
    if not match:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin inside the installed PySide6 (found without importing Qt), or None.

    Example:
        >>> plugin = xcb_plugin()
        >>> plugin is None or plugin.name == "libqxcb.so"
        True
    """
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for candidate in (Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so",
                          Path(root) / "plugins" / "platforms" / "libqxcb.so"):
            if candidate.is_file():
                return candidate
    return None


def not_found_by_ldd(library: Path, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> list[str] | None:
    """The sonames ``ldd`` reports as ``not found`` for ``library`` (sorted, once each); None without ldd.

    Example:
        >>> fake = lambda *a, **k: subprocess.CompletedProcess(a, 0, "\\tlibx.so.1 => not found\\n\\tlibc.so.6 => /lib/libc.so.6\\n")
        >>> not_found_by_ldd(Path("/any.so"), run=fake)
        ['libx.so.1']
    """
    if run is subprocess.run and shutil.which("ldd") is None:
        return None
    try:
        result = run(["ldd", str(library)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    found = {m.group(1) for m in re.finditer(r"^\s*(\S+)\s*=>\s*not found", result.stdout or "", re.MULTILINE)}
    return sorted(found)


def not_loadable(sonames: list[str], load: Callable[[str], object] = ctypes.CDLL) -> list[str]:
    """The ``sonames`` that ``dlopen`` cannot load (the fallback where there is no ``ldd``).

    Example:
        >>> not_loadable(["libc.so.6", "libsurely-absent-here.so.9"])
        ['libsurely-absent-here.so.9']
    """
    missing = []
    for soname in sonames:
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing


def missing_window_libraries() -> list[str]:
    """Sonames Qt's window plugin needs and this system lacks (empty when all are there or unknown).

    Example:
        >>> isinstance(missing_window_libraries(), list)
        True
    """
    plugin = xcb_plugin()
    if plugin is None:
        return []
    missing = not_found_by_ldd(plugin)
    if missing is None:
        missing = not_loadable(list(PACKAGES))
    return missing


def startup_problem(environ: Mapping[str, str] | None = None, platform: str | None = None,
                    find_missing: Callable[[], list[str]] | None = None) -> str | None:
    """Why Qt could not open a window here (a message naming the libraries and packages), or None.

    Only Linux with Qt's default X11 (``xcb``) platform is checked; ``QT_QPA_PLATFORM=offscreen``
    (tests, the self-test) or ``wayland`` needs none of this.

    Example:
        >>> print(startup_problem({"DISPLAY": ":0"}, "linux", lambda: ["libxcb-cursor.so.0"]))
        lesionviewer cannot open its window: Qt needs system libraries that are not installed: libxcb-cursor.so.0.
        On Debian or Ubuntu install them with:
            sudo apt-get install libxcb-cursor0
        >>> startup_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", lambda: ["libxcb-cursor.so.0"]) is None
        True
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    requested = environ.get("QT_QPA_PLATFORM", "")
    if requested and not requested.startswith("xcb"):
        return None
    if not requested and environ.get("WAYLAND_DISPLAY") and not environ.get("DISPLAY"):
        return None  # Qt picks its Wayland plugin there
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return ("lesionviewer cannot open its window: there is no display (DISPLAY is not set). Start it in a "
                "desktop session, over ssh -X, or without a screen with QT_QPA_PLATFORM=offscreen.")
    missing = (find_missing or missing_window_libraries)()
    if not missing:
        return None
    packages = sorted({debian_package(s) for s in missing})
    return ("lesionviewer cannot open its window: Qt needs system libraries that are not installed: "
            f"{', '.join(missing)}.\nOn Debian or Ubuntu install them with:\n"
            f"    sudo apt-get install {' '.join(packages)}")
