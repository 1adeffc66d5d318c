"""Lesions of the kinds DeepLesion holds: their shapes, CT appearance, and where they may sit.

A lesion is a lobulated ellipsoid: the ellipsoid's surface is pushed in and out by a few
low-frequency cosine lobes. Some have an enhancing rim, a necrotic centre or calcification;
edges range from sharp (cysts) to blurred (infiltrating). Lesion types and sizes follow the
DeepLesion test table (``Coarse_lesion_type`` counts, long diameters with a median near 19 mm).

Example:
    >>> import numpy as np
    >>> from lesionviewer.phantom.canvas import Canvas
    >>> spec = LesionSpec(kind="liver", type_code=4, centre=(0.0, 0.0, 0.0), radii=(10.0, 8.0, 6.0), hu=40.0)
    >>> c = Canvas(np.array([0.0]), np.arange(-20.0, 21.0), np.arange(-20.0, 21.0), fill_hu=100.0)
    >>> inside = paint_lesion(c, spec)
    >>> int(inside.sum()) > 200, float(c.hu[0, 20, 20])
    (True, 40.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lesionviewer.phantom.canvas import rotation_matrix
from lesionviewer.phantom.tissues import TISSUES

# DeepLesion Coarse_lesion_type codes
TYPE_CODES = {"bone": 1, "abdomen": 2, "mediastinum": 3, "liver": 4, "lung": 5, "kidney": 6, "soft_tissue": 7, "pelvis": 8}
# relative frequency of each type in the DeepLesion test split (DL_info_test.csv)
TYPE_WEIGHTS = {1: 108, 2: 1173, 3: 864, 4: 700, 5: 1100, 6: 234, 7: 339, 8: 409}
# median long diameter (mm) per type in the same table
MEDIAN_DIAMETER_MM = {1: 16.1, 2: 20.5, 3: 18.9, 4: 23.8, 5: 13.1, 6: 19.8, 7: 22.1, 8: 21.8}
MAX_DIAMETER_MM = {1: 35.0, 2: 80.0, 3: 60.0, 4: 90.0, 5: 60.0, 6: 60.0, 7: 70.0, 8: 80.0}


@dataclass
class LesionSpec:
    """One lesion's shape and appearance, in the phantom's anatomical millimetres.

    Example:
        >>> LesionSpec(kind="lung", type_code=5, centre=(1, 2, 3), radii=(4, 4, 4), hu=20).long_diameter_mm
        8.0
    """

    kind: str
    type_code: int
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    hu: float
    yaw: float = 0.0
    pitch: float = 0.0
    edge_mm: float = 0.8
    lobes: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)
    rim_hu: float | None = None
    rim_fraction: float = 0.0
    core_hu: float | None = None
    core_fraction: float = 0.0
    texture_hu: float = 0.0
    confine_labels: tuple[int, ...] = ()
    description: str = ""

    @property
    def long_diameter_mm(self) -> float:
        """Twice the largest radius.

        Example:
            >>> LesionSpec("x", 7, (0, 0, 0), (3, 5, 2), 0).long_diameter_mm
            10.0
        """
        return 2.0 * float(max(self.radii))

    def to_dict(self) -> dict:
        """JSON-ready description.

        Example:
            >>> LesionSpec("lung", 5, (0, 0, 0), (3, 3, 3), 10.0).to_dict()["kind"]
            'lung'
        """
        return {
            "kind": self.kind,
            "type_code": self.type_code,
            "description": self.description,
            "centre_mm": [round(float(v), 3) for v in self.centre],
            "radii_mm": [round(float(v), 3) for v in self.radii],
            "hu": round(float(self.hu), 2),
            "rim_hu": None if self.rim_hu is None else round(float(self.rim_hu), 2),
            "core_hu": None if self.core_hu is None else round(float(self.core_hu), 2),
            "edge_mm": round(float(self.edge_mm), 3),
        }


def paint_lesion(canvas, spec: LesionSpec, contrast: float = 1.0) -> np.ndarray:
    """Blend the lesion into the canvas; returns its boolean occupancy over the whole canvas.

    The edge is a ramp ``edge_mm`` wide centred on the surface, so the half-way point (the
    annotation boundary) sits on the lobulated surface itself. ``contrast`` scales the lesion's
    difference from the tissue it replaces (1 = as sampled; 2 = twice as conspicuous).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.canvas import Canvas
        >>> c = Canvas(np.array([50.0]), np.arange(5.0), np.arange(5.0))
        >>> int(paint_lesion(c, LesionSpec("lung", 5, (0, 0, 0), (3, 3, 3), 30.0)).sum())
        0
        >>> c = Canvas(np.array([0.0]), np.arange(-20.0, 21.0), np.arange(-20.0, 21.0), fill_hu=100.0)
        >>> _ = paint_lesion(c, LesionSpec("liver", 4, (0, 0, 0), (10, 8, 6), 80.0), contrast=2.0)
        >>> float(c.hu[0, 20, 20])
        60.0
    """
    occupancy = np.zeros(canvas.hu.shape, bool)
    big = max(spec.radii) * (1.0 + sum(l[5] for l in spec.lobes)) + spec.edge_mm
    c = spec.centre
    region = canvas.region((c[0] - big, c[0] + big, c[1] - big, c[1] + big, c[2] - big, c[2] + big))
    if region.empty:
        return occupancy
    rot = np.asarray(rotation_matrix(spec.yaw, spec.pitch), np.float32)
    dx, dy, dz = region.x - np.float32(c[0]), region.y - np.float32(c[1]), region.z - np.float32(c[2])
    lx = (rot[0, 0] * dx + rot[0, 1] * dy + rot[0, 2] * dz) / np.float32(spec.radii[0])
    ly = (rot[1, 0] * dx + rot[1, 1] * dy + rot[1, 2] * dz) / np.float32(spec.radii[1])
    lz = (rot[2, 0] * dx + rot[2, 1] * dy + rot[2, 2] * dz) / np.float32(spec.radii[2])
    q = np.sqrt(lx * lx + ly * ly + lz * lz)
    safe = np.maximum(q, np.float32(1e-6))
    shape = np.ones_like(q)
    for nx, ny, nz, freq, phase, amp in spec.lobes:
        proj = (nx * lx + ny * ly + nz * lz) / safe
        shape = shape + np.float32(amp) * np.cos(np.float32(np.pi * freq) * proj + np.float32(phase))
    qm = q / shape
    r_min = float(min(spec.radii))
    alpha = np.clip(0.5 + (1.0 - qm) * np.float32(r_min / max(spec.edge_mm, 1e-3)), 0.0, 1.0)
    inside = qm <= 1.0
    if spec.confine_labels:
        allowed = np.isin(region.label, np.asarray(spec.confine_labels, np.uint8))
        alpha = alpha * allowed
        inside &= allowed
    hu = np.full(q.shape, spec.hu, np.float32)
    if spec.texture_hu:
        hu += np.float32(spec.texture_hu) * (np.sin(3.1 * lx + 1.0) * np.sin(2.7 * ly + 0.3) + np.sin(3.7 * lz + 2.0) * np.cos(2.3 * lx))
    if spec.rim_hu is not None:
        hu = np.where(qm > 1.0 - spec.rim_fraction, np.float32(spec.rim_hu), hu)
    if spec.core_hu is not None:
        hu = np.where(qm < spec.core_fraction, np.float32(spec.core_hu), hu)
    block = region.hu
    block += np.float32(contrast) * alpha * (hu - block)
    region.label[inside] = TISSUES["lesion"].label
    occupancy[region.index] = inside
    return occupancy


def sample_lesion(rng: np.random.Generator, type_code: int, anatomy, finder, diameter_range=(5.0, 80.0)) -> LesionSpec | None:
    """A lesion of DeepLesion type ``type_code`` placed by ``finder`` (a :class:`~lesionviewer.phantom.placement.PlacementMap`), or None.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.anatomy import sample_anatomy
        >>> from lesionviewer.phantom.placement import PlacementMap
        >>> rng = np.random.default_rng(0)
        >>> a = sample_anatomy(rng)
        >>> spec = sample_lesion(rng, 4, a, PlacementMap(a))
        >>> spec.kind, spec.type_code
        ('liver', 4)
    """
    median = MEDIAN_DIAMETER_MM[type_code]
    lo, hi = diameter_range
    # 0.9: the lobes and the choice of the largest slice make the measured long axis a little longer than drawn
    diameter = float(np.clip(0.9 * median * np.exp(rng.normal(0.0, 0.62)), max(lo, 3.0), min(hi, MAX_DIAMETER_MM[type_code])))
    hu = anatomy.hu
    phase = anatomy.phase
    kind = {1: "bone", 2: "abdomen", 3: "mediastinum", 4: "liver", 5: "lung", 6: "kidney", 7: "soft_tissue", 8: "pelvis"}[type_code]
    description = kind
    confine: tuple[int, ...] = ()
    rim_hu = core_hu = None
    rim_fraction = core_fraction = 0.0
    edge = float(rng.uniform(0.5, 2.0))
    texture = float(rng.uniform(0.0, 8.0))
    if type_code == 5:
        site = "lung"
        roll = rng.random()
        if roll < 0.1:
            value, description = float(rng.uniform(-650, -350)), "ground-glass nodule"
        else:
            value, description = float(rng.uniform(-10, 55)), "solid nodule"
            if roll > 0.92:
                core_hu, core_fraction, description = float(rng.uniform(300, 700)), float(rng.uniform(0.25, 0.5)), "calcified nodule"
    elif type_code == 4:
        site = "liver"
        confine = (TISSUES["liver"].label, TISSUES["blood"].label)
        roll = rng.random()
        if roll < 0.2:
            value, edge, texture, description = float(rng.uniform(0, 20)), 0.4, 0.0, "cyst"
        elif roll < 0.3:
            value, description = hu["liver"] + float(rng.uniform(20, 60)), "hyperdense lesion"
        else:
            value, description = hu["liver"] - float(rng.uniform(12, 70)), "hypodense lesion"
            if diameter > 20 and rng.random() < 0.35:
                rim_hu, rim_fraction = hu["liver"] + float(rng.uniform(0, 30)), float(rng.uniform(0.12, 0.25))
                description = "rim-enhancing lesion"
            if diameter > 30 and rng.random() < 0.4:
                core_hu, core_fraction = float(rng.uniform(5, 25)), float(rng.uniform(0.3, 0.6))
                description += " with necrotic centre"
    elif type_code == 6:
        site = "kidney"
        if rng.random() < 0.55:
            value, edge, texture, description = float(rng.uniform(0, 20)), 0.4, 0.0, "renal cyst"
        else:
            value, description = (hu["kidney_cortex"] - float(rng.uniform(40, 100))) if phase != "unenhanced" else float(rng.uniform(20, 45)), "solid renal mass"
    elif type_code == 1:
        site = "bone"
        confine = (TISSUES["bone_marrow"].label, TISSUES["bone_cortical"].label, TISSUES["disc"].label)
        diameter = min(diameter, 30.0)
        if rng.random() < 0.6:
            value, description = float(rng.uniform(20, 90)), "lytic bone lesion"
        else:
            value, description = float(rng.uniform(500, 1000)), "sclerotic bone lesion"
    elif type_code == 7:
        site = "soft_tissue"
        value, description = float(rng.uniform(20, 60)) + (10 if phase != "unenhanced" else 0), "soft-tissue mass"
    else:
        site = {2: "abdomen", 3: "mediastinum", 8: "pelvis"}[type_code]
        if type_code == 2 and rng.random() < 0.35:
            site = str(rng.choice(["spleen", "pancreas", "adrenal"], p=[0.5, 0.3, 0.2]))
        if site == "spleen":
            value, description = hu["spleen"] - float(rng.uniform(20, 60)), "splenic lesion"
        elif site == "pancreas":
            value, description = hu["pancreas"] - float(rng.uniform(15, 45)), "pancreatic lesion"
        else:
            value = float(rng.uniform(25, 55)) + (10 if phase != "unenhanced" else 0)
            description = "lymph node" if site != "adrenal" else "adrenal nodule"
            if diameter > 20 and rng.random() < 0.15:
                core_hu, core_fraction = float(rng.uniform(5, 25)), float(rng.uniform(0.3, 0.55))
                description += " with necrotic centre"
    ratio_y = float(rng.uniform(0.5, 0.9))
    ratio_z = float(rng.uniform(0.55, 1.0))
    radii = (diameter / 2.0, diameter / 2.0 * ratio_y, diameter / 2.0 * ratio_z)
    centre = finder.find(rng, site, min(radii))
    if centre is None:
        return None
    lobes = []
    for _ in range(int(rng.integers(0, 4))):
        n = rng.normal(0, 1, 3)
        n /= np.linalg.norm(n) or 1.0
        lobes.append((float(n[0]), float(n[1]), float(n[2]), float(rng.choice([1.5, 2.0, 3.0])), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.03, 0.12))))
    return LesionSpec(
        kind=kind,
        type_code=type_code,
        centre=centre,
        radii=radii,
        hu=value,
        yaw=float(rng.uniform(0, np.pi)),
        pitch=float(rng.uniform(-0.3, 0.3)),
        edge_mm=edge,
        lobes=lobes,
        rim_hu=rim_hu,
        rim_fraction=rim_fraction,
        core_hu=core_hu,
        core_fraction=core_fraction,
        texture_hu=texture,
        confine_labels=confine,
        description=description,
    )


def draw_type_codes(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` lesion type codes drawn with DeepLesion's type frequencies.

    Example:
        >>> import numpy as np
        >>> codes = draw_type_codes(np.random.default_rng(0), 1000)
        >>> 0.15 < codes.count(2) / 1000 < 0.3
        True
    """
    codes = np.array(sorted(TYPE_WEIGHTS))
    p = np.array([TYPE_WEIGHTS[c] for c in codes], float)
    return [int(c) for c in rng.choice(codes, size=n, p=p / p.sum())]
