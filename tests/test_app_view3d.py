"""The 3D view's scene: volume rendering and one marker per finding (built without a screen)."""
from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
pytest.importorskip("vtkmodules")

from lesionviewer.review.session import ReviewSession  # noqa: E402
from lesionviewer_app.view3d import Scene3D, downsample_factors  # noqa: E402
from test_app_fakes import SlowFakeDetector, small_volume  # noqa: E402


def test_scene_has_the_volume_and_one_marker_per_finding_at_its_centre():
    volume = small_volume()
    session = ReviewSession("1.2.3.4")
    session.add_findings(SlowFakeDetector().detect(volume, slices=[5, 6, 7]))
    scene = Scene3D()
    scene.set_volume(volume)
    scene.set_findings(session.findings())
    assert scene.volume_actor is not None
    assert scene.renderer.GetVolumes().GetNumberOfItems() == 1
    assert len(scene.marker_actors) == 3
    assert scene.renderer.GetActors().GetNumberOfItems() == 3
    # F1 is on slice 5 (the first slice); the centre of its box (36..44, 16..24) in mm from the first voxel
    bounds = scene.marker_actors["F1"].GetBounds()
    centre = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2]
    assert centre == pytest.approx([40 * 0.7, 20 * 0.7, 5.5 * 2.5], abs=0.2)
    scene.set_findings(session.findings()[:1])
    assert scene.renderer.GetActors().GetNumberOfItems() == 1


def test_large_volumes_are_subsampled_for_the_3d_view():
    assert downsample_factors((300, 512, 512)) == (2, 4, 4)
    assert downsample_factors((12, 64, 64)) == (1, 1, 1)


RENDER_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_app_fakes import SlowFakeDetector, small_volume
from lesionviewer.review.session import ReviewSession
from lesionviewer_app.view3d import Scene3D
volume = small_volume()
session = ReviewSession("1.2.3.5")
session.add_findings(SlowFakeDetector().detect(volume, slices=[6]))
scene = Scene3D()
scene.set_volume(volume)
scene.set_findings(session.findings())
picture = scene.render_to_array(200, 200)
x, y = scene.display_position("F1")
print(json.dumps({"shape": list(picture.shape), "max": int(picture.max()), "xy": [x, y],
                  "hit": scene.finding_at(x, y), "corner": scene.finding_at(2, 2)}))
"""


def test_scene_renders_off_screen_and_a_click_on_a_marker_names_its_finding():
    # In a child process: an OpenGL driver that crashes must not take the test run with it.
    import json
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-c", RENDER_SCRIPT, str(Path(__file__).parent)],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0 or not result.stdout.strip():
        pytest.skip(f"vtk cannot render off screen here (exit {result.returncode}): {result.stderr[-300:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["max"] == 0:
        pytest.skip("vtk rendered nothing off screen here (no usable OpenGL)")
    assert report["shape"] == [200, 200, 3]
    x, y = report["xy"]
    assert 0 <= x < 200 and 0 <= y < 200
    assert report["hit"] == "F1"
    assert report["corner"] is None  # a corner is background
