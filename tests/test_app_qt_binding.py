"""The installed Qt binding must not corrupt Python's reference counts.

PySide6-Essentials 6.12.0 on CPython 3.11 drops a reference to None on every call of a method
that returns nothing (and to True/False on every signal emit): after a few thousand calls the
interpreter aborts with "none_dealloc". The viewer calls such methods constantly, so this test
names the problem at once instead of letting the GUI crash at random.
"""
from __future__ import annotations

import sys

import pytest

pytest.importorskip("pytestqt")


def test_void_qt_calls_keep_the_reference_count_of_none(qapp):
    from PySide6.QtWidgets import QLabel

    label = QLabel("x")
    before = sys.getrefcount(None)
    for _ in range(200):
        label.update()
        label.setText("y")
    after = sys.getrefcount(None)
    assert abs(after - before) < 50, (
        f"None lost {before - after} references in 400 Qt calls: this PySide6 build is broken on "
        f"Python {sys.version_info.major}.{sys.version_info.minor}; install another PySide6-Essentials")
