"""How a synthetic lesion looks on portal-venous CT, drawn per DeepLesion type from published ranges.

Contrast is drawn from real ranges, never from a "make it visible" factor: liver metastases are
20-90 HU darker than the enhanced liver around them, cysts sit near water (0-25 HU), a quarter of
liver lesions are hyperdense (hypervascular: haemangioma, HCC, some metastases); lung nodules are
solid (-100..60 HU), part-solid or ground glass (-750..-450 HU); lymph nodes and soft-tissue
masses are 10-70 HU; bone lesions are lytic (20-150 HU) or sclerotic (+200..700 HU over bone).
``reference_hu`` is the median of the lesion's home tissue next to it.

Example:
    >>> import numpy as np
    >>> a = sample_appearance(np.random.default_rng(0), 4, reference_hu=110.0)
    >>> a.subtype in ("metastasis", "cyst", "hyperdense"), -200 < a.mean_hu < 400
    (True, True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Appearance:
    """Intensity and texture of one lesion.

    ``mean_hu`` is absolute; ``core_hu``/``core_fraction`` give a denser centre (part-solid nodules,
    necrosis when lower); ``capsule_hu`` is added on a thin rim; ``edge_mm`` blurs the margin;
    ``irregularity`` is the relative amplitude of the elastic margin; ``mass_effect`` pushes the
    tissue around outwards by that fraction of the radius.

    Example:
        >>> Appearance("cyst", 10.0).texture_std_hu
        4.0
    """

    subtype: str
    mean_hu: float
    texture_std_hu: float = 4.0
    texture_mm: float = 2.0
    edge_mm: float = 0.6
    irregularity: float = 0.1
    capsule_hu: float = 0.0
    core_hu: float | None = None
    core_fraction: float = 0.0
    mass_effect: float = 0.0


def sample_appearance(rng: np.random.Generator, type_code: int, reference_hu: float) -> Appearance:
    """Draw the look of a lesion of DeepLesion type ``type_code`` next to tissue of ``reference_hu``.

    Example:
        >>> import numpy as np
        >>> a = sample_appearance(np.random.default_rng(1), 5, reference_hu=-850.0)
        >>> a.subtype in ("solid", "part_solid", "ground_glass")
        True
    """
    u = rng.uniform
    t = int(type_code)
    tex = float(u(3.0, 12.0))
    if t == 4:
        r = rng.random()
        if r < 0.2:
            return Appearance("cyst", float(u(0.0, 25.0)), float(u(2.0, 5.0)), float(u(1.0, 3.0)), float(u(0.3, 0.7)),
                              float(u(0.02, 0.08)))
        if r < 0.45:
            return Appearance("hyperdense", reference_hu + float(u(15.0, 60.0)), tex, float(u(1.0, 4.0)),
                              float(u(0.5, 1.5)), float(u(0.05, 0.2)), mass_effect=float(u(0.0, 0.1)))
        necrosis = rng.random() < 0.3
        return Appearance("metastasis", reference_hu - float(u(20.0, 90.0)), tex, float(u(1.0, 4.0)),
                          float(u(0.4, 1.5)), float(u(0.05, 0.3)),
                          capsule_hu=float(u(10.0, 35.0)) if rng.random() < 0.25 else 0.0,
                          core_hu=float(u(-5.0, 25.0)) if necrosis else None,
                          core_fraction=float(u(0.3, 0.6)) if necrosis else 0.0,
                          mass_effect=float(u(0.0, 0.15)))
    if t == 6:
        if rng.random() < 0.6:
            return Appearance("cyst", float(u(0.0, 20.0)), float(u(2.0, 5.0)), 2.0, float(u(0.3, 0.6)),
                              float(u(0.02, 0.06)))
        return Appearance("mass", reference_hu - float(u(30.0, 120.0)), tex, float(u(1.0, 3.0)), float(u(0.5, 1.5)),
                          float(u(0.05, 0.25)), mass_effect=float(u(0.0, 0.15)))
    if t == 5:
        r = rng.random()
        if r < 0.6:
            return Appearance("solid", float(u(-100.0, 60.0)), float(u(5.0, 20.0)), float(u(0.8, 2.0)),
                              float(u(0.3, 1.0)), float(u(0.05, 0.35)))
        if r < 0.8:
            return Appearance("part_solid", float(u(-700.0, -450.0)), float(u(20.0, 60.0)), float(u(1.0, 3.0)),
                              float(u(0.8, 2.0)), float(u(0.1, 0.3)), core_hu=float(u(-80.0, 40.0)),
                              core_fraction=float(u(0.3, 0.6)))
        return Appearance("ground_glass", float(u(-750.0, -450.0)), float(u(20.0, 60.0)), float(u(1.0, 3.0)),
                          float(u(0.8, 2.0)), float(u(0.1, 0.3)))
    if t == 1:
        if rng.random() < 0.6:
            return Appearance("lytic", float(u(20.0, 150.0)), tex, float(u(1.0, 3.0)), float(u(0.4, 1.0)),
                              float(u(0.05, 0.25)))
        return Appearance("sclerotic", reference_hu + float(u(200.0, 700.0)), float(u(10.0, 40.0)),
                          float(u(1.0, 3.0)), float(u(0.5, 1.5)), float(u(0.1, 0.3)))
    if t in (2, 3, 8):
        return Appearance("lymph_node" if rng.random() < 0.7 else "mass", float(u(10.0, 70.0)), tex,
                          float(u(1.0, 3.0)), float(u(0.4, 1.2)), float(u(0.03, 0.2)),
                          core_hu=float(u(-10.0, 20.0)) if rng.random() < 0.15 else None,
                          core_fraction=float(u(0.3, 0.5)), mass_effect=float(u(0.0, 0.1)))
    if t == 7:
        return Appearance("soft_tissue_mass", float(u(10.0, 70.0)), tex, float(u(1.0, 3.0)), float(u(0.5, 1.5)),
                          float(u(0.05, 0.3)), mass_effect=float(u(0.0, 0.1)))
    raise ValueError(f"unknown lesion type {type_code} (DeepLesion types are 1..8)")
