"""Training on a fraction of the training patients (the paper's Table 5: 20%, 40%, ... of the data).

Whole patients are drawn, never single slices, so no patient's slices leak between the kept and
the left-out part. The draw is fixed by the seed and nested: with the same seed, the 20% subset is
inside the 40% subset, so the curve over fractions compares like with like.

Example:
    >>> patients = list(range(100))
    >>> small, large = sample_patients(patients, 0.2, seed=1), sample_patients(patients, 0.4, seed=1)
    >>> len(small), len(large), small <= large
    (20, 40, True)
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def sample_patients(patients: Iterable[int], fraction: float, seed: int = 0) -> set[int]:
    """A seeded, nested subset holding ``round(fraction * n)`` (at least one) of the distinct patients.

    Example:
        >>> sorted(sample_patients([5, 5, 7, 9], 1.0))
        [5, 7, 9]
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"the training fraction must be in (0, 1]; got {fraction}")
    distinct = sorted(set(int(p) for p in patients))
    if not distinct:
        return set()
    order = np.random.default_rng(int(seed)).permutation(len(distinct))
    count = max(1, int(math.floor(fraction * len(distinct) + 0.5)))
    return {distinct[i] for i in order[:count]}


def select_fraction(key_slices: list, fraction: float, seed: int = 0) -> list:
    """The key slices (objects with a ``patient`` attribute) of a patient fraction, order kept.

    Example:
        >>> from types import SimpleNamespace as K
        >>> items = [K(patient=p) for p in (1, 1, 2, 3)]
        >>> len(select_fraction(items, 1.0)), len(select_fraction(items, 0.34, seed=0)) in (1, 2)
        (4, True)
    """
    if fraction >= 1:
        return list(key_slices)
    keep = sample_patients((k.patient for k in key_slices), fraction, seed)
    return [k for k in key_slices if k.patient in keep]
