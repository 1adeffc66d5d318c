import numpy as np
import pytest

from lesionviewer.detection.finding import Finding
from lesionviewer.io import Volume


def test_index_and_patient_coordinates_round_trip_with_oblique_direction():
    angle = np.deg2rad(20)
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    vol = Volume(np.zeros((4, 5, 6), np.int16), (2.5, 0.7, 0.8), origin=(-100, 50, 12), direction=direction)
    point = vol.index_to_patient(3, 2, 5)
    assert np.allclose(vol.patient_to_index(point), [3, 2, 5])
    assert point[2] == pytest.approx(12 + 3 * 2.5)


def test_volume_rejects_non_3d_arrays():
    with pytest.raises(ValueError, match="3-D"):
        Volume(np.zeros((4, 4), np.int16), (1, 1, 1))


def test_finding_millimetres_follow_the_volume_geometry():
    vol = Volume(np.zeros((10, 100, 100), np.int16), (5.0, 0.7, 0.6), origin=(-30, -35, -400))
    f = Finding.from_pixel_box(vol, 4, (10, 20, 40, 30), 0.8, "m")
    assert f.width_mm == pytest.approx(18.0)
    assert f.height_mm == pytest.approx(7.0)
    assert f.long_axis_mm == pytest.approx(18.0) and f.short_axis_mm == pytest.approx(7.0)
    assert f.z_mm == pytest.approx(-380.0)
    assert f.center_mm[0] == pytest.approx(-30 + (25 - 0.5) * 0.6)  # box frame: pixel i spans [i, i+1)
    assert Finding.from_dict(f.to_dict()) == f
