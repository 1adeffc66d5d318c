"""Small-bowel loops and the colon: the round, fluid- or gas-filled shapes that fill the abdominal fat.

Loops are smooth random walks through the lower abdomen; the colon frames them (ascending,
transverse, descending). They are painted only over abdominal fat, so organs keep their shape,
and they are the main look-alike of lymph nodes and abdominal lesions that a detector meets.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> loops = a.organs["bowel"]
    >>> bool(len(loops) > 5), sorted(loops[0])
    (True, ['content', 'points', 'radius'])
"""
from __future__ import annotations

import numpy as np

from lesionviewer.phantom.tissues import TISSUES


def plan_bowel(anatomy, rng: np.random.Generator) -> list[dict]:
    """Centre lines, radii and contents ("fluid", "mixed", "gas", "stool") of bowel loops and colon.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(2))
        >>> {loop["content"] for loop in a.organs["bowel"]} <= {"fluid", "mixed", "gas", "stool"}
        True
    """
    a = anatomy
    s = a.scale
    loops: list[dict] = []
    z_hi, z_lo = -105.0 * s, -420.0 * s
    for _ in range(int(rng.integers(18, 28))):
        z = float(rng.uniform(z_lo + 20, z_hi - 20))
        w, ant, post = (float(v[0]) for v in a.cavity_axes(np.array([z], np.float32)))
        x = a.centre_x + float(rng.uniform(-0.6, 0.6)) * w
        y = a.centre_y - float(rng.uniform(0.0, 0.75)) * ant
        d = rng.normal(0, 1, 3)
        pts = []
        for _ in range(int(rng.integers(12, 26))):
            pts.append((x, y, z))
            d = d / (np.linalg.norm(d) or 1.0) + rng.normal(0, 0.55, 3)
            d /= np.linalg.norm(d) or 1.0
            x, y, z = x + 8.0 * d[0], y + 8.0 * d[1], z + 8.0 * d[2]
            # keep the loop inside the front of the lower abdomen
            w, ant, post = (float(v[0]) for v in a.cavity_axes(np.array([z], np.float32)))
            x = float(np.clip(x, a.centre_x - 0.7 * w, a.centre_x + 0.7 * w))
            y = float(np.clip(y, a.centre_y - 0.85 * ant, a.centre_y + 0.2 * post))
            z = float(np.clip(z, z_lo, z_hi))
        content = str(rng.choice(["fluid", "mixed", "gas"], p=[0.45, 0.45, 0.1]))
        loops.append({"points": pts, "radius": float(rng.uniform(8.0, 14.0)), "content": content})
    # colon: ascending on the right, transverse across the front, descending on the left
    z_t = float(rng.uniform(-135.0, -100.0)) * s
    w, ant, post = (float(v[0]) for v in a.cavity_axes(np.array([z_t], np.float32)))
    cx, cy = a.centre_x, a.centre_y
    r = float(rng.uniform(17.0, 24.0))
    colon = [
        (cx - 0.68 * w, cy + 0.05 * post, -430.0 * s),
        (cx - 0.7 * w, cy - 0.1 * ant, -300.0 * s),
        (cx - 0.62 * w, cy - 0.3 * ant, z_t),
        (cx, cy - 0.72 * ant, z_t - 25.0 * s),
        (cx + 0.62 * w, cy - 0.25 * ant, z_t + 20.0 * s),
        (cx + 0.72 * w, cy + 0.15 * post, -260.0 * s),
        (cx + 0.6 * w, cy + 0.1 * post, -400.0 * s),
        (cx + 0.2 * w, cy - 0.2 * ant, -450.0 * s),
    ]
    loops.append({"points": colon, "radius": r, "content": "stool"})
    return loops


def paint_bowel(canvas, anatomy) -> None:
    """Paint the planned loops (wall, then contents) over abdominal fat only.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> from lesionviewer.phantom.render import paint_body_wall
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([-250.0]), np.arange(-200.0, 200.0, 3.0), np.arange(-250.0, 250.0, 3.0))
        >>> paint_body_wall(c, a)
        >>> paint_bowel(c, a)
        >>> bool((c.label == TISSUES["bowel_wall"].label).sum() > 20)
        True
    """
    a = anatomy
    fillable = np.array([TISSUES["fat_visceral"].label, TISSUES["bowel_wall"].label], np.uint8)
    z0, z1 = float(canvas.zs[0]), float(canvas.zs[-1])
    wall_hu = a.hu["bowel_wall"]
    for loop in a.organs.get("bowel", []):
        r = loop["radius"]
        content = loop["content"]
        pts = loop["points"]
        segments = []
        for p0, p1 in zip(pts[:-1], pts[1:]):
            reach = r + 2.5
            if max(p0[2], p1[2]) + reach < z0 or min(p0[2], p1[2]) - reach > z1:
                continue
            bbox = (min(p0[0], p1[0]) - reach, max(p0[0], p1[0]) + reach, min(p0[1], p1[1]) - reach, max(p0[1], p1[1]) + reach, min(p0[2], p1[2]) - reach, max(p0[2], p1[2]) + reach)
            region = canvas.region(bbox)
            if not region.empty:
                segments.append((region, region.capsule_distance(p0, p1), 0.5 * (p0[1] + p1[1])))
        # all walls first, then all contents, so one segment's wall never cuts across the next one's lumen
        for region, d, _ in segments:
            region.paint((d <= r + 2.5) & np.isin(region.label, fillable), wall_hu, TISSUES["bowel_wall"].label)
        for region, d, mid_y in segments:
            lumen = (d <= r) & np.isin(region.label, fillable)
            if content == "fluid":
                region.paint(lumen, a.hu["fluid"] + 8.0, TISSUES["bowel_wall"].label)
            elif content == "mixed":
                region.paint(lumen, a.hu["fluid"] + 25.0, TISSUES["bowel_wall"].label)
            elif content == "gas":
                region.paint(lumen, a.hu["air"], TISSUES["bowel_wall"].label)
            else:
                # stool (mottled later by the tissue texture) with a gas cap towards the front
                region.paint(lumen, a.hu["stool"] + 60.0, TISSUES["stool"].label)
                region.paint(lumen & (region.y < mid_y - 0.35 * r), a.hu["air"], TISSUES["stool"].label)
