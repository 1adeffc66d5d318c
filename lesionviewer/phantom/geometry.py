"""The body outline's radius maps on a canvas, computed once and shared by the painters.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> from lesionviewer.phantom.canvas import Canvas
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> c = Canvas(np.array([0.0]), np.arange(-200.0, 200.0, 4.0), np.arange(-250.0, 250.0, 4.0))
    >>> sorted(body_geometry(c, a))[:3]
    ['cavity', 'cavity_axes', 'fat']
"""
from __future__ import annotations

import numpy as np

from lesionviewer.phantom.canvas import Canvas


def body_geometry(canvas: Canvas, a) -> dict:
    """Radius maps of the skin, fat, muscle and cavity outlines, computed once per 3 mm of z and shared.

    The outline changes by at most a millimetre or two over 3 mm of z, so the sub-slices of a
    slice share these maps; ``index`` maps each canvas z to its row of the maps.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([0.0, 0.5, 9.0]), np.arange(-200.0, 200.0, 4.0), np.arange(-250.0, 250.0, 4.0))
        >>> g = body_geometry(c, a)
        >>> g["index"].tolist(), g["skin"].shape[0]
        ([0, 0, 1], 2)
    """
    if "geometry" in canvas.cache:
        return canvas.cache["geometry"]
    zq = np.round(canvas.zs / 3.0) * 3.0
    uniq, index = np.unique(zq, return_inverse=True)
    x = canvas.xs[None, None, :]
    y = canvas.ys[None, :, None]
    w, ant, post = (v[:, None, None] for v in a.body_axes(uniq))
    sk = np.float32(a.skin_mm)
    sf = sk + np.float32(a.fat_mm)
    cw, cant, cpost = (v[:, None, None] for v in a.cavity_axes(uniq))
    geometry = {
        "index": index,
        "z": uniq.astype(np.float32),
        "skin": a.rho(x, y, (w, ant, post)),
        "fat": a.rho(x, y, (w - sk, ant - sk, post - sk)),
        "muscle": a.rho(x, y, (w - sf, ant - sk - np.float32(a.fat_anterior_mm), post - sf)),
        "cavity": a.rho(x, y, (cw, cant, cpost)),
        "cavity_axes": (cw, cant, cpost),
    }
    canvas.cache["geometry"] = geometry
    return geometry


def wall_coordinates(canvas: Canvas, a) -> tuple[np.ndarray, np.ndarray]:
    """Angle around the trunk (0 at the spine, pi at the sternum; 2-D) and signed mm outside the cavity wall (per map row).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([0.0]), np.arange(-200.0, 200.0, 4.0), np.arange(-250.0, 250.0, 4.0))
        >>> theta, radial = wall_coordinates(c, a)
        >>> theta.shape, radial.shape
        ((100, 125), (1, 100, 125))
    """
    if "wall" in canvas.cache:
        return canvas.cache["wall"]
    g = body_geometry(canvas, a)
    dx = canvas.xs[None, :] - np.float32(a.centre_x)
    dy = canvas.ys[:, None] - np.float32(a.centre_y)
    theta = np.arctan2(np.abs(dx), dy)
    cw, cant, cpost = g["cavity_axes"]
    depth = np.where(dy[None] < 0, cant, cpost)
    local_radius = np.sqrt((cw * np.sin(theta)[None]) ** 2 + (depth * np.cos(theta)[None]) ** 2)
    radial = (g["cavity"] - 1.0) * local_radius
    canvas.cache["wall"] = (theta, radial)
    return theta, radial
