"""Bones: vertebrae with discs and posterior arches, ribs with costal cartilage, sternum, iliac wings.

Ribs are painted for all twelve pairs at once: a point's angle around the chest tells how far
down the rib has sloped there, so ``(z + slope) / pitch`` rounds to the rib it could belong to.
That keeps the cost to one pass per slice instead of one per rib.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> from lesionviewer.phantom.canvas import Canvas
    >>> a = sample_anatomy(np.random.default_rng(0))
    >>> c = Canvas(np.array([-200.0]), np.arange(-200.0, 200.0, 2.0), np.arange(-250.0, 250.0, 2.0))
    >>> paint_spine(c, a)
    >>> bool((c.hu > 200).sum() > 50)
    True
"""
from __future__ import annotations

import numpy as np

from lesionviewer.phantom.geometry import body_geometry, wall_coordinates
from lesionviewer.phantom.tissues import TISSUES


def paint_spine(canvas, anatomy) -> None:
    """Vertebral bodies (cortex + marrow), discs, spinal canal, arches and processes along the whole z range.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.arange(-100.0, -40.0, 1.0), np.arange(-150.0, 150.0, 3.0), np.arange(-60.0, 60.0, 3.0))
        >>> paint_spine(c, a)
        >>> labels = set(np.unique(c.label).tolist())
        >>> {TISSUES["disc"].label, TISSUES["bone_marrow"].label} <= labels
        True
    """
    a = anatomy
    hu = a.hu
    z = canvas.zs
    lat, ap = a.vertebral_radii(z)
    yc = a.spine_y(z)
    level = _vertebral_level(a, z)
    frac = (level - np.floor(level)).astype(np.float32)
    lat3, ap3, yc3, frac3 = (v[:, None, None] for v in (lat, ap, yc, frac))
    x0 = np.float32(a.centre_x)
    region = canvas.region((a.centre_x - 70.0, a.centre_x + 70.0, float(yc.min() - 30.0), float(yc.max() + 75.0), -1e9, 1e9))
    if region.empty:
        return
    y = region.y
    x = region.x
    dx = (x - x0) / lat3
    dy = (y - yc3) / ap3
    e = np.sqrt(dx * dx + dy * dy)
    disc = frac3 < 0.16
    body = e <= 1.0
    region.paint(body & disc, hu["disc"], TISSUES["disc"].label)
    bone = body & ~disc
    region.paint(bone & (e > 1.0 - 2.2 / ap3), hu["bone_cortical"], TISSUES["bone_cortical"].label)
    region.paint(bone & (e <= 1.0 - 2.2 / ap3), hu["bone_marrow"], TISSUES["bone_marrow"].label)
    # spinal canal behind the body, ringed by the arch where the level has one
    canal_y = yc3 + ap3 + 9.0
    r = np.sqrt((x - x0) ** 2 + ((y - canal_y) * 1.1) ** 2)
    arch = (frac3 > 0.3) & (frac3 < 0.85)
    ring = (r > 8.0) & (r < 14.0) & arch & (y > yc3 + ap3 * 0.6)
    region.paint(ring, hu["bone_cortical"] * 0.8, TISSUES["bone_cortical"].label)
    spinous = arch & (np.abs(x - x0) < 4.5 - (y - canal_y - 10.0) * 0.1) & (y > canal_y + 10.0) & (y < canal_y + 34.0)
    region.paint(spinous, hu["bone_cortical"] * 0.75, TISSUES["bone_cortical"].label)
    reach = lat3 * 0.5 + np.where(z[:, None, None] < -170.0 * a.scale, 30.0, 14.0)
    transverse = (frac3 > 0.45) & (frac3 < 0.65) & (np.abs(y - canal_y + 1.0 - np.abs(x - x0) * 0.25) < 4.0) & (np.abs(x - x0) < reach)
    region.paint(transverse & (r >= 8.0), hu["bone_cortical"] * 0.7, TISSUES["bone_cortical"].label)
    region.paint(r < 8.0, hu["csf"], TISSUES["csf"].label)


def _vertebral_level(a, z: np.ndarray) -> np.ndarray:
    """Continuous vertebral level at ``z``: thoracic levels are about 24 mm apart, lumbar ones 33 mm."""
    zz = np.asarray(z, dtype=np.float64) / a.scale
    knots = np.array([-600.0, -220.0, 0.0, 400.0])
    pitch = np.array([34.0, 33.0, 27.0, 22.0])
    fine = np.linspace(-600.0, 400.0, 401)
    levels = np.concatenate([[0.0], np.cumsum(np.diff(fine) / np.interp(fine[:-1], knots, pitch))])
    return np.interp(zz, fine, levels[-1] - levels).astype(np.float32) + np.float32(a.organs.get("level_phase", 0.37))


def paint_ribs(canvas, anatomy) -> None:
    """Twelve rib pairs sloping down from the spine to the front, costal cartilage at their anterior ends.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.arange(60.0, 120.0, 2.0), np.arange(-200.0, 200.0, 4.0), np.arange(-250.0, 250.0, 4.0))
        >>> paint_ribs(c, a)
        >>> bool((c.label == TISSUES["bone_cortical"].label).sum() > 100)
        True
    """
    a = anatomy
    s = a.scale
    ribs = a.organs.get("ribs") or {"top": 235.0 * s, "pitch": 24.0 * s, "drop": 170.0 * s, "theta0": 0.32}
    zs = canvas.zs
    if zs.max() < ribs["top"] - 11 * ribs["pitch"] - ribs["drop"] - 20 or zs.min() > ribs["top"] + 20:
        return
    theta, radial_all = wall_coordinates(canvas, a)
    index = body_geometry(canvas, a)["index"]
    t0 = ribs["theta0"]
    # ribs fall steeply from the spine and flatten towards the front
    t = np.clip((theta - t0) / (np.pi - t0), 0, 1)
    slope_2d = ribs["drop"] * (1.6 * t - 0.6 * t * t)
    cortex = np.float32(a.hu["bone_cortical"] * 0.85)
    marrow = np.float32(a.hu["bone_marrow"])
    for row in np.unique(index):
        radial = radial_all[row] - 5.0  # the rib's centre line runs 5 mm outside the cavity wall
        near = np.flatnonzero((np.abs(radial) < 4.0) & (theta > t0))
        if near.size == 0:
            continue
        r_near = radial.ravel()[near]
        th = theta.ravel()[near]
        slope = slope_2d.ravel()[near]
        for iz in np.flatnonzero(index == row):
            u = (ribs["top"] - (zs[iz] + slope)) / ribs["pitch"]
            k = np.rint(u)
            dz = (u - k) * ribs["pitch"]
            e = np.sqrt((r_near / 3.4) ** 2 + (dz / 4.5) ** 2)
            end = np.where(k < 7, 2.75, np.where(k < 10, 2.45, 1.75))
            cartilage_start = np.where(k < 10, end - 0.5, 9.0)
            rib = (e <= 1.0) & (k >= 0) & (k <= 11) & (th < end)
            if not rib.any():
                continue
            bone = rib & (th < cartilage_start)
            hu_plane = canvas.hu[iz].reshape(-1)
            label_plane = canvas.label[iz].reshape(-1)
            sel = near[bone]
            hu_plane[sel] = np.where(e[bone] > 0.55, cortex, marrow)
            label_plane[sel] = TISSUES["bone_cortical"].label
            sel = near[rib & ~bone]
            hu_plane[sel] = a.hu["cartilage"]
            label_plane[sel] = TISSUES["cartilage"].label


def paint_sternum_and_pelvis(canvas, anatomy) -> None:
    """The sternum in the front chest wall and the iliac wings along the back of the lower abdomen.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([-350.0 * a.scale]), np.arange(-200.0, 200.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_sternum_and_pelvis(c, a)
        >>> bool((c.label == TISSUES["bone_cortical"].label).sum() > 50)
        True
    """
    a = anatomy
    s = a.scale
    zs = canvas.zs
    in_sternum = (zs > 25.0 * s) & (zs < 205.0 * s)
    if in_sternum.any():
        _, ant, _ = a.cavity_axes(zs)
        yc = (np.float32(a.centre_y) - ant + 5.0)[:, None, None]
        region = canvas.region((a.centre_x - 20.0, a.centre_x + 20.0, float(yc.min()) - 10.0, float(yc.max()) + 10.0, -1e9, 1e9))
        if not region.empty:
            yc = yc[region.index[0]]
            e = np.sqrt(((region.x - np.float32(a.centre_x)) / 15.0) ** 2 + ((region.y - yc) / 6.0) ** 2)
            m = (e <= 1.0) & in_sternum[region.index[0], None, None]
            region.paint(m, np.where(e > 0.6, a.hu["bone_cortical"], a.hu["bone_marrow"]).astype(np.float32), TISSUES["bone_cortical"].label)
    top, bottom = -265.0 * s, -470.0 * s
    in_pelvis = (zs < top) & (zs > bottom)
    if in_pelvis.any():
        theta, radial_all = wall_coordinates(canvas, a)
        index = body_geometry(canvas, a)["index"]
        # the wing flares: thin and lateral at the crest, thicker and more medial lower down
        t = np.clip((top - zs) / (top - bottom), 0, 1)[:, None, None]
        radial = radial_all[index] + 8.0 + 22.0 * t
        half = 2.5 + 3.0 * t
        e = np.abs(radial) / half
        m = (e <= 1.0) & (theta > 0.7 + 0.1 * t) & (theta < 1.25 + 0.25 * t) & in_pelvis[:, None, None]
        region = canvas.region((-1e9, 1e9, -1e9, 1e9, -1e9, 1e9))
        region.paint(m, np.where(e > 0.7, a.hu["bone_cortical"], a.hu["bone_marrow"]).astype(np.float32), TISSUES["bone_cortical"].label)


def paint_scapulae(canvas, anatomy) -> None:
    """The shoulder blades: thin curved plates behind the upper ribs, in the muscle of the upper back.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([170.0 * a.scale]), np.arange(-200.0, 200.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_scapulae(c, a)
        >>> bool((c.label == TISSUES["bone_cortical"].label).sum() > 30)
        True
    """
    a = anatomy
    s = a.scale
    zs = canvas.zs
    top, bottom = 235.0 * s, 95.0 * s
    inside = (zs < top) & (zs > bottom)
    if not inside.any():
        return
    theta, radial_all = wall_coordinates(canvas, a)
    index = body_geometry(canvas, a)["index"]
    # 0 at the inferior angle, 1 at the spine of the scapula: the blade widens upwards
    t = np.clip((zs - bottom) / (top - bottom), 0, 1)[:, None, None]
    radial = radial_all[index] - (a.muscle_mm + 9.0)
    e = np.abs(radial) / (2.0 + 2.0 * t)
    lo = 0.55 - 0.1 * t
    hi = 0.75 + 0.55 * np.sqrt(t)
    m = (e <= 1.0) & (theta > lo) & (theta < hi) & inside[:, None, None]
    region = canvas.region((-1e9, 1e9, -1e9, 1e9, -1e9, 1e9))
    region.paint(m, np.where(e > 0.6, a.hu["bone_cortical"] * 0.9, a.hu["bone_marrow"]).astype(np.float32), TISSUES["bone_cortical"].label)
    # the muscles on the blade (subscapularis in front, infraspinatus behind) thicken the upper back wall
    muscle = (np.abs(radial) < 7.0 + 4.0 * t) & ~m & (theta > lo - 0.05) & (theta < hi + 0.05) & inside[:, None, None]
    muscle &= np.isin(region.label, np.array([TISSUES["fat"].label], np.uint8))
    region.paint(muscle, a.hu["muscle"], TISSUES["muscle"].label)

