"""An estimated liver mask for hosts that come without organ labels: HU level, opening, the largest right-side part.

Liver lesions are placed by organ labels (:class:`~lesionviewer.synthesis.tissue.TissueMaps`), and most real CT a
user has (and most hosts on this machine) has none, so liver lesions came from the one labelled host only. This
estimates the liver from the image alone, without a learned model:

1. the body on each slice (largest component above -400 HU, holes filled), the lungs
   (:func:`lesionviewer.risk.lung_mask.coarse_lung_mask`) and an in-plane smoothed copy of the HU;
2. the liver's level: the most common smoothed value between 20 and 200 HU among body voxels on the patient's
   right half, at least 20 mm under the skin, on slices whose lungs cover under a quarter of the body (the upper
   abdomen; contrast shifts the level from about 55 to about 110 HU, so it is measured, not assumed);
3. candidates: smoothed HU within ``level - 30 .. level + 35``, off the lungs;
4. an in-plane opening of ``opening_mm`` cuts the thin bridges to muscle, heart, stomach wall and spleen;
   3-D connected parts of what remains; the liver is the largest part whose centre lies on the patient's
   right (image left for the usual LPS orientation);
5. that part grown back by the same radius inside the candidates, holes filled per slice (vessels, lesions).

The estimate is rough at the edges (checked against TotalSegmentator's liver on the shared abdomen series in
``tests/test_liver_estimate.py``); it only decides where synthetic liver lesions may be centred, and lesions are
kept inside the mask grown by 2 pixels as with real labels.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> hu = np.full((6, 160, 160), -1000, np.int16); hu[:, 10:150, 10:150] = -90   # a body of fat
    >>> hu[:, 30:130, 20:80] = 60                                                    # a large organ on the right
    >>> liver = estimate_liver_mask(Volume(hu, (5.0, 1.0, 1.0)))
    >>> bool(liver[3, 80, 50]), bool(liver[3, 80, 120])
    (True, False)
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from lesionviewer.synthesis.tissue import body_mask

#: The label value an estimated liver gets, TotalSegmentator's "liver" (see ``tissue.LIVER_LABELS``).
ESTIMATED_LIVER_LABEL = 5


def _disk(radius_px: float) -> np.ndarray:
    r = max(1, int(round(radius_px)))
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y) <= r * r


def patient_right_columns(volume) -> np.ndarray | None:
    """True for the image columns on the patient's right of the body's middle, per column; None if unknown.

    The patient's right is physical -x (DICOM LPS). With an axis-aligned direction the column index runs along
    +x or -x; for an oblique in-plane orientation the side is not decided (None).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> patient_right_columns(Volume(np.zeros((1, 2, 4), np.int16), (1, 1, 1))).tolist()
        [True, True, False, False]
    """
    direction = np.asarray(volume.direction, float).reshape(3, 3)
    along_x = direction[0, 0]
    if abs(along_x) < 0.9:
        return None
    columns = np.arange(volume.shape[2])
    middle = (volume.shape[2] - 1) / 2.0
    return columns < middle if along_x > 0 else columns > middle


def right_of_left_flank(bodies: np.ndarray, volume, max_left_fraction: float) -> np.ndarray | None:
    """Per slice, the columns no further to the patient's left of the body's middle than ``max_left_fraction`` of
    its half width (the liver's left lobe may cross the midline; the spleen lies further out). None if the
    orientation is oblique.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> body = np.ones((1, 1, 10), bool)
        >>> right_of_left_flank(body, Volume(np.zeros((1, 1, 10), np.int16), (1, 1, 1)), 0.4)[0, 0].tolist()
        [True, True, True, True, True, True, True, False, False, False]
    """
    along_x = float(np.asarray(volume.direction, float).reshape(3, 3)[0, 0])
    if abs(along_x) < 0.9:
        return None
    columns = np.arange(bodies.shape[2], dtype=float)
    allowed = np.zeros(bodies.shape, bool)
    for z, body in enumerate(bodies):
        xs = np.flatnonzero(body.any(axis=0))
        if xs.size == 0:
            continue
        middle, half = (xs[0] + xs[-1]) / 2.0, (xs[-1] - xs[0]) / 2.0
        limit = columns <= middle + max_left_fraction * half if along_x > 0 else columns >= middle - max_left_fraction * half
        allowed[z] = limit[None, :]
    return allowed


def on_right_of_body(columns: np.ndarray, body: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each mean column, whether it lies on the patient's right of this slice's body middle.

    ``right`` is :func:`patient_right_columns` (only its orientation is used).

    Example:
        >>> import numpy as np
        >>> body = np.zeros((1, 10), bool); body[0, 4:10] = True
        >>> on_right_of_body(np.array([5.0, 8.0]), body, np.arange(10) < 4.5).tolist()
        [True, False]
    """
    xs = np.flatnonzero(body.any(axis=0))
    if xs.size == 0:
        return np.zeros(len(columns), bool)
    middle = (xs[0] + xs[-1]) / 2.0
    right_is_low = bool(right[0]) if right.size else True
    columns = np.asarray(columns, float)
    return np.where(np.isfinite(columns), columns < middle if right_is_low else columns > middle, False)


def liver_level_hu(smooth: np.ndarray, bodies: np.ndarray, depth_ok: np.ndarray, abdominal: np.ndarray,
                   right: np.ndarray | None) -> float | None:
    """The most common smoothed HU (20-200) of deep right-side body voxels on abdominal slices; None if none.

    Example:
        >>> import numpy as np
        >>> s = np.array([[[59.0, 60.0, 61.0, 62.0, 63.0]]]); m = np.ones(s.shape, bool)
        >>> liver_level_hu(s, m, m, np.array([True]), None)      # the middle of the fullest 2.5-HU bin, 60-62.5
        61.25
    """
    region = bodies & depth_ok & abdominal[:, None, None]
    if right is not None:
        region &= right[None, None, :]
    values = smooth[region]
    values = values[(values >= 20.0) & (values <= 200.0)]
    if values.size == 0 or (values.size < 500 and values.size < region.sum() // 2):   # too little soft tissue
        return None
    counts, edges = np.histogram(values, bins=np.arange(20.0, 202.5, 2.5))
    counts = ndimage.uniform_filter1d(counts.astype(float), 3)
    peak = int(np.argmax(counts))
    return float((edges[peak] + edges[peak + 1]) / 2.0)


def abdominal_slices(lung: np.ndarray, bodies: np.ndarray, volume) -> np.ndarray:
    """Slices below the lungs' middle whose lungs cover under a quarter of the body (the upper abdomen; bool per slice).

    Without lungs every slice counts. Superior is physical +z (LPS), so the slice order is read from the direction.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> lung = np.zeros((4, 4, 4), bool); lung[2:] = True
        >>> abdominal_slices(lung, np.ones((4, 4, 4), bool), Volume(np.zeros((4, 4, 4), np.int16), (1, 1, 1))).tolist()
        [True, True, False, False]
    """
    area = lung.sum(axis=(1, 2)).astype(float)
    low_lung = area < 0.25 * np.maximum(bodies.sum(axis=(1, 2)), 1)
    if area.sum() == 0:
        return low_lung
    index = np.arange(lung.shape[0], dtype=float)
    middle = float((index * area).sum() / area.sum())
    up = float(np.asarray(volume.direction, float).reshape(3, 3)[2, 2]) >= 0
    below = index < middle if up else index > middle
    return low_lung & below


def _slice_parts(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(mask) if mask.any() else (np.zeros(mask.shape, np.int32), 0)


def _follow(opened: np.ndarray, liver: np.ndarray, start: int, step: int, min_overlap: float,
            bodies: np.ndarray, right: np.ndarray | None) -> None:
    """Carry the liver from slice ``start`` to its neighbours: parts mostly lying on the previous slice's liver
    (and, where the orientation is known, centred on the patient's right)."""
    z = start + step
    columns = np.arange(opened.shape[2])
    while 0 <= z < opened.shape[0]:
        parts, count = _slice_parts(opened[z])
        if count == 0:
            return
        previous = liver[z - step]
        area = np.bincount(parts.ravel(), minlength=count + 1)
        shared = np.bincount(parts[previous].ravel(), minlength=count + 1)
        keep = shared >= min_overlap * np.maximum(area, 1)
        keep[0] = False
        if right is not None:
            mean_column = ndimage.mean(np.broadcast_to(columns, parts.shape), parts, np.arange(1, count + 1))
            keep[1:] &= on_right_of_body(mean_column, bodies[z], right)
        if not keep.any():
            return
        liver[z] = keep[parts]
        z += step


def estimate_liver_mask(volume, opening_mm: float = 7.0, below: float = 30.0, above: float = 35.0,
                        min_area_cm2: float = 40.0, min_overlap: float = 0.5,
                        max_left_fraction: float = 0.35) -> np.ndarray:
    """Estimate the liver of a CT ``Volume`` (bool, the volume's shape; empty when no liver is found).

    See the module notes for the steps. The seed is the largest right-side part on an abdominal slice; it must
    cover ``min_area_cm2`` (a scan that only grazes the liver dome gives nothing rather than a guess). From the
    seed the liver is followed slice by slice up and down, taking each part that lies at least ``min_overlap`` of
    its own area on the liver of the slice before; the heart above the dome, the kidneys, the spleen and the
    stomach mostly do not, and where nothing does the liver ends.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> int(estimate_liver_mask(Volume(np.full((2, 32, 32), -1000, np.int16), (2.0, 1.0, 1.0))).sum())
        0
    """
    from lesionviewer.risk.lung_mask import coarse_lung_mask

    hu = np.asarray(volume.hu)
    empty = np.zeros(hu.shape, bool)
    if hu.ndim != 3 or hu.shape[0] == 0:
        return empty
    dz, dy, dx = (float(s) for s in volume.spacing)
    bodies = np.stack([body_mask(s) for s in hu])
    lung = coarse_lung_mask(hu, (dz, dy, dx)).mask & bodies
    abdominal = abdominal_slices(lung, bodies, volume)
    if not abdominal.any():
        return empty
    smooth = ndimage.gaussian_filter(hu.astype(np.float32), (0.0, 1.5 / dy, 1.5 / dx))
    depth_ok = np.stack([ndimage.distance_transform_edt(b, sampling=(dy, dx)) >= 20.0 for b in bodies])
    right = patient_right_columns(volume)
    level = liver_level_hu(smooth, bodies, depth_ok, abdominal, right)
    if level is None:
        return empty
    candidates = (smooth >= level - below) & (smooth <= level + above) & bodies & ~lung
    side = right_of_left_flank(bodies, volume, max_left_fraction)
    if side is not None:
        candidates &= side
    disk = _disk(opening_mm / min(dy, dx))
    opened = np.stack([ndimage.binary_opening(c, structure=disk) if c.any() else c for c in candidates])
    seed_z, seed_part, seed_area = -1, None, 0
    columns = np.arange(hu.shape[2])
    for z in np.flatnonzero(abdominal):
        parts, count = _slice_parts(opened[z])
        if count == 0:
            continue
        area = np.bincount(parts.ravel(), minlength=count + 1)
        area[0] = 0
        if right is not None:
            mean_column = ndimage.mean(np.broadcast_to(columns, parts.shape), parts, np.arange(count + 1))
            area[1:] = np.where(on_right_of_body(mean_column[1:], bodies[z], right), area[1:], 0)
        best = int(np.argmax(area))
        if best and area[best] > seed_area:
            seed_z, seed_part, seed_area = int(z), parts == best, int(area[best])
    if seed_part is None or seed_area * dy * dx / 100.0 < min_area_cm2:
        return empty
    liver = np.zeros(hu.shape, bool)
    liver[seed_z] = seed_part
    _follow(opened, liver, seed_z, +1, min_overlap, bodies, right)
    _follow(opened, liver, seed_z, -1, min_overlap, bodies, right)
    grown = np.stack([ndimage.binary_dilation(s, structure=disk) if s.any() else s for s in liver])
    liver = grown & candidates
    return np.stack([ndimage.binary_fill_holes(s) if s.any() else s for s in liver])


def estimated_liver_labels(volume) -> np.ndarray:
    """An organ label volume holding only the estimated liver (:data:`ESTIMATED_LIVER_LABEL`), for a host.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> estimated_liver_labels(Volume(np.full((1, 8, 8), 40, np.int16), (1, 1, 1))).dtype
        dtype('int32')
    """
    return estimate_liver_mask(volume).astype(np.int32) * ESTIMATED_LIVER_LABEL
