"""DeepLesion's real lesion statistics: the type mix and the long-axis size distribution.

Sizes follow the quantiles of the RECIST long axis in the official test table (5/25/50/75/95th
percentiles 5.4/12.3/19.0/30.7/64.7 mm), interpolated in log space, scaled per type by the type's
median (lung nodules are smaller than liver masses). Type weights are the test table's counts.

Example:
    >>> import numpy as np
    >>> sizes = [sample_long_axis_mm(np.random.default_rng(s), 2) for s in range(2000)]
    >>> 15 < float(np.median(sizes)) < 25
    True
"""
from __future__ import annotations

import numpy as np

from lesionviewer.phantom.lesions import MEDIAN_DIAMETER_MM, TYPE_WEIGHTS

#: DeepLesion ``Coarse_lesion_type`` codes and names.
LESION_TYPES = {1: "bone", 2: "abdomen", 3: "mediastinum", 4: "liver", 5: "lung", 6: "kidney", 7: "soft_tissue",
                8: "pelvis"}

#: Long-axis quantiles (probability, mm) of the DeepLesion test table.
LONG_AXIS_QUANTILES_MM = ((0.05, 5.4), (0.25, 12.3), (0.50, 19.0), (0.75, 30.7), (0.95, 64.7))
OVERALL_MEDIAN_MM = 19.0
MIN_LONG_AXIS_MM, MAX_LONG_AXIS_MM = 4.0, 90.0


def long_axis_quantile_mm(p: float) -> float:
    """The long axis (mm) at probability ``p`` of the DeepLesion test table (log-linear between quantiles).

    Example:
        >>> round(long_axis_quantile_mm(0.5), 1), round(long_axis_quantile_mm(0.95), 1)
        (19.0, 64.7)
    """
    probs = np.array([q for q, _ in LONG_AXIS_QUANTILES_MM])
    logs = np.log([v for _, v in LONG_AXIS_QUANTILES_MM])
    if p <= probs[0] or p >= probs[-1]:
        # extend the outer segments' slopes into the tails
        i = 0 if p <= probs[0] else len(probs) - 2
        slope = (logs[i + 1] - logs[i]) / (probs[i + 1] - probs[i])
        edge = 0 if p <= probs[0] else len(probs) - 1
        return float(np.exp(logs[edge] + slope * (p - probs[edge])))
    return float(np.exp(np.interp(p, probs, logs)))


def sample_long_axis_mm(rng: np.random.Generator, type_code: int) -> float:
    """A long axis in mm for a lesion of ``type_code``: the overall distribution scaled by the type's median.

    Example:
        >>> import numpy as np
        >>> 4.0 <= sample_long_axis_mm(np.random.default_rng(0), 5) <= 90.0
        True
    """
    scale = MEDIAN_DIAMETER_MM.get(int(type_code), OVERALL_MEDIAN_MM) / OVERALL_MEDIAN_MM
    value = long_axis_quantile_mm(float(rng.uniform(0.01, 0.99))) * scale
    return float(np.clip(value, MIN_LONG_AXIS_MM, MAX_LONG_AXIS_MM))


def type_weights(available: set[int] | list[int]) -> tuple[list[int], np.ndarray]:
    """The DeepLesion mix restricted to ``available`` types: ``(codes, probabilities)``.

    Example:
        >>> codes, p = type_weights({4, 5})
        >>> codes, [round(float(v), 3) for v in p]
        ([4, 5], [0.389, 0.611])
    """
    codes = sorted(int(c) for c in available)
    if not codes:
        raise ValueError("no lesion type can be placed in this host")
    weights = np.array([TYPE_WEIGHTS[c] for c in codes], float)
    return codes, weights / weights.sum()
