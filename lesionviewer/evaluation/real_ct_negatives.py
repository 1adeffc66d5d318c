"""False alarms on real CT: findings per slice on a lesion-free series, and findings on normal organs.

* :func:`findings_per_slice`: how many findings a user sees at the viewer's default threshold
  (:data:`~lesionviewer.review.session.DEFAULT_THRESHOLD`, 0.5) on a series with no known lesion,
  e.g. ``../shared/data/ct_torso_totalseg_3mm/ct.nii.gz``. Every finding there is a false positive.
* :func:`findings_on_labels`: which label of an organ label volume (TotalSegmentator classes) lies
  under each finding's box centre. The centre is looked up by patient position (mm), so the labels
  may be stored in another axis order or flip than the CT (``ct_abdomen_totalseg_organs`` is stored
  with its rows flipped relative to the DICOM CT; through patient positions the aorta label averages
  151 HU, the humeri 580-760 HU, the liver 93 HU on the CT, as they should).

Example:
    >>> from types import SimpleNamespace
    >>> count_per_slice([SimpleNamespace(slice_index=0, score=0.9), SimpleNamespace(slice_index=0, score=0.2)], 2, 0.5)
    [1, 0]
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lesionviewer.io import Volume, load_volume
from lesionviewer.review.session import DEFAULT_THRESHOLD

#: Normal structures a detector must not mark, as TotalSegmentator v2 "total" label ids (checked on
#: ct_abdomen_totalseg: see the module docstring).
ORGAN_GROUPS: dict[str, tuple[int, ...]] = {
    "humerus": (69, 70),
    "rib": tuple(range(97, 116)),
    "aorta": (52,),
}


def count_per_slice(findings: Sequence, num_slices: int, threshold: float = DEFAULT_THRESHOLD) -> list[int]:
    """The number of findings scoring at least ``threshold`` on each slice.

    Example:
        >>> from lesionviewer.detection.finding import Finding
        >>> count_per_slice([Finding(1, (0, 0, 1, 1), 0.5, "m")], 3)
        [0, 1, 0]
    """
    counts = np.zeros(num_slices, dtype=np.int64)
    for f in findings:
        if f.score >= threshold:
            counts[int(f.slice_index)] += 1
    return counts.tolist()


def findings_per_slice(detector, volume: Volume | str | Path, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Detect on every slice of a lesion-free ``volume`` (or path) and count the findings at ``threshold``.

    Returns ``{"num_slices", "num_findings", "findings_per_slice", "max_on_one_slice",
    "slices_with_findings", "threshold", "seconds"}`` (plus ``"source"`` for a path).

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from lesionviewer.io import Volume
        >>> fake = SimpleNamespace(detect=lambda v, slices=None: [SimpleNamespace(slice_index=2, score=0.6)] * 3)
        >>> r = findings_per_slice(fake, Volume(np.zeros((4, 8, 8), np.int16), (1, 1, 1)))
        >>> r["num_findings"], r["findings_per_slice"], r["max_on_one_slice"], r["slices_with_findings"]
        (3, 0.75, 3, 1)
    """
    start = time.perf_counter()
    source = None
    if not isinstance(volume, Volume):
        source, volume = str(volume), load_volume(volume)
    counts = np.asarray(count_per_slice(detector.detect(volume, slices=None), volume.num_slices, threshold))
    result = {
        "num_slices": int(volume.num_slices),
        "num_findings": int(counts.sum()),
        "findings_per_slice": float(counts.mean()) if counts.size else 0.0,
        "max_on_one_slice": int(counts.max()) if counts.size else 0,
        "slices_with_findings": int((counts > 0).sum()),
        "threshold": float(threshold),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return {"source": source, **result} if source else result


def label_under(finding, volume: Volume, labels: Volume) -> int:
    """The label id at the centre of ``finding``'s box (a finding on ``volume``), 0 outside ``labels``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.detection.finding import Finding
        >>> ct = Volume(np.zeros((1, 4, 4), np.int16), (1, 1, 1))
        >>> flipped = Volume(np.array([[[0] * 4, [0] * 4, [0] * 4, [7, 0, 0, 0]]], np.int16), (1, 1, 1),
        ...                  origin=(0, 3, 0), direction=np.diag([1, -1, 1]))
        >>> label_under(Finding(0, (0, 0, 1, 1), 0.9, "m"), ct, flipped)
        7
    """
    x1, y1, x2, y2 = (float(v) for v in finding.box_px)
    centre = volume.pixel_to_patient(finding.slice_index, (x1 + x2) / 2, (y1 + y2) / 2)
    index = np.rint(labels.patient_to_index(centre)).astype(int)
    if np.any(index < 0) or np.any(index >= np.asarray(labels.shape)):
        return 0
    return int(labels.hu[index[0], index[1], index[2]])


def findings_on_labels(findings: Sequence, volume: Volume, labels: Volume,
                       groups: Mapping[str, Sequence[int]] = ORGAN_GROUPS,
                       threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Count the findings at ``threshold`` whose box centre lies on each group of label ids.

    Returns ``{group: count, ..., "other label": n, "no label": n, "total": n, "threshold": t}``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.detection.finding import Finding
        >>> ct = Volume(np.zeros((1, 4, 4), np.int16), (1, 1, 1))
        >>> labels = Volume(np.array([[[52, 0, 0, 0], [0, 5, 0, 0], [0] * 4, [0] * 4]], np.int16), (1, 1, 1))
        >>> found = [Finding(0, (0, 0, 1, 1), 0.9, "m"), Finding(0, (1, 1, 2, 2), 0.8, "m"), Finding(0, (3, 3, 4, 4), 0.1, "m")]
        >>> findings_on_labels(found, ct, labels)
        {'humerus': 0, 'rib': 0, 'aorta': 1, 'other label': 1, 'no label': 0, 'total': 2, 'threshold': 0.5}
    """
    table = {name: 0 for name in groups}
    table.update({"other label": 0, "no label": 0})
    lookup = {int(i): name for name, ids in groups.items() for i in ids}
    total = 0
    for f in findings:
        if f.score < threshold:
            continue
        total += 1
        label = label_under(f, volume, labels)
        table[lookup.get(label, "other label" if label else "no label")] += 1
    return {**table, "total": total, "threshold": float(threshold)}


def evaluate_organ_check(detector, ct_path: str | Path, labels_path: str | Path,
                         groups: Mapping[str, Sequence[int]] = ORGAN_GROUPS,
                         threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Detect on every slice of the CT at ``ct_path`` and count the findings on the labels at ``labels_path``.

    Returns :func:`findings_on_labels`' table with ``num_slices``, ``findings_per_slice``, the two paths
    and ``seconds``. Raises ``LoadError`` (naming the file) for an unreadable CT or label volume, and
    ``ValueError`` when the label volume does not overlap the CT (another frame of reference).

    Example:
        >>> evaluate_organ_check(None, "no/ct", "no/labels.nii.gz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: no/ct: no such file or folder
    """
    start = time.perf_counter()
    volume, labels = load_volume(ct_path), load_volume(labels_path)
    centre = volume.index_to_patient(*((np.asarray(volume.shape) - 1) / 2))
    where = labels.patient_to_index(centre)
    if not np.all((where > -0.5) & (where < np.asarray(labels.shape) - 0.5)):
        raise ValueError(f"{labels_path}: the label volume does not cover the centre of the CT {ct_path} "
                         "(a different scan or frame of reference?)")
    findings = detector.detect(volume, slices=None)
    table = findings_on_labels(findings, volume, labels, groups, threshold)
    return {**table, "num_slices": int(volume.num_slices),
            "findings_per_slice": table["total"] / max(volume.num_slices, 1),
            "ct": str(ct_path), "labels": str(labels_path), "seconds": round(time.perf_counter() - start, 2)}
