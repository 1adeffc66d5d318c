"""One phantom patient's anatomy: body size and shape, organ positions, contrast phase, HU values.

All positions are anatomical millimetres in DICOM LPS axes (``x`` to the patient's left, ``y``
to the back, ``z`` to the head) with ``z = 0`` at the top of the right diaphragm dome. The body
outline is a super-ellipse whose half-axes follow a table of typical adult values along ``z``,
stretched per patient; the diaphragm is two paraboloid domes, which is what turns the bases of
the lungs into crescents around the liver and spleen on axial slices.

Example:
    >>> import numpy as np
    >>> a = sample_anatomy(np.random.default_rng(1))
    >>> a.phase in ("unenhanced", "arterial", "portal", "delayed")
    True
    >>> bool(a.lung_mask(np.array([a.centre_x - 90.0]), np.array([a.centre_y]), np.array([60.0]))[0])
    True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lesionviewer.phantom.tissues import PHASES, TISSUES, tissue_hu

# Typical adult body half-width / half-depth (mm) along z (mm, 0 = right diaphragm dome).
Z_KNOTS = np.array([-560.0, -440.0, -340.0, -250.0, -150.0, -50.0, 50.0, 140.0, 220.0, 320.0])
HALF_WIDTH = np.array([178.0, 185.0, 180.0, 163.0, 160.0, 165.0, 168.0, 168.0, 163.0, 152.0])
HALF_DEPTH = np.array([108.0, 115.0, 116.0, 118.0, 124.0, 128.0, 126.0, 120.0, 112.0, 104.0])

POSTERIOR_DEPTH = 100.0

# The part of the trunk a scan may cover (anatomical z, before the patient's scale).
SCAN_LIMITS = (-470.0, 215.0)


@dataclass
class Anatomy:
    """The numbers that define one patient; geometry helpers evaluate its shapes at any points.

    Example:
        >>> import numpy as np
        >>> a = sample_anatomy(np.random.default_rng(0))
        >>> half_width, _, _ = a.body_axes(np.array([0.0]))
        >>> 100 < float(half_width[0]) < 220
        True
    """

    scale: float
    width: float
    depth: float
    centre_x: float
    centre_y: float
    skin_mm: float
    fat_mm: float
    fat_anterior_mm: float
    muscle_mm: float
    muscle_posterior_mm: float
    exponent: float
    phase: str
    sex: str
    age: int
    dome_right_z: float
    dome_left_z: float
    dome_drop_mm: float
    hu: dict[str, float]
    #: per organ a dict of its geometry; also "bowel" (the list of loops) and "level_phase" (a float)
    organs: dict[str, Any] = field(default_factory=dict)
    tubes: list[dict] = field(default_factory=list)
    vessel_segments: dict[str, np.ndarray] = field(default_factory=dict)

    # --- body outline -------------------------------------------------------------------
    def body_axes(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half-width, anterior and posterior half-depth (mm) of the skin outline at ``z``.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> w, ant, post = a.body_axes(np.array([-100.0]))
            >>> bool(post[0] < ant[0])
            True
        """
        zz = np.asarray(z, dtype=np.float32) / self.scale
        half_width = np.interp(zz, Z_KNOTS, HALF_WIDTH).astype(np.float32) * self.width
        half_depth = np.interp(zz, Z_KNOTS, HALF_DEPTH).astype(np.float32) * self.depth
        # the back lies on the table, so only the front of the body follows the table of depths
        posterior = np.full_like(half_depth, np.float32(POSTERIOR_DEPTH * self.depth))
        return half_width, half_depth, posterior

    def cavity_axes(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Half-axes of the inner wall of the chest/abdominal cavity (inside skin, fat and muscle).

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> bool(a.cavity_axes(np.array([0.0]))[0][0] < a.body_axes(np.array([0.0]))[0][0])
            True
        """
        w, ant, post = self.body_axes(z)
        wall = self.skin_mm + self.muscle_mm
        return (
            w - np.float32(wall + self.fat_mm),
            ant - np.float32(wall + self.fat_anterior_mm),
            post - np.float32(self.skin_mm + self.fat_mm + self.muscle_mm),
        )

    def rho(self, x: np.ndarray, y: np.ndarray, axes, shrink: float = 0.0) -> np.ndarray:
        """Super-ellipse radius (1 on the outline) of points against ``axes`` shrunk by ``shrink`` mm.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> axes = a.body_axes(np.array([0.0]))
            >>> round(float(a.rho(np.array([a.centre_x]), np.array([a.centre_y]), axes)[0]), 6)
            0.0
        """
        w, ant, post = axes
        dx = np.abs(x - np.float32(self.centre_x)) / (w - np.float32(shrink))
        dy = y - np.float32(self.centre_y)
        depth = np.where(dy < 0, ant, post) - np.float32(shrink)
        dy = np.abs(dy) / depth
        p = np.float32(self.exponent)
        # the back lies flat on the table: a higher exponent squares off the posterior half
        q = np.where(y > self.centre_y, p + np.float32(1.5), p)
        return (dx**q + dy**q) ** (1.0 / q)

    # --- spine and diaphragm ------------------------------------------------------------
    def vertebral_radii(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lateral and antero-posterior radius (mm) of the vertebral body at ``z``; lumbar ones are larger.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> lat, ap = a.vertebral_radii(np.array([200.0, -250.0]))
            >>> bool(lat[1] > lat[0])
            True
        """
        zz = np.asarray(z, dtype=np.float32) / self.scale
        lateral = np.interp(zz, [-450.0, -200.0, 0.0, 250.0], [27.0, 25.0, 20.0, 16.0]).astype(np.float32)
        ap = np.interp(zz, [-450.0, -200.0, 0.0, 250.0], [18.0, 17.5, 15.0, 12.5]).astype(np.float32)
        return lateral * np.float32(self.width ** 0.5), ap * np.float32(self.depth ** 0.5)

    def spine_y(self, z: np.ndarray) -> np.ndarray:
        """y (mm) of the vertebral body centre at ``z``: the arch and the back muscles lie behind it.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> bool(a.spine_y(np.array([0.0]))[0] > a.centre_y)
            True
        """
        _, _, post = self.body_axes(z)
        _, ap = self.vertebral_radii(z)
        back = np.float32(self.skin_mm + self.fat_mm * 0.6 + self.muscle_posterior_mm)
        return np.float32(self.centre_y) + post - back - ap

    def dome_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """z (mm) of the diaphragm under the point ``(x, y)``: two paraboloid domes, the right one higher.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> top = a.organs["dome"]["right_x"]
            >>> round(float(a.dome_z(np.array([top]), np.array([a.organs["dome"]["y"]]))[0]), 3) == a.dome_right_z
            True
        """
        d = self.organs["dome"]
        ry = (y - np.float32(d["y"])) / np.float32(d["radius_y"])
        ry2 = ry * ry
        right = (x - np.float32(d["right_x"])) / np.float32(d["radius_x"])
        left = (x - np.float32(d["left_x"])) / np.float32(d["radius_x"])
        drop = np.float32(self.dome_drop_mm)
        z_right = np.float32(self.dome_right_z) - drop * (right * right + ry2)
        z_left = np.float32(self.dome_left_z) - drop * (left * left + ry2)
        return np.maximum(z_right, z_left)

    def lung_mask(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """True where the point lies in a lung: inside the rib cage, above the diaphragm, off the midline.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> bool(a.lung_mask(np.array([a.centre_x]), np.array([a.centre_y]), np.array([60.0]))[0])
            False
        """
        x, y, z = (np.asarray(v, dtype=np.float32) for v in (x, y, z))
        axes = self.cavity_axes(z)
        rho = self.rho(x, y, axes, shrink=3.0)
        return self.lung_from_rho(x, y, z, rho, axes[1])

    def lung_from_rho(self, x: np.ndarray, y: np.ndarray, z: np.ndarray, rho: np.ndarray, anterior: np.ndarray) -> np.ndarray:
        """:meth:`lung_mask` given the cavity radius ``rho`` (shrunk 3 mm) and anterior half-depth already computed.

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> x, y, z = np.array([a.centre_x - 90.0]), np.array([a.centre_y]), np.array([60.0])
            >>> rho = a.rho(x, y, a.cavity_axes(z), shrink=3.0)
            >>> bool(a.lung_from_rho(x, y, z, rho, a.cavity_axes(z)[1])[0]) == bool(a.lung_mask(x, y, z)[0])
            True
        """
        apex = np.float32(self.organs["lung"]["apex_z"])
        taper_start = apex - np.float32(90.0 * self.scale)
        taper = np.clip((z - taper_start) / (apex - taper_start), 0.0, 1.0)
        inside = rho < 1.0 - 0.75 * taper**2
        inside &= z > self.dome_z(x, y)
        inside &= z < apex
        # the mediastinum: narrow behind the sternum, widest at the spine
        rel = np.clip((y - np.float32(self.centre_y)) / anterior, -1.0, 1.0)
        lat, _ = self.vertebral_radii(z)
        half = np.float32(5.0) + (lat + 1.0) * ((rel + 1.0) / 2.0) ** 0.7
        mid_x = np.float32(self.organs["lung"]["midline_x"])
        inside &= np.abs(x - mid_x) > half
        # the spine and the back muscles behind it push into the back of the chest (a rounded bulge)
        sy = self.spine_y(z)
        bulge = ((x - mid_x) / (lat + 24.0)) ** 2 + ((y - sy - 30.0) / 48.0) ** 2
        inside &= bulge > 1.0
        return inside

    def normalized_z(self, z: float) -> float:
        """DeepLesion-style body position along the head-to-feet axis (0 top of the chest, 1 pelvis).

        Example:
            >>> import numpy as np
            >>> a = sample_anatomy(np.random.default_rng(0))
            >>> a.normalized_z(0.0) < a.normalized_z(-150.0 * a.scale)
            True
        """
        zz = float(z) / self.scale
        # fitted to the medians of DL_info Normalized_lesion_location z per lesion type
        return float(np.clip(np.interp(-zz, [-300.0, -90.0, 140.0, 380.0, 520.0], [0.30, 0.447, 0.657, 0.80, 0.87]), 0, 1))


def sample_anatomy(rng: np.random.Generator, phase: str | None = None) -> Anatomy:
    """Draw one patient: sizes, fat, contrast phase, organ positions, vessel paths.

    Example:
        >>> import numpy as np
        >>> a = sample_anatomy(np.random.default_rng(3), phase="portal")
        >>> a.phase, sorted(a.organs)[:3]
        ('portal', ['bladder', 'bowel', 'dome'])
    """
    if phase is None:
        phase = str(rng.choice(PHASES, p=[0.15, 0.1, 0.65, 0.1]))
    sex = "M" if rng.random() < 0.58 else "F"
    age = int(np.clip(rng.normal(58, 14), 18, 90))
    scale = float(rng.uniform(0.9, 1.1) * (1.03 if sex == "M" else 0.97))
    habitus = float(rng.normal(0.0, 1.0))
    width = float(np.clip(rng.normal(1.0, 0.06) + 0.05 * habitus, 0.8, 1.25) * (1.03 if sex == "M" else 0.96))
    depth = float(np.clip(rng.normal(1.0, 0.06) + 0.07 * habitus, 0.78, 1.3))
    fat = float(np.clip(rng.normal(16.0, 6.0) + 6.0 * habitus, 4.0, 45.0))
    hu = {name: tissue_hu(name, phase, rng) for name in TISSUES}
    # the lung is denser in the dependent (posterior) part, as in a supine patient
    hu["lung_gradient"] = float(rng.uniform(40.0, 110.0))
    a = Anatomy(
        scale=scale,
        width=width,
        depth=depth,
        centre_x=float(rng.normal(0.0, 8.0)),
        centre_y=float(rng.normal(-15.0, 8.0)),
        skin_mm=float(rng.uniform(1.5, 2.5)),
        fat_mm=fat,
        fat_anterior_mm=fat * float(rng.uniform(1.0, 1.6)),
        muscle_mm=float(rng.uniform(6.0, 11.0)),
        muscle_posterior_mm=float(rng.uniform(38.0, 50.0)),
        exponent=float(rng.uniform(2.0, 2.35)),
        phase=phase,
        sex=sex,
        age=age,
        dome_right_z=0.0,
        dome_left_z=float(rng.uniform(-25.0, -8.0)) * scale,
        dome_drop_mm=float(rng.uniform(45.0, 65.0)) * scale,
        hu=hu,
    )
    _place_organs(a, rng)
    return a


def _place_organs(a: Anatomy, rng: np.random.Generator) -> None:
    s = a.scale
    z0 = np.array([0.0], np.float32)
    cav_w, cav_ant, cav_post = (float(v[0]) for v in a.cavity_axes(z0))
    cx, cy = a.centre_x, a.centre_y
    u = rng.uniform
    a.organs["dome"] = {
        "right_x": cx - 0.42 * cav_w,
        "left_x": cx + 0.45 * cav_w,
        "y": cy - 0.05 * cav_ant,
        "radius_x": 0.55 * cav_w,
        "radius_y": 0.62 * cav_post + 0.2 * cav_ant,
    }
    a.organs["lung"] = {"apex_z": float(u(235.0, 265.0)) * s, "midline_x": cx + float(u(0.0, 8.0))}
    heart_size = float(u(0.88, 1.12))
    a.organs["heart"] = {
        "centre": (cx + 28.0 * a.width, cy - 0.3 * cav_ant, float(u(38.0, 55.0)) * s),
        "radii": tuple(r * heart_size for r in (56.0, 45.0, 52.0)),
        "yaw": float(u(-0.75, -0.45)),
        "pitch": float(u(0.15, 0.4)),
    }
    liver_size = float(u(0.88, 1.12))
    a.organs["liver_right"] = {
        "centre": (cx - 0.42 * cav_w, cy + 0.0 * cav_post, -70.0 * s),
        "radii": (0.58 * cav_w * liver_size, 0.98 * cav_ant * liver_size, 95.0 * s * liver_size),
        "yaw": float(u(-0.2, 0.2)),
    }
    a.organs["liver_left"] = {
        "centre": (cx + 0.05 * cav_w, cy - 0.5 * cav_ant, -40.0 * s),
        "radii": (0.5 * cav_w * liver_size, 0.42 * cav_ant, 50.0 * s),
        "yaw": float(u(-0.25, 0.05)),
    }
    spleen = float(u(0.8, 1.2))
    a.organs["spleen"] = {
        "centre": (cx + 0.62 * cav_w, cy + 0.38 * cav_post, -62.0 * s),
        "radii": (26.0 * spleen, 58.0 * spleen, 55.0 * s * spleen),
        "yaw": float(u(0.5, 0.9)),
    }
    a.organs["stomach"] = {
        "centre": (cx + 0.3 * cav_w, cy - 0.35 * cav_ant, -45.0 * s),
        "radii": (48.0, 40.0, 55.0 * s),
        "air_level": float(u(-0.9, -0.2)),
    }
    a.organs["gallbladder"] = {
        "present": bool(rng.random() < 0.7),
        "centre": (cx - 0.28 * cav_w, cy - 0.45 * cav_ant, -105.0 * s),
        "radii": (14.0, 17.0, 33.0 * s),
    }
    kidney = float(u(0.9, 1.1))
    for side, sign, zc in (("kidney_left", 1.0, -140.0), ("kidney_right", -1.0, -158.0)):
        zk = np.array([zc * s], np.float32)
        lat, _ = a.vertebral_radii(zk)
        a.organs[side] = {
            "centre": (cx + sign * (float(lat[0]) + 48.0), float(a.spine_y(zk)[0]) + 8.0, zc * s + float(u(-12, 12))),
            "radii": (24.0 * kidney, 28.0 * kidney, 52.0 * s * kidney),
            "yaw": sign * float(u(0.45, 0.75)),
            "pitch": sign * float(u(-0.15, 0.15)),
        }
    # organs are not ellipsoids: give each outline a few gentle bulges and dents
    for name, strength in (("liver_right", 0.06), ("liver_left", 0.08), ("spleen", 0.07), ("stomach", 0.08), ("kidney_left", 0.03), ("kidney_right", 0.03), ("heart", 0.03)):
        a.organs[name]["lobes"] = _organ_lobes(rng, strength)
    a.organs["pancreas"] = {"radius": float(u(9.0, 13.0))}
    a.organs["bladder"] = {"radii": (float(u(35, 55)), float(u(30, 45)), float(u(30, 50))), "z": -455.0 * s}
    _place_tubes(a, rng)


def _organ_lobes(rng: np.random.Generator, strength: float) -> list[tuple[float, float, float, float, float, float]]:
    """Three random cosine lobes ``(nx, ny, nz, frequency, phase, amplitude)`` for an organ outline."""
    lobes = []
    for _ in range(3):
        n = rng.normal(0.0, 1.0, 3)
        n /= np.linalg.norm(n) or 1.0
        lobes.append((float(n[0]), float(n[1]), float(n[2]), float(rng.choice([1.0, 1.5, 2.0, 2.5])), float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.3, 1.0) * strength)))
    return lobes


def _place_tubes(a: Anatomy, rng: np.random.Generator) -> None:
    """Aorta, caval veins, airways and the pancreas as poly-line tubes, following the spine."""
    s = a.scale
    cx = a.centre_x

    def spine(z: float) -> float:
        return float(a.spine_y(np.array([z * s], np.float32))[0])

    def vb(z: float) -> float:
        return float(a.vertebral_radii(np.array([z * s], np.float32))[1][0])

    def pt(x: float, y: float, z: float) -> tuple[float, float, float]:
        return (cx + x * a.width, y, z * s)

    heart = a.organs["heart"]["centre"]
    hy = heart[1]
    aorta_r = float(rng.uniform(11.0, 14.0)) * (1.0 + (a.age - 55) / 250.0)
    arch_z = float(rng.uniform(120.0, 140.0))

    def pre_spine(z: float, gap: float) -> float:
        return spine(z) - vb(z) - gap

    a.tubes = [
        {"tissue": "blood", "radius": aorta_r * 1.25, "points": [pt(-8, hy + 5, 55), pt(-14, hy - 5, arch_z - 20), pt(-6, hy + 5, arch_z)]},
        {"tissue": "blood", "radius": aorta_r * 1.1, "points": [pt(-6, hy + 5, arch_z), pt(8, pre_spine(arch_z, 25), arch_z + 5), pt(22, pre_spine(arch_z, 8), arch_z - 12)]},
        {
            "tissue": "blood",
            "radius": aorta_r,
            "points": [
                pt(22, pre_spine(arch_z, 8), arch_z - 12),
                pt(24, pre_spine(60, 6), 60),
                pt(14, pre_spine(-30, 8), -30),
                pt(6, pre_spine(-140, 6), -140),
                pt(3, pre_spine(-260, 4), -260),
            ],
        },
        {"tissue": "blood", "radius": aorta_r * 0.65, "points": [pt(3, pre_spine(-260, 4), -260), pt(30, pre_spine(-330, 0), -330), pt(60, pre_spine(-420, -15), -420), pt(70, pre_spine(-480, -25), -480)]},
        {"tissue": "blood", "radius": aorta_r * 0.65, "points": [pt(3, pre_spine(-260, 4), -260), pt(-30, pre_spine(-330, 0), -330), pt(-60, pre_spine(-420, -15), -420), pt(-70, pre_spine(-480, -25), -480)]},
        # brachiocephalic trunk, left carotid, left subclavian
        {"tissue": "blood", "radius": 6.5, "points": [pt(-6, hy + 5, arch_z), pt(-18, hy + 15, 200), pt(-30, hy + 25, 300)]},
        {"tissue": "blood", "radius": 4.5, "points": [pt(6, hy + 15, arch_z + 4), pt(12, hy + 22, 220), pt(18, hy + 25, 300)]},
        {"tissue": "blood", "radius": 5.0, "points": [pt(18, pre_spine(arch_z, 15), arch_z + 2), pt(38, pre_spine(200, 20), 210), pt(70, pre_spine(260, 25), 270)]},
        # superior vena cava and inferior vena cava
        {"tissue": "vein", "radius": 9.5, "points": [pt(-30, hy + 2, 230), pt(-30, hy + 8, 150), pt(-26, hy + 12, 85)]},
        {"tissue": "vein", "radius": 11.0, "points": [pt(-24, pre_spine(-300, 0), -300), pt(-24, pre_spine(-150, 10), -150), pt(-26, pre_spine(-40, 22), -40), pt(-18, hy + 30, 15)]},
        # pulmonary trunk and arteries
        {"tissue": "blood_pulmonary", "radius": 13.0, "points": [pt(12, hy - 20, 70), pt(10, hy - 5, 98)]},
        {"tissue": "blood_pulmonary", "radius": 9.5, "points": [pt(10, hy - 5, 98), pt(-10, hy + 20, 100), pt(-55, hy + 30, 95)]},
        {"tissue": "blood_pulmonary", "radius": 9.0, "points": [pt(10, hy - 5, 98), pt(35, hy + 25, 104), pt(55, hy + 38, 100)]},
        # portal vein into the liver hilum
        {"tissue": "vein", "radius": 7.0, "points": [pt(0, pre_spine(-120, 30), -120), pt(-40, pre_spine(-80, 40), -78)]},
        # trachea and main bronchi
        {"tissue": "airway", "radius": 9.0, "wall": 2.0, "points": [pt(0, pre_spine(300, 22), 300), pt(0, pre_spine(120, 28), 118)]},
        {"tissue": "airway", "radius": 6.5, "wall": 1.5, "points": [pt(0, pre_spine(120, 28), 118), pt(-45, pre_spine(100, 30), 100)]},
        {"tissue": "airway", "radius": 6.0, "wall": 1.5, "points": [pt(0, pre_spine(120, 28), 118), pt(42, pre_spine(95, 30), 95)]},
        # oesophagus (collapsed muscle tube)
        {"tissue": "muscle", "radius": 7.0, "points": [pt(4, pre_spine(300, 8), 300), pt(10, pre_spine(100, 6), 100), pt(22, pre_spine(-25, 18), -25)]},
    ]
    # pancreas: tail at the splenic hilum, body over the spine, head by the duodenum
    r = a.organs["pancreas"]["radius"]
    a.tubes.append(
        {
            "tissue": "pancreas",
            "radius": r,
            "points": [pt(80, pre_spine(-90, -5), -90), pt(35, pre_spine(-100, 25), -102), pt(0, pre_spine(-110, 32), -110), pt(-35, pre_spine(-122, 25), -125)],
        }
    )
    # the vessel segment arrays are filled by vessels.grow_vessel_trees (kept out of here: one concept per file)
    from lesionviewer.phantom.vessels import grow_vessel_trees

    a.vessel_segments = grow_vessel_trees(a, rng)
    from lesionviewer.phantom.bowel import plan_bowel

    a.organs["bowel"] = plan_bowel(a, rng)
    a.organs["level_phase"] = float(rng.uniform(0.0, 1.0))
    a.hu["vein"] = a.hu["blood"] if a.phase != "arterial" else a.hu["blood"] * 0.45 + 20.0
    a.hu["blood_pulmonary"] = a.hu["blood"] if a.phase != "arterial" else a.hu["blood"] * 0.8
