"""FROC curve figures as PNG files, drawn off-screen (matplotlib's Agg canvas, no display, no pyplot).

Example:
    >>> import numpy as np, tempfile, os
    >>> from lesionviewer.evaluation.froc import froc
    >>> r = froc([np.array([[0, 0, 4, 4, 0.9], [9, 9, 12, 12, 0.5]])], [np.array([[0, 0, 4, 4]])])
    >>> path = os.path.join(tempfile.mkdtemp(), "froc.png")
    >>> plot_froc(r, path) == path, open(path, "rb").read(4) == b"\\x89PNG"
    (True, True)
"""
from __future__ import annotations

import io
import os
from collections.abc import Mapping

import numpy as np

from lesionviewer.evaluation.froc import FROCResult
from lesionviewer.util.atomic import atomic_write_bytes


def plot_froc(results: FROCResult | Mapping[str, FROCResult], path: str | os.PathLike, title: str | None = None,
              max_fp: float = 16.0, dpi: int = 120) -> str:
    """Draw one FROC curve (or several, as ``{"label": result}``) to a PNG at ``path``; returns the path.

    The x axis is FPs per image on a log scale (0.125 .. ``max_fp``), the curve a step function
    (sensitivity holds between thresholds), with markers at each result's requested FP rates and
    its mean sensitivity in the legend. The file is replaced atomically.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from lesionviewer.evaluation.froc import froc
        >>> r = froc([np.zeros((0, 5))], [np.array([[0, 0, 4, 4]])])
        >>> os.path.getsize(plot_froc({"empty": r}, os.path.join(tempfile.mkdtemp(), "f.png"))) > 1000
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = {"detector": results} if isinstance(results, FROCResult) else dict(results)
    if not curves:
        raise ValueError("plot_froc needs at least one FROC result")
    figure = Figure(figsize=(6, 4.5), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    min_fp = 0.125
    for label, result in curves.items():
        fps = np.append(result.curve_fps_per_image, max_fp)  # the final sensitivity holds to the right edge
        sens = np.append(result.curve_sensitivity, result.curve_sensitivity[-1])
        fps = np.clip(fps, min_fp, None)  # the log axis cannot show 0 FPs; those points sit at its left edge
        mean = result.mean_sensitivity
        name = f"{label} (mean {mean:.3f})" if np.isfinite(mean) else label
        line, = axes.step(fps, sens, where="post", label=name)
        axes.plot(result.fps, result.sensitivities, "o", color=line.get_color(), markersize=4)
    axes.set_xscale("log", base=2)
    axes.set_xlim(min_fp, max_fp)
    axes.set_ylim(0.0, 1.0)
    axes.set_xlabel("False positives per image")
    axes.set_ylabel("Sensitivity")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    if title:
        axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
    return os.fspath(path)
