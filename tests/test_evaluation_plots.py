"""FROC curve PNGs, drawn without a display."""
import numpy as np
from PIL import Image

from lesionviewer.evaluation import froc, plot_froc

A = [0, 0, 10, 10]


def test_plot_writes_a_png_of_the_requested_size(tmp_path):
    result = froc([np.array([A + [0.9], [50, 50, 60, 60, 0.4]]), np.zeros((0, 5))],
                  [np.array([A]), np.array([[20, 20, 30, 30]])])
    path = tmp_path / "curves" / "froc.png"
    path.parent.mkdir()
    assert plot_froc({"model a": result, "model b": result}, path, title="test") == str(path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (720, 540)
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # something was drawn
    assert [p.name for p in path.parent.iterdir()] == ["froc.png"]  # the atomic write left no temporary file
