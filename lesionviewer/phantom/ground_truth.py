"""The phantom's ground truth as plain JSON: geometry, patient, and every lesion's box and RECIST on every slice.

Pixel coordinates are 0-based with pixel centres on integers (as ``Finding.box_px``); ``box``
is tight around the lesion's pixel centres, ``recist_box`` is DeepLesion's box (RECIST end
points grown by the configured padding, 5 pixels by default) without DeepLesion's +1.

Example:
    >>> from lesionviewer.phantom.config import PhantomConfig
    >>> from lesionviewer.phantom.generator import generate_patient
    >>> truth = ground_truth(generate_patient(1, PhantomConfig.preset("small")), patient_index=1)
    >>> sorted(truth)
    ['format', 'lesions', 'patient', 'volume']
    >>> sorted(truth["lesions"][0]["slices"][0])
    ['area_px', 'box', 'long_axis', 'long_mm', 'recist_box', 'short_axis', 'short_mm', 'slice']
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lesionviewer.util.atomic import atomic_write_text

FORMAT = "lesionviewer-phantom-truth/1"


def _r(values, digits: int = 4):
    if isinstance(values, (list, tuple)):
        return [_r(v, digits) for v in values]
    return round(float(values), digits)


def ground_truth(case, patient_index: int = 1, box_padding: float | None = None) -> dict[str, Any]:
    """JSON-ready ground truth of ``case``.

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> t = ground_truth(generate_patient(2, PhantomConfig.preset("small")))
        >>> t["volume"]["shape"]
        [24, 128, 128]
    """
    vol = case.volume
    padding = case.config.box_padding_px if box_padding is None else box_padding
    pixel = vol.spacing[1]
    lesions = []
    for i, lesion in enumerate(case.lesions):
        slices = []
        for k, m in sorted(lesion.slices.items()):
            slices.append(
                {
                    "slice": int(k),
                    "box": _r(m.box),
                    "recist_box": _r(m.recist_box(padding)),
                    "long_axis": _r(m.long_axis),
                    "short_axis": _r(m.short_axis),
                    "long_mm": _r(m.long_px * pixel, 3),
                    "short_mm": _r(m.short_px * pixel, 3),
                    "area_px": int(m.area_px),
                }
            )
        lesions.append(
            {
                "id": i,
                **lesion.spec.to_dict(),
                "centre_patient_mm": _r(lesion.centre_mm, 3),
                "key_slice": int(lesion.key_slice),
                "slice_range": [int(v) for v in lesion.slice_range],
                "normalized_location": _r(lesion.normalized_location, 6),
                "slices": slices,
            }
        )
    return {
        "format": FORMAT,
        "patient": {"index": int(patient_index), "seed": repr(case.seed), **case.patient},
        "volume": {
            "shape": [int(v) for v in vol.shape],
            "spacing_zyx_mm": _r(vol.spacing, 6),
            "origin_xyz_mm": _r(vol.origin, 6),
            "direction": _r(vol.direction.ravel().tolist(), 6),
            "slice_thickness_mm": _r(vol.meta.get("slice_thickness", vol.spacing[0]), 6),
        },
        "lesions": lesions,
    }


def write_ground_truth(case, path: str | Path, patient_index: int = 1) -> Path:
    """Write the ground truth of ``case`` to ``path`` (JSON, atomically).

    Example:
        >>> import tempfile, pathlib
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "truth.json"
        >>> _ = write_ground_truth(generate_patient(1, PhantomConfig.preset("small").with_(num_slices=4)), p)
        >>> read_ground_truth(p)["format"]
        'lesionviewer-phantom-truth/1'
    """
    path = Path(path)
    atomic_write_text(path, json.dumps(ground_truth(case, patient_index), indent=1, sort_keys=True) + "\n")
    return path


def read_ground_truth(path: str | Path) -> dict[str, Any]:
    """Read a ground-truth JSON file (``ValueError`` naming the file when it is not one).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
        >>> _ = p.write_text("{}")
        >>> read_ground_truth(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: ...x.json is not a phantom ground-truth file (no format 'lesionviewer-phantom-truth/1')
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read phantom ground truth ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a phantom ground-truth file (no format {FORMAT!r})")
    return data
