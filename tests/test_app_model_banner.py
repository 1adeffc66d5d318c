"""The image area says when the active detector was trained without (enough) real annotated lesions."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from test_app_fakes import make_window, message_boxes  # noqa: E402,F401


def _model_file(folder, name, real_lesions=None):
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    card = {"name": name, "slice_interval_mm": 2.5, "input_min_size": 64, "input_max_size": 64}
    if real_lesions is not None:
        card["training_data"] = {"real_lesions": real_lesions}
    path = folder / f"{name}.safetensors"
    save_model(path, net, card)
    return path


def _banner_pixels(window) -> int:
    """Amber pixels in the top band of the axial view as painted on screen."""
    window.axial.resize(400, 300)
    image = window.axial.grab().toImage()
    amber = 0
    for y in range(0, 110):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if c.red() > 230 and 150 < c.green() < 200 and c.blue() < 40:
                amber += 1
    return amber


def test_a_model_without_real_lesions_gets_a_banner_in_the_image_and_a_real_one_does_not(make_window, tmp_path):
    window = make_window()
    assert window.use_model(str(_model_file(tmp_path, "synthetic-only")), show_card=False)
    assert window.axial.banner_text == ("Demonstration model: not for diagnosis "
                                        "(trained without real annotated lesions)")
    with_banner = _banner_pixels(window)
    assert window.use_model(str(_model_file(tmp_path, "few-real", real_lesions=2)), show_card=False)
    assert "trained on 2 real annotated lesions" in window.axial.banner_text
    assert window.use_model(str(_model_file(tmp_path, "deeplesion", real_lesions=22919)), show_card=False)
    assert window.axial.banner_text == ""
    assert with_banner > 20 * max(_banner_pixels(window), 1)


def test_the_shipped_default_model_is_marked_as_a_demonstration(make_window):
    from lesionviewer.detection.default_model import default_detector_file
    from lesionviewer.detection.model_file import read_card
    from lesionviewer.detection.model_status import demonstration_reason

    window = make_window()
    path = default_detector_file()
    assert window.use_model(str(path), show_card=False)
    assert window.axial.banner_text == demonstration_reason(read_card(path))
    assert window.axial.banner_text.startswith("Demonstration model: not for diagnosis")
