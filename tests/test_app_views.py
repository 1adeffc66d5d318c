"""Opening a study, scrolling, windowing, and the linked views."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from lesionviewer.imaging.presets import PRESET_KEYS  # noqa: E402
from test_app_fakes import click, drag, make_window, message_boxes, small_volume, wheel  # noqa: E402,F401


def test_opening_shows_the_middle_slice_with_the_header_window(make_window):
    window = make_window(settings=None)
    state = window.state
    assert state.volume.shape == (12, 64, 64)
    assert state.slice_index == 6
    assert (state.width, state.level) == (350.0, 50.0)  # the study's header window
    shown = window.axial.image_item.image
    assert shown.shape == (64, 64) and shown.dtype == np.uint8
    assert "Test CT" in window.windowTitle()


def test_wheel_and_keys_scroll_the_axial_view(make_window, qtbot):
    window = make_window()
    view, state = window.axial, window.state
    wheel(view, +1)
    assert state.slice_index == 7
    wheel(view, -2)
    assert state.slice_index == 5
    before = view.image_item.image.copy()
    qtbot.keyClick(view, Qt.Key_Down)
    assert state.slice_index == 6
    assert not np.array_equal(before, view.image_item.image)  # the new slice is drawn
    qtbot.keyClick(view, Qt.Key_PageUp)
    assert state.slice_index == 5
    qtbot.keyClick(view, Qt.Key_Down, Qt.ShiftModifier)
    assert state.slice_index == 11  # 10 further, clamped at the last slice
    qtbot.keyClick(view, Qt.Key_Home)
    assert state.slice_index == 0
    qtbot.keyClick(view, Qt.Key_Up)
    assert state.slice_index == 0  # never below the first
    qtbot.keyClick(view, Qt.Key_End)
    assert state.slice_index == 11


def test_ctrl_wheel_zooms_instead_of_scrolling(make_window):
    window = make_window()
    zoom_before = window.axial.zoom()
    wheel(window.axial, -3, Qt.ControlModifier)
    assert window.state.slice_index == 6
    assert window.axial.zoom() > zoom_before * 1.1


def test_number_keys_select_presets_and_zero_the_header_window(make_window, qtbot):
    window = make_window()
    view, state = window.axial, window.state
    qtbot.keyClick(view, Qt.Key_1)
    lung = PRESET_KEYS["1"]
    assert (state.width, state.level) == (lung.width, lung.level)
    qtbot.keyClick(view, Qt.Key_4)
    assert (state.width, state.level) == (PRESET_KEYS["4"].width, PRESET_KEYS["4"].level)
    assert window.window_controls.width_field.value() == PRESET_KEYS["4"].width  # the fields follow
    qtbot.keyClick(view, Qt.Key_0)
    assert (state.width, state.level) == (350.0, 50.0)
    qtbot.keyClick(view, Qt.Key_I)
    assert state.inverted
    qtbot.keyClick(view, Qt.Key_R)
    assert not state.inverted and (state.width, state.level) == (350.0, 50.0)


def test_left_drag_changes_window_and_level(make_window):
    window = make_window()
    state = window.state
    width0, level0 = state.width, state.level
    centre = window.axial.viewport().rect().center()
    drag(window.axial, (centre.x(), centre.y()), (centre.x() + 60, centre.y() + 30))
    assert state.width > width0  # right widens
    assert state.level < level0  # down lowers the level
    assert window.state.slice_index == 6  # and nothing else moved


def test_numeric_fields_set_the_window(make_window):
    window = make_window()
    window.window_controls.width_field.setValue(1234)
    window.window_controls.level_field.setValue(-321)
    assert (window.state.width, window.state.level) == (1234.0, -321.0)
    mid = window.axial.image_item.image
    assert mid.max() <= 255


def test_click_in_coronal_moves_the_axial_slice_and_crosshair(make_window):
    window = make_window()
    coronal = window.coronal
    # scene position of voxel row 2 (slice 2), column 40
    from PySide6.QtCore import QPointF

    scene = coronal.image_item.mapToScene(QPointF(40.5, 2.5))
    point = coronal.mapFromScene(scene)
    click(coronal, (point.x(), point.y()))
    z, y, x = window.state.cursor
    assert (z, x) == (2, 40)
    assert y == 32  # the coronal plane itself did not move


def test_reformats_keep_the_true_aspect_of_thick_slices(make_window):
    window = make_window()
    from PySide6.QtCore import QPointF

    coronal = window.coronal
    # one slice (2.5 mm) must be drawn 2.5/0.7 times as tall as one pixel (0.7 mm) is wide
    a = coronal.mapFromScene(coronal.image_item.mapToScene(QPointF(0, 0)))
    b = coronal.mapFromScene(coronal.image_item.mapToScene(QPointF(10, 10)))
    ratio = abs(b.y() - a.y()) / abs(b.x() - a.x())
    assert ratio == pytest.approx(2.5 / 0.7, rel=0.05)
    # and the head is at the top: slice 11 (highest z, superior) above slice 0
    top = coronal.mapFromScene(coronal.image_item.mapToScene(QPointF(0, 11)))
    assert top.y() < a.y()
    assert coronal._letters["top"] == "S"


def test_hover_reports_hu_and_patient_position(make_window, qtbot):
    window = make_window()
    window.axial.hovered.emit(6, 20, 40, 120)
    text = window.hover_label.text()
    assert "120 HU" in text and "slice 7" in text
    assert "(6.0, -8.0, -85.0) mm" in text


def test_corner_text_hides_the_patient_name_until_asked(make_window):
    window = make_window()
    lines = window._axial_corner_lines(window.axial)
    assert "Doe^Jane" not in str(lines)
    assert "Slice 7/12" in str(lines) and "z -85.0 mm" in str(lines)
    window.patient_name_action.trigger()
    assert "Doe^Jane" in str(window._axial_corner_lines(window.axial))


def test_scale_bar_is_a_round_length_matching_the_zoom(make_window):
    window = make_window()
    length_mm, length_px = window.axial.scale_bar_mm()
    assert length_mm in (1, 2, 5, 10, 20, 50)
    mm_per_px = window.axial.view_box.viewPixelSize()[0]
    assert length_px * mm_per_px == pytest.approx(length_mm)


def test_a_fitted_view_stays_fitted_when_the_window_resizes(make_window, qtbot):
    window = make_window()
    assert window.axial.zoom() == pytest.approx(1.0, abs=0.02)
    window.resize(900, 600)
    qtbot.wait(50)
    assert window.axial.zoom() == pytest.approx(1.0, abs=0.02)
    wheel(window.axial, -2, Qt.ControlModifier)
    zoomed = window.axial.zoom()
    assert zoomed > 1.1 and not window.axial.fitted
    qtbot.keyClick(window.axial, Qt.Key_Space)  # reset
    assert window.axial.zoom() == pytest.approx(1.0, abs=0.02)
