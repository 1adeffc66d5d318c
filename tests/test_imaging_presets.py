"""Window presets as data and the automatic window."""
import numpy as np
import pytest

from lesionviewer.imaging import HEADER_WINDOW_KEY, PRESET_KEYS, WINDOW_PRESETS, auto_window, preset_by_name


def test_presets_are_ohifs_set_with_keys_one_to_six():
    table = {(p.name, p.width, p.level, p.key) for p in WINDOW_PRESETS}
    assert table == {("Lung", 1500, -600, "1"), ("Soft tissue", 400, 40, "2"), ("Liver", 150, 90, "3"),
                     ("Bone", 2500, 480, "4"), ("Brain", 80, 40, "5"), ("Mediastinum", 350, 50, "6")}
    assert sorted(PRESET_KEYS) == ["1", "2", "3", "4", "5", "6"]
    assert HEADER_WINDOW_KEY not in PRESET_KEYS


def test_preset_lookup_by_name_is_case_insensitive_and_names_the_choices():
    assert preset_by_name(" BONE ").level == 480
    with pytest.raises(KeyError, match="Lung"):
        preset_by_name("kidney")


def test_auto_window_spans_percentiles_and_ignores_padding():
    rng = np.random.default_rng(1)
    body = rng.uniform(-200, 300, size=100_000)
    image = np.concatenate([body, np.full(50_000, -3024.0)])  # a third of the image is scanner padding
    width, level = auto_window(image)
    low, high = np.percentile(body, [1, 99])
    assert width == pytest.approx(high - low, rel=1e-2)
    assert level == pytest.approx((high + low) / 2, abs=5)


def test_auto_window_of_flat_image_has_unit_width():
    assert auto_window(np.full((4, 4), 40)) == (1.0, 40.0)


def test_auto_window_of_pure_padding_is_an_error():
    with pytest.raises(ValueError, match="padding"):
        auto_window(np.full((4, 4), -2048))
