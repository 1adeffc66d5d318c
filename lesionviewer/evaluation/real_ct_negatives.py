"""False alarms on real CT: findings per slice on a lesion-free series, and findings on normal organs.

* :func:`findings_per_slice`: how many findings a user sees at the viewer's default threshold
  (:data:`~lesionviewer.review.session.DEFAULT_THRESHOLD`, 0.5) on a series with no known lesion,
  e.g. ``../shared/data/ct_torso_totalseg_3mm/ct.nii.gz``. Every finding there is a false positive.
* :func:`findings_on_labels`: which label of an organ label volume (TotalSegmentator classes) each
  finding's box holds most of (:func:`box_label`): of the labelled pixels inside the box, the commonest
  label, provided labelled pixels cover at least :data:`MIN_LABELLED_SHARE` of the box. Pixels are looked
  up by patient position (mm), so the labels may be stored in another axis order or flip than the CT
  (``ct_abdomen_totalseg_organs`` is stored with its rows flipped relative to the DICOM CT; through
  patient positions the aorta label averages 151 HU, the humeri 580-760 HU, the liver 93 HU on the CT,
  as they should). Until session 7 only the label under the box centre counted: a box drawn around a
  whole arm has muscle at its centre, so 11 boxes around the left humerus counted as "no label".

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


#: A box counts on a label only when labelled pixels cover at least this share of it (else "no label").
MIN_LABELLED_SHARE = 0.05


def box_label(finding, volume: Volume, labels: Volume) -> int:
    """The commonest label among the labelled pixels inside ``finding``'s box; 0 when labelled pixels
    cover less than :data:`MIN_LABELLED_SHARE` of the box (or it lies outside ``labels``).

    Every pixel whose centre is inside the box is looked up by patient position; ties go to the
    smaller label id.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.detection.finding import Finding
        >>> ct = Volume(np.zeros((1, 8, 8), np.int16), (1, 1, 1))
        >>> arm = np.zeros((1, 8, 8), np.int16); arm[0, 2:6, 2:6] = 69  # a bone inside, marrow at the centre
        >>> arm[0, 4, 4] = 0
        >>> box_label(Finding(0, (0, 0, 8, 8), 0.9, "m"), ct, Volume(arm, (1, 1, 1)))
        69
    """
    x1, y1, x2, y2 = (float(v) for v in finding.box_px)
    # pixel i covers [i, i + 1) in box coordinates: its centre i + 0.5 inside the box
    columns = np.arange(max(int(np.ceil(x1 - 0.5)), 0), min(int(np.floor(x2 - 0.5)), volume.shape[2] - 1) + 1)
    rows = np.arange(max(int(np.ceil(y1 - 0.5)), 0), min(int(np.floor(y2 - 0.5)), volume.shape[1] - 1) + 1)
    if columns.size == 0 or rows.size == 0:
        return label_under(finding, volume, labels)
    ys, xs = (a.ravel().astype(float) for a in np.meshgrid(rows, columns, indexing="ij"))
    direction = np.asarray(volume.direction, float)
    points = (volume.slice_origin(finding.slice_index)[:, None] + direction[:, :1] * (xs * volume.spacing[2])
              + direction[:, 1:2] * (ys * volume.spacing[1]))
    values = _labels_at(labels, points)
    labelled = values[values != 0]
    if labelled.size < MIN_LABELLED_SHARE * values.size or labelled.size == 0:
        return 0
    ids, counts = np.unique(labelled, return_counts=True)
    return int(ids[np.argmax(counts)])


def _labels_at(labels: Volume, points: np.ndarray) -> np.ndarray:
    """Label values at patient positions ``points`` (3 x N, mm); 0 outside the label volume."""
    if labels.slice_origins is None or len(labels.slice_origins) == 1:
        origin = np.asarray(labels.origin if labels.slice_origins is None else labels.slice_origins[0], float)
        steps = np.linalg.solve(np.asarray(labels.direction, float), points - origin[:, None])
        index = np.stack([steps[2] / labels.spacing[0], steps[1] / labels.spacing[1], steps[0] / labels.spacing[2]])
    else:
        index = np.stack([labels.patient_to_index(p) for p in points.T], axis=1)
    index = np.rint(index).astype(int)
    inside = np.all((index >= 0) & (index < np.asarray(labels.shape)[:, None]), axis=0)
    values = np.zeros(points.shape[1], dtype=np.int64)
    values[inside] = labels.hu[index[0, inside], index[1, inside], index[2, inside]]
    return values


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
    """Count the findings at ``threshold`` whose box holds most of each group of label ids (:func:`box_label`).

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
        label = box_label(f, volume, labels)
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
