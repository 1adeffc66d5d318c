"""The series browser never shows two identical rows without saying why, and splits uneven series only on request."""
from __future__ import annotations

import numpy as np

from lesionviewer.io import Volume, find_series, write_dicom_series
from test_io_uneven_series import two_image_types_of_one_uid


def test_two_parts_of_one_series_have_distinct_rows_that_say_why(qtbot, tmp_path):
    from lesionviewer_app.series_browser import SeriesBrowser

    two_image_types_of_one_uid(tmp_path)
    browser = SeriesBrowser(find_series(tmp_path))
    qtbot.addWidget(browser)
    names = [item.text(0) for item in browser._series_items()]
    assert len(names) == 2 and names[0] != names[1]
    assert all("of one series: image type" in name for name in names)
    assert all(item.toolTip(0) for item in browser._series_items())


def test_an_uneven_series_is_one_row_until_the_user_splits_it(qtbot, tmp_path):
    from lesionviewer_app.series_browser import SeriesBrowser

    origins = [[0.0, 0.0, z] for z in (0, 2, 4, 6, 11, 16, 21)]
    write_dicom_series(Volume(np.zeros((7, 8, 8), np.int16), (3.5, 1, 1), slice_origins=origins), tmp_path,
                       series_description="Head")
    browser = SeriesBrowser(find_series(tmp_path))
    qtbot.addWidget(browser)
    rows = [(item.text(0), item.text(1), item.text(3)) for item in browser._series_items()]
    assert rows == [("Head", "7", "uneven 2-5 x 1 x 1 mm")]
    assert browser.split_box.isEnabled()
    browser.split_box.setChecked(True)
    rows = [(item.text(0), item.text(1)) for item in browser._series_items()]
    assert [count for _, count in rows] == ["4", "3"]
    assert rows[0][0] != rows[1][0] and "part 1 of 2" in rows[0][0]
    browser._accept_item(browser._series_items()[1])
    assert browser.chosen.num_slices == 3


def test_a_preview_arriving_after_the_browser_is_deleted_is_dropped(qtbot, tmp_path):
    import shiboken6

    from lesionviewer_app.series_browser import SeriesBrowser

    write_dicom_series(Volume(np.zeros((3, 8, 8), np.int16), (2.0, 1.0, 1.0)), tmp_path / "a", series_description="A")
    browser = SeriesBrowser(find_series(tmp_path))
    browser.tree.setCurrentItem(browser.tree.topLevelItem(0))
    shiboken6.delete(browser)  # closed and deleted while its thumbnail was still being decoded
    browser._show_thumbnail(0, np.zeros((8, 8), np.int16))  # the late result must not raise
    assert not shiboken6.isValid(browser)
