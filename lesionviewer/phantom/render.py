"""Painting a patient's anatomy onto a canvas of fine voxels, back to front.

Order matters: the table, then the body wall (skin, fat, muscle), the cavity fat, the lungs,
the heart and great vessels, the abdominal organs, bowel, bones, and last the small vessels
that may only run inside their organ.

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.anatomy import sample_anatomy
    >>> from lesionviewer.phantom.canvas import Canvas
    >>> a = sample_anatomy(np.random.default_rng(0), phase="portal")
    >>> c = Canvas(np.array([-80.0]), np.arange(-220.0, 220.0, 4.0), np.arange(-250.0, 250.0, 4.0))
    >>> paint_anatomy(c, a)
    >>> liver = c.hu[c.label == TISSUES["liver"].label]
    >>> 60 < float(np.median(liver)) < 160
    True
"""
from __future__ import annotations

import numpy as np

from lesionviewer.phantom.bowel import paint_bowel
from lesionviewer.phantom.canvas import Canvas, rotation_matrix
from lesionviewer.phantom.geometry import body_geometry, wall_coordinates
from lesionviewer.phantom.skeleton import paint_ribs, paint_scapulae, paint_spine, paint_sternum_and_pelvis
from lesionviewer.phantom.tissues import TISSUES
from lesionviewer.phantom.vessels import paint_segments

_ALL = (-1e9, 1e9, -1e9, 1e9, -1e9, 1e9)


def paint_anatomy(canvas: Canvas, anatomy, detail: bool = True) -> None:
    """Paint every structure of ``anatomy`` that crosses the canvas; ``detail=False`` skips small vessels and bowel.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([80.0]), np.arange(-220.0, 220.0, 4.0), np.arange(-250.0, 250.0, 4.0))
        >>> paint_anatomy(c, a, detail=False)
        >>> bool((c.label == TISSUES["lung"].label).sum() > 500)
        True
    """
    a = anatomy
    paint_table(canvas, a)
    paint_body_wall(canvas, a)
    paint_lungs(canvas, a)
    paint_back_muscles(canvas, a)
    paint_heart(canvas, a)
    paint_abdomen(canvas, a)
    if detail:
        paint_bowel(canvas, a)
    paint_tubes(canvas, a)
    paint_kidneys(canvas, a)
    if detail:
        paint_segments(canvas, a.vessel_segments["liver"], a.hu["vein"], TISSUES["blood"].label, TISSUES["liver"].label)
    paint_spine(canvas, a)
    paint_ribs(canvas, a)
    paint_sternum_and_pelvis(canvas, a)
    paint_scapulae(canvas, a)
    if detail:
        paint_segments(canvas, a.vessel_segments["lung"], a.hu["blood_pulmonary"] * 0.6 + 20.0, TISSUES["blood"].label, TISSUES["lung"].label)


def paint_table(canvas: Canvas, a) -> None:
    """The curved carbon-fibre table top (two thin shells around foam) and a thin mattress under the back.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([0.0]), np.arange(-250.0, 250.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_table(c, a)
        >>> bool((c.label == TISSUES["table"].label).any())
        True
    """
    back = float(a.centre_y + a.body_axes(np.array([0.0], np.float32))[2][0])
    pad = a.organs.setdefault("pad_mm", 4.0)
    x = canvas.xs[None, :]
    y = canvas.ys[:, None]
    dx = x - np.float32(a.centre_x)
    surface = np.float32(back + pad) + np.float32(0.00035) * dx * dx
    depth = y - surface
    inside = np.abs(dx) < 235.0
    # at least a pixel thick, so coarse (small-mode) images show a line, not dashes
    t = max(2.0, 1.2 * float(abs(canvas.ys[1] - canvas.ys[0]))) if canvas.ys.size > 1 else 2.0
    shell = inside & (((depth >= 0) & (depth < t)) | ((depth >= 30.0) & (depth < 30.0 + t)))
    foam = inside & (depth >= t) & (depth < 30.0)
    mattress = (np.abs(dx) < 215.0) & (depth < 0) & (depth >= -pad)
    region = canvas.region(_ALL)
    region.paint(foam[None], a.hu["foam"], TISSUES["foam"].label)
    region.paint(shell[None], a.hu["table"], TISSUES["table"].label)
    region.paint(mattress[None], a.hu["foam"] + 120.0, TISSUES["foam"].label)


def paint_body_wall(canvas: Canvas, a) -> None:
    """Skin, subcutaneous fat, muscle, and the fat filling the cavity (mediastinal above the diaphragm).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([-150.0]), np.arange(-250.0, 250.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_body_wall(c, a)
        >>> bool((c.label == TISSUES["fat"].label).sum() > 100 and (c.label == TISSUES["muscle"].label).sum() > 100)
        True
    """
    g = body_geometry(canvas, a)
    i = g["index"]
    region = canvas.region(_ALL)
    region.paint(g["skin"][i] <= 1.0, a.hu["skin"], TISSUES["skin"].label)
    region.paint(g["fat"][i] <= 1.0, a.hu["fat"], TISSUES["fat"].label)
    muscle = g["muscle"][i] <= 1.0
    region.paint(muscle, a.hu["muscle"], TISSUES["muscle"].label)
    # fat planes between the layers of the side wall (the obliques) and the linea alba at the front
    theta, radial = wall_coordinates(canvas, a)
    m = np.float32(a.muscle_mm)
    r = radial[i]
    side = (theta > 1.15) & (theta < 2.55)
    planes = side & ((np.abs(r - m / 3.0) < 0.7) | (np.abs(r - 2.0 * m / 3.0) < 0.7))
    alba = (theta > np.pi - 5.0 / 150.0) & (r > 0)
    region.paint(muscle & (planes | alba), a.hu["fat"] * 0.7, TISSUES["fat"].label)
    cavity = g["cavity"][i] <= 1.0
    x = canvas.xs[None, None, :]
    y = canvas.ys[None, :, None]
    above = canvas.zs[:, None, None] > a.dome_z(x, y)
    region.paint(cavity & above, a.hu["fat_mediastinal"], TISSUES["fat_mediastinal"].label)
    region.paint(cavity & ~above, a.hu["fat_visceral"], TISSUES["fat_visceral"].label)


def paint_back_muscles(canvas: Canvas, a) -> None:
    """The paraspinal muscles either side of the spinous processes, with a fat plane between their parts.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([-100.0]), np.arange(-250.0, 250.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_back_muscles(c, a)
        >>> bool((c.label == TISSUES["muscle"].label).sum() > 100)
        True
    """
    zs = canvas.zs
    lat, ap = a.vertebral_radii(zs)
    top = (a.spine_y(zs) + ap * 0.3)[:, None, None]
    bottom = (np.float32(a.centre_y) + a.body_axes(zs)[2] - np.float32(a.skin_mm + a.fat_mm * 0.6))[:, None, None]
    half_depth = (bottom - top) / 2.0
    yc = top + half_depth
    rx = (18.0 + 0.35 * lat)[:, None, None] * np.float32(a.width)
    region = canvas.region((a.centre_x - 80.0, a.centre_x + 80.0, float(top.min()) - 5.0, float(bottom.max()) + 5.0, -1e9, 1e9))
    if region.empty:
        return
    for sign in (-1.0, 1.0):
        xc = np.float32(a.centre_x) + np.float32(sign) * (rx + 4.0)
        e = np.sqrt(((region.x - xc) / rx) ** 2 + ((region.y - yc) / half_depth) ** 2)
        region.paint(e <= 1.0, a.hu["muscle"], TISSUES["muscle"].label)
        plane = (np.abs(e - 0.62) < 0.035) & (region.y > yc)
        region.paint(plane, a.hu["fat"], TISSUES["fat"].label)


def paint_lungs(canvas: Canvas, a) -> None:
    """Lung parenchyma, denser towards the back (dependent lung), where :meth:`Anatomy.lung_mask` is true.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([100.0]), np.arange(-200.0, 200.0, 4.0), np.arange(-250.0, 250.0, 4.0))
        >>> paint_lungs(c, a)
        >>> float(c.hu[c.label == TISSUES["lung"].label].mean()) < -700
        True
    """
    apex = a.organs["lung"]["apex_z"]
    zs = canvas.zs
    if zs.min() > apex:
        return
    g = body_geometry(canvas, a)
    i = g["index"]
    cw, cant, cpost = g["cavity_axes"]
    # rho of the cavity shrunk by 3 mm, approximated from the unshrunk map
    rho = g["cavity"][i] * (1.0 + 3.0 / cw[i])
    x = canvas.xs[None, None, :]
    y = canvas.ys[None, :, None]
    z = zs[:, None, None]
    mask = a.lung_from_rho(x, y, z, rho, cant[i])
    if not mask.any():
        return
    rel = (y - np.float32(a.centre_y)) / ((cant + cpost)[i] / 2)
    hu = np.float32(a.hu["lung"]) + np.float32(a.hu["lung_gradient"]) * np.clip(rel, -1, 1)
    canvas.region(_ALL).paint(mask, hu, TISSUES["lung"].label)


def paint_heart(canvas: Canvas, a) -> None:
    """Pericardial fat, myocardium and the blood pool of the chambers, sitting on the diaphragm.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([a.organs["heart"]["centre"][2]]), np.arange(-200.0, 200.0, 3.0), np.arange(-250.0, 250.0, 3.0))
        >>> paint_heart(c, a)
        >>> bool((c.label == TISSUES["myocardium"].label).sum() > 50)
        True
    """
    h = a.organs["heart"]
    c, r = h["centre"], h["radii"]
    rot = rotation_matrix(h["yaw"], h["pitch"])
    big = max(r) * 1.2
    region = canvas.region((c[0] - big, c[0] + big, c[1] - big, c[1] + big, c[2] - big, c[2] + big))
    if region.empty:
        return
    q = region.lobulated_radius(c, r, rot, h.get("lobes", ()))
    floor = region.z > a.dome_z(region.x, region.y) - 4.0
    region.paint((q <= 1.12) & floor, a.hu["fat_mediastinal"], TISSUES["fat_mediastinal"].label)
    heart = (q <= 1.0) & floor
    region.paint(heart, a.hu["myocardium"], TISSUES["myocardium"].label)
    # chambers: inside the wall, split by the interventricular septum (a plane along the long axis)
    rr = np.asarray(rot, np.float32)
    side = rr[1, 0] * (region.x - c[0]) + rr[1, 1] * (region.y - c[1]) + rr[1, 2] * (region.z - c[2])
    pool = heart & (q <= 1.0 - 10.0 / min(r)) & (np.abs(side + 8.0) > 4.5)
    region.paint(pool, a.hu["blood"], TISSUES["blood"].label)


def paint_tubes(canvas: Canvas, a) -> None:
    """The aorta and its branches, caval and portal veins, airways, oesophagus and pancreas (poly-line tubes).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0), phase="arterial")
        >>> c = Canvas(np.array([-100.0]), np.arange(-200.0, 200.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_tubes(c, a)
        >>> bool((c.hu > 180).sum() > 30)
        True
    """
    for tube in a.tubes:
        name = tube["tissue"]
        label = TISSUES.get(name, TISSUES["blood"]).label
        wall = float(tube.get("wall", 0.0))
        r = float(tube["radius"])
        pts = tube["points"]
        for p0, p1 in zip(pts[:-1], pts[1:]):
            reach = r + wall
            bbox = (min(p0[0], p1[0]) - reach, max(p0[0], p1[0]) + reach, min(p0[1], p1[1]) - reach, max(p0[1], p1[1]) + reach, min(p0[2], p1[2]) - reach, max(p0[2], p1[2]) + reach)
            region = canvas.region(bbox)
            if region.empty:
                continue
            d = region.capsule_distance(p0, p1)
            if wall > 0:
                region.paint(d <= reach, a.hu["muscle"], TISSUES["muscle"].label)
            region.paint(d <= r, a.hu[name] if name in a.hu else a.hu["blood"], label)


def _organ(canvas: Canvas, a, spec: dict, margin: float = 0.0):
    c, r = spec["centre"], spec["radii"]
    rot = rotation_matrix(spec.get("yaw", 0.0), spec.get("pitch", 0.0))
    lobes = spec.get("lobes", ())
    big = max(r) * (1.0 + sum(l[5] for l in lobes)) + margin
    region = canvas.region((c[0] - big, c[0] + big, c[1] - big, c[1] + big, c[2] - big, c[2] + big))
    if region.empty:
        return region, None
    if lobes:
        return region, region.lobulated_radius(c, r, rot, lobes)
    return region, region.ellipsoid_radius(c, r, rot)


def _below_dome_in_cavity(region, a, shrink: float = 2.0) -> np.ndarray:
    axes = tuple(v[:, None, None] for v in a.cavity_axes(region.z[:, 0, 0]))
    inside = a.rho(region.x, region.y, axes, shrink=shrink) <= 1.0
    return inside & (region.z < a.dome_z(region.x, region.y) - 2.0)


def paint_abdomen(canvas: Canvas, a) -> None:
    """Liver (two lobes under the right dome), gallbladder, spleen, stomach with its air cap, bladder.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> c = Canvas(np.array([-60.0]), np.arange(-200.0, 200.0, 3.0), np.arange(-250.0, 250.0, 3.0))
        >>> paint_abdomen(c, a)
        >>> bool((c.label == TISSUES["spleen"].label).sum() > 20)
        True
    """
    st = a.organs["stomach"]
    region, q = _organ(canvas, a, st)
    if q is not None:
        ok = _below_dome_in_cavity(region, a)
        region.paint((q <= 1.0) & ok, a.hu["bowel_wall"], TISSUES["bowel_wall"].label)
        lumen = (q <= 1.0 - 4.0 / min(st["radii"])) & ok
        region.paint(lumen, a.hu["fluid"] + 5.0, TISSUES["fluid"].label)
        level = st["centre"][1] + st["air_level"] * st["radii"][1]
        region.paint(lumen & (region.y < level), a.hu["air"], TISSUES["air"].label)
    for name in ("liver_right", "liver_left"):
        region, q = _organ(canvas, a, a.organs[name])
        if q is not None:
            region.paint((q <= 1.0) & _below_dome_in_cavity(region, a), a.hu["liver"], TISSUES["liver"].label)
    gb = a.organs["gallbladder"]
    if gb["present"]:
        region, q = _organ(canvas, a, gb)
        if q is not None:
            region.paint((q <= 1.0) & _below_dome_in_cavity(region, a), a.hu["fluid"], TISSUES["fluid"].label)
    region, q = _organ(canvas, a, a.organs["spleen"])
    if q is not None:
        region.paint((q <= 1.0) & _below_dome_in_cavity(region, a, shrink=1.0), a.hu["spleen"], TISSUES["spleen"].label)
    bl = a.organs["bladder"]
    spec = {"centre": (a.centre_x, a.centre_y - 0.25 * 100.0 * a.depth, bl["z"]), "radii": bl["radii"]}
    region, q = _organ(canvas, a, spec)
    if q is not None:
        region.paint((q <= 1.0) & _below_dome_in_cavity(region, a, shrink=4.0), a.hu["fluid"], TISSUES["fluid"].label)
    # psoas muscles beside the lumbar spine, growing towards the pelvis
    s = a.scale
    zs = canvas.zs
    grow = np.clip((-170.0 * s - zs) / (160.0 * s), 0, 1)
    if grow.max() > 0:
        lat, ap = a.vertebral_radii(zs)
        yc = a.spine_y(zs) - ap * 0.3
        region = canvas.region(_ALL)
        rad = (6.0 + 22.0 * grow)[:, None, None]
        for sign in (-1.0, 1.0):
            xc = (np.float32(a.centre_x) + sign * (lat + 0.8 * rad[:, 0, 0] + 2.0))[:, None, None]
            e = ((region.x - xc) / rad) ** 2 + ((region.y - yc[:, None, None]) / (rad * 0.85)) ** 2
            region.paint((e <= 1.0) & (rad > 6.5), a.hu["muscle"], TISSUES["muscle"].label)


def paint_kidneys(canvas: Canvas, a) -> None:
    """Kidneys in their perirenal fat: cortex, medulla (bright or dark by phase) and the sinus fat at the hilum.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> z = a.organs["kidney_left"]["centre"][2]
        >>> c = Canvas(np.array([z]), np.arange(-200.0, 200.0, 2.0), np.arange(-250.0, 250.0, 2.0))
        >>> paint_kidneys(c, a)
        >>> bool((c.label == TISSUES["kidney_cortex"].label).sum() > 50)
        True
    """
    for name in ("kidney_left", "kidney_right"):
        spec = a.organs[name]
        region, q = _organ(canvas, a, spec, margin=15.0)
        if q is None:
            continue
        r = spec["radii"]
        region.paint(q <= 1.25, a.hu["fat_visceral"], TISSUES["fat_visceral"].label)
        region.paint(q <= 1.0, a.hu["kidney_cortex"], TISSUES["kidney_cortex"].label)
        region.paint(q <= 1.0 - 7.0 / min(r), a.hu["kidney_medulla"], TISSUES["kidney_medulla"].label)
        # the sinus opens towards the spine and the front (the hilum)
        c = spec["centre"]
        toward = -np.sign(c[0] - a.centre_x)
        sinus = {"centre": (c[0] + toward * r[0] * 0.75, c[1] - r[1] * 0.25, c[2]), "radii": (r[0] * 0.4, r[1] * 0.3, r[2] * 0.5)}
        qs = region.ellipsoid_radius(sinus["centre"], sinus["radii"])
        region.paint((qs <= 1.0) & (q <= 1.0), a.hu["fat_visceral"], TISSUES["fat_visceral"].label)
        qp = region.ellipsoid_radius(sinus["centre"], tuple(v * 0.35 for v in sinus["radii"]))
        region.paint(qp <= 1.0, a.hu["fluid"] if a.phase != "delayed" else 600.0, TISSUES["fluid"].label)
