"""Tissue labels and their CT numbers (HU) in each contrast phase.

Values are typical adult figures at 120 kVp: unenhanced organs near 40-60 HU, portal-venous
liver about 100-110 HU, arterial aorta 250-350 HU. A patient draws its own values around these
(see :func:`tissue_hu`), so the phantom varies between patients as real scans do.

Example:
    >>> TISSUES["liver"].label, PHASES
    (8, ('unenhanced', 'arterial', 'portal', 'delayed'))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES = ("unenhanced", "arterial", "portal", "delayed")


@dataclass(frozen=True)
class Tissue:
    """A tissue class: its label number, mean HU per phase (in :data:`PHASES` order), and spread between patients.

    Example:
        >>> TISSUES["fat"].hu_by_phase[0]
        -100.0
    """

    label: int
    hu_by_phase: tuple[float, float, float, float]
    spread: float = 10.0


TISSUES: dict[str, Tissue] = {
    "air": Tissue(0, (-1000.0, -1000.0, -1000.0, -1000.0), 2.0),
    "table": Tissue(1, (250.0, 250.0, 250.0, 250.0), 40.0),
    "foam": Tissue(2, (-930.0, -930.0, -930.0, -930.0), 20.0),
    "skin": Tissue(3, (35.0, 45.0, 50.0, 45.0), 8.0),
    "fat": Tissue(4, (-100.0, -100.0, -98.0, -98.0), 8.0),
    "muscle": Tissue(5, (48.0, 55.0, 60.0, 58.0), 6.0),
    "lung": Tissue(6, (-860.0, -860.0, -855.0, -855.0), 25.0),
    "blood": Tissue(7, (40.0, 280.0, 160.0, 110.0), 25.0),
    "liver": Tissue(8, (58.0, 72.0, 108.0, 92.0), 8.0),
    "spleen": Tissue(9, (48.0, 115.0, 118.0, 100.0), 8.0),
    "kidney_cortex": Tissue(10, (32.0, 185.0, 170.0, 150.0), 15.0),
    "kidney_medulla": Tissue(11, (30.0, 70.0, 150.0, 165.0), 15.0),
    "bone_cortical": Tissue(12, (850.0, 850.0, 850.0, 850.0), 120.0),
    "bone_marrow": Tissue(13, (230.0, 235.0, 240.0, 240.0), 50.0),
    "fluid": Tissue(14, (8.0, 8.0, 10.0, 12.0), 4.0),
    "myocardium": Tissue(15, (45.0, 120.0, 105.0, 90.0), 10.0),
    "bowel_wall": Tissue(16, (40.0, 90.0, 95.0, 80.0), 10.0),
    "cartilage": Tissue(17, (120.0, 120.0, 120.0, 120.0), 25.0),
    "csf": Tissue(18, (15.0, 15.0, 18.0, 18.0), 5.0),
    "airway": Tissue(19, (-990.0, -990.0, -990.0, -990.0), 5.0),
    "stool": Tissue(20, (-120.0, -120.0, -110.0, -110.0), 50.0),
    "disc": Tissue(21, (85.0, 85.0, 90.0, 90.0), 10.0),
    "pancreas": Tissue(22, (42.0, 120.0, 100.0, 85.0), 8.0),
    "fat_visceral": Tissue(23, (-95.0, -95.0, -92.0, -92.0), 8.0),
    "fat_mediastinal": Tissue(24, (-95.0, -95.0, -92.0, -92.0), 8.0),
    "lesion": Tissue(30, (40.0, 60.0, 60.0, 55.0), 10.0),
}

LABEL_NAMES: dict[int, str] = {t.label: name for name, t in TISSUES.items()}


def tissue_hu(name: str, phase: str, rng: np.random.Generator) -> float:
    """A patient's HU for ``name`` in ``phase``, drawn around the typical value.

    Example:
        >>> import numpy as np
        >>> hu = tissue_hu("liver", "portal", np.random.default_rng(0))
        >>> 80 < hu < 140
        True
    """
    tissue = TISSUES[name]
    mean = tissue.hu_by_phase[PHASES.index(phase)]
    return float(mean + rng.normal(0.0, tissue.spread))
