"""Branching vessel trees for the lungs and the liver, and painting them as tubes.

Each tree starts at a hilum and splits in two at every generation, turning 20-45 degrees,
shortening and thinning by fixed ratios (Murray-like), and stops where a branch would
leave its organ. On an axial slice this gives what a detector must learn to ignore in the
lungs: bright dots and short branching lines that thin towards the pleura.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> seg = a.vessel_segments["lung"]
    >>> seg.shape[1], bool(len(seg) > 50)
    (7, True)
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def grow_tree(
    rng: np.random.Generator,
    root: tuple[float, float, float],
    direction: tuple[float, float, float] | np.ndarray,
    radius: float,
    length: float,
    generations: int,
    inside: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    min_radius: float = 0.6,
) -> np.ndarray:
    """Segments ``(x0, y0, z0, x1, y1, z1, radius)`` of a binary tree that stays where ``inside`` is true.

    Example:
        >>> import numpy as np
        >>> everywhere = lambda x, y, z: np.ones(np.shape(x), bool)
        >>> seg = grow_tree(np.random.default_rng(0), (0, 0, 0), (1, 0, 0), 4.0, 20.0, 3, everywhere)
        >>> seg.shape
        (15, 7)
    """
    out: list[tuple[float, ...]] = []
    frontier = [(np.asarray(root, float), _unit(np.asarray(direction, float)), radius, length)]
    for generation in range(generations + 1):
        if not frontier:
            break
        starts = np.array([f[0] for f in frontier])
        dirs = np.array([f[1] for f in frontier])
        radii = np.array([f[2] for f in frontier])
        lengths = np.array([f[3] for f in frontier]) * rng.uniform(0.75, 1.25, len(frontier))
        ends = starts + dirs * lengths[:, None]
        # the root may start outside (at the hilum); later branches must end inside the organ
        ok = inside(ends[:, 0], ends[:, 1], ends[:, 2]) if generation > 0 else np.ones(len(frontier), bool)
        nxt = []
        for start, end, d, r, keep in zip(starts, ends, dirs, radii, ok):
            if not keep:
                continue
            out.append((*start, *end, r))
            if generation == generations or r * 0.78 < min_radius:
                continue
            for sign in (-1.0, 1.0):
                child = _turn(rng, d, sign * rng.uniform(0.35, 0.8))
                nxt.append((end, child, r * rng.uniform(0.7, 0.85), np.linalg.norm(end - start) * rng.uniform(0.72, 0.9)))
        frontier = nxt
    return np.array(out, dtype=np.float32).reshape(-1, 7)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) or 1.0)


def _turn(rng: np.random.Generator, d: np.ndarray, angle: float) -> np.ndarray:
    """``d`` turned by ``angle`` radians about a random axis perpendicular to it."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    p1 = _unit(np.cross(d, helper))
    p2 = np.cross(d, p1)
    phi = rng.uniform(0, 2 * np.pi)
    axis = np.cos(phi) * p1 + np.sin(phi) * p2
    return _unit(np.cos(angle) * d + np.sin(angle) * axis)


def grow_vessel_trees(anatomy, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The lung arterial/venous trees from both hila and the portal/hepatic trees of the liver.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> trees = sample_anatomy(np.random.default_rng(5)).vessel_segments
        >>> sorted(trees)
        ['liver', 'lung']
    """
    a = anatomy
    s = a.scale
    hy = a.organs["heart"]["centre"][1]
    lung = []
    for sign in (-1.0, 1.0):
        hilum = (a.centre_x + sign * 58.0 * a.width, hy + 32.0, 98.0 * s)
        for direction in ((sign, 0.1, 0.9), (sign, -0.5, 0.1), (sign, 0.3, -0.3), (sign * 0.4, 0.8, -0.7), (sign * 0.6, -0.4, -0.8), (sign, 0.6, 0.4)):
            d = np.asarray(direction) + rng.normal(0, 0.15, 3)
            lung.append(grow_tree(rng, hilum, d, float(rng.uniform(3.2, 4.5)), 38.0 * s, 6, a.lung_mask))
    liver_inside = _liver_points(a)
    porta = (a.centre_x - 40.0 * a.width, a.organs["liver_right"]["centre"][1] - 20.0, -78.0 * s)
    liver = []
    for direction in ((-1.0, 0.2, 0.5), (-0.8, 0.6, -0.2), (0.8, -0.7, 0.3), (-0.3, -0.6, -0.5)):
        liver.append(grow_tree(rng, porta, np.asarray(direction) + rng.normal(0, 0.1, 3), 5.0, 30.0 * s, 4, liver_inside))
    return {"lung": np.concatenate(lung), "liver": np.concatenate(liver)}


def _liver_points(a) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    def inside(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        result = np.zeros(np.shape(x), bool)
        for name in ("liver_right", "liver_left"):
            o = a.organs[name]
            c, r = o["centre"], o["radii"]
            q = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2
            result |= q < 0.8
        return result & (z < a.dome_z(x, y) - 5.0)

    return inside


def paint_segments(canvas, segments: np.ndarray, hu: float, label: int, within_label: int | None = None) -> None:
    """Paint tubes (segments as from :func:`grow_tree`) with partial-volume-free HU, optionally only over ``within_label``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> c = Canvas(np.zeros(1), np.arange(-5.0, 6.0), np.arange(-5.0, 6.0), fill_hu=-850)
        >>> paint_segments(c, np.array([[-5, 0, 0, 5, 0, 0, 1.0]], np.float32), 150.0, 7)
        >>> int((c.hu == 150).sum())
        33
    """
    if len(segments) == 0:
        return
    z0, z1 = float(canvas.zs[0]), float(canvas.zs[-1])
    lo = np.minimum(segments[:, 2], segments[:, 5]) - segments[:, 6]
    hi = np.maximum(segments[:, 2], segments[:, 5]) + segments[:, 6]
    for seg in segments[(hi >= z0) & (lo <= z1)]:
        p0, p1, r = seg[:3], seg[3:6], float(seg[6])
        bbox = (
            min(p0[0], p1[0]) - r, max(p0[0], p1[0]) + r,
            min(p0[1], p1[1]) - r, max(p0[1], p1[1]) + r,
            min(p0[2], p1[2]) - r, max(p0[2], p1[2]) + r,
        )
        region = canvas.region(bbox)
        if region.empty:
            continue
        mask = region.capsule_distance(p0, p1) <= r
        if within_label is not None:
            mask &= region.label == within_label
        region.paint(mask, hu, label)
