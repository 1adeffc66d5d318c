"""Score every ensemble of stored detectors without running a network: their saved detections fused per image.

``lesionviewer-train evaluate`` writes each image's detections into its JSON record (``--model`` on an ensemble
writes every member's too). Fusing the members' stored detections per image as the engine fuses an
ensemble (:func:`~lesionviewer.detection.ensemble.fuse_member_outputs`) and scoring them as ``evaluate`` does
(:func:`~lesionviewer.training.evaluate.score_split`) gives each combination's numbers in seconds, where
running the ensemble would take minutes per member (Run 31 in docs/training.md: the route reproduced the
files' own validation means to the fourth digit; the records keep boxes to 0.01 px, so it is close, not
bit-exact). ``lesionviewer-train ensemble-scores --detections A.json --detections B.json --config C.toml
--split val`` prints every combination of one to four records; with ``--bootstrap N --baseline 1+2
--challenger 1+2+3`` it prints instead the gap between two of those ensembles with a paired bootstrap's 95 %
interval (:func:`bootstrap_gap`).

Example:
    >>> import json, tempfile, pathlib
    >>> record = {"detections": [{"image": "a", "boxes": [[0, 0, 4, 4]], "scores": [0.8]}]}
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "val_a.json"
    >>> _ = path.write_text(json.dumps(record))
    >>> ids, found = read_stored_detections(path)
    >>> ids, found[0].tolist()
    (['a'], [[0.0, 0.0, 4.0, 4.0, 0.800000011920929]])
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from lesionviewer.detection.factory import DETECTOR_DEFAULTS
from lesionviewer.detection.model_card import ENSEMBLE_SIZES

#: How many records one combination may join: one alone, or what an ensemble file may hold.
MAX_COMBINATION = ENSEMBLE_SIZES[-1]


class StoredDetectionsError(ValueError):
    """A detection record that cannot be read or that does not line up with the others (names the file).

    Example:
        >>> str(StoredDetectionsError("b.json: 3 images, a.json 4"))
        'b.json: 3 images, a.json 4'
    """


def read_stored_detections(path: str | Path) -> tuple[list[str], list[np.ndarray]]:
    """``(image ids, per-image (n, 5) arrays of x1, y1, x2, y2, score)`` from an ``evaluate`` JSON record.

    Raises :class:`StoredDetectionsError` naming the file when it is missing, not JSON or has no detections.
    (Example: the module docstring.)
    """
    return _stored_detections(_read_record(path), Path(path))


def _read_record(path: str | Path) -> dict[str, Any]:
    """An ``evaluate`` JSON record, read once; :class:`StoredDetectionsError` naming the file when it cannot be."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoredDetectionsError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise StoredDetectionsError(f"{path}: not an evaluate record with per-image detections ({err})") from None
    if not isinstance(record, dict):
        raise StoredDetectionsError(f"{path}: not an evaluate record with per-image detections (not a JSON object)")
    return record


def _stored_detections(record: dict[str, Any], path: Path) -> tuple[list[str], list[np.ndarray]]:
    """``read_stored_detections`` on a record already read."""
    try:
        rows = record["detections"]
        ids = [str(row["image"]) for row in rows]
        found = [np.concatenate([np.asarray(row["boxes"], np.float32).reshape(-1, 4),
                                 np.asarray(row["scores"], np.float32).reshape(-1, 1)], axis=1) for row in rows]
    except (ValueError, KeyError, TypeError) as err:
        raise StoredDetectionsError(f"{path}: not an evaluate record with per-image detections ({err})") from None
    return ids, found


def fuse_stored(per_member: Sequence[np.ndarray], heads: Any = None) -> np.ndarray:
    """One image's stored detections of several members fused as the ensemble fuses them; ``(n, 5)`` float32.

    ``heads`` gives ``nms_thresh`` and ``detections_per_img`` (default: the box head's defaults, 0.5 and 100).

    Example:
        >>> a = np.array([[0, 0, 4, 4, 0.8]], np.float32)
        >>> b = np.array([[0, 0, 4, 4, 0.6], [9, 9, 12, 12, 0.5]], np.float32)
        >>> [round(float(s), 2) for s in fuse_stored([a, b])[:, 4]]
        [0.7, 0.25]
    """
    from lesionviewer.detection.ensemble import fuse_member_outputs

    if heads is None:
        heads = SimpleNamespace(nms_thresh=DETECTOR_DEFAULTS["box_nms_thresh"],
                                detections_per_img=DETECTOR_DEFAULTS["box_detections_per_img"])
    if len(per_member) == 1:
        return np.asarray(per_member[0], np.float32).reshape(-1, 5)
    outputs = []
    for rows in per_member:
        table = torch.from_numpy(np.asarray(rows, np.float32).reshape(-1, 5))
        outputs.append({"boxes": table[:, :4], "scores": table[:, 4]})
    fused = fuse_member_outputs(outputs, heads)
    return np.concatenate([fused["boxes"].numpy().reshape(-1, 4), fused["scores"].numpy().reshape(-1, 1)],
                          axis=1).astype(np.float32)


def score_combinations(records: Sequence[str | Path], dataset, cfg) -> list[dict[str, Any]]:
    """Every combination of one to four of ``records`` (``evaluate`` JSON files of one split), scored.

    ``dataset`` is the split the records were made on (its first images, in order) and ``cfg`` gives the
    scoring (``eval.fps``, ``eval.iou``). Returns ``{"records": [paths], "mean_sensitivity", "sensitivity"}``
    per combination, singles first, in the order of ``records``. Records whose image lists differ are
    refused (:class:`StoredDetectionsError`).

    Example:
        >>> import json, tempfile, pathlib, torch
        >>> from lesionviewer.training.config import TrainingConfig
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name, score in (("a", 0.9), ("b", 0.2)):
        ...     rows = [{"image": "k", "boxes": [[0, 0, 8, 8], [20, 20, 28, 28]], "scores": [score, 1 - score]}]
        ...     _ = (folder / f"{name}.json").write_text(json.dumps({"detections": rows}))
        >>> items = [(None, {"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0]])})]
        >>> cfg = TrainingConfig.from_dict({"eval": {"fps": [0.5]}})
        >>> [(len(r["records"]), r["sensitivity"]["0.5"]) for r in
        ...  score_combinations([folder / "a.json", folder / "b.json"], items, cfg)]
        [(1, 1.0), (1, 0.0), (2, 1.0)]
    """
    from lesionviewer.training.evaluate import score_split

    paths, read = _read_aligned(records)
    results = []
    for size in range(1, min(MAX_COMBINATION, len(paths)) + 1):
        for chosen in combinations(range(len(paths)), size):
            metrics, _ = score_split(_fused(read, chosen), dataset, cfg)
            results.append({"records": [str(paths[i]) for i in chosen],
                            "mean_sensitivity": metrics["mean_sensitivity"], "sensitivity": metrics["sensitivity"]})
    return results


def _read_aligned(records: Sequence[str | Path]) -> tuple[list[Path], list[tuple[list[str], list[np.ndarray]]]]:
    """Every record read, refused unless all list the same images in the same order; ``(paths, read)``."""
    paths = [Path(p) for p in records]
    if not paths:
        raise StoredDetectionsError("no detection records given")
    stored = [_read_record(p) for p in paths]
    read = [_stored_detections(record, path) for record, path in zip(stored, paths)]
    # how each record read its key slices (eval.key_slice_alone; records written before it: with context)
    readings = [bool(record.get("key_slice_alone", False)) for record in stored]
    for path, alone in zip(paths[1:], readings[1:]):
        if alone != readings[0]:
            raise StoredDetectionsError(f"{path}: read its key slices {_reading(alone)}, {paths[0]} "
                                        f"{_reading(readings[0])}; records of one reading only")
    first_ids = read[0][0]
    for path, (ids, _) in zip(paths[1:], read[1:]):
        if ids != first_ids:
            raise StoredDetectionsError(f"{path}: its images differ from {paths[0]}'s "
                                        f"({len(ids)} against {len(first_ids)}, or in another order)")
    return paths, read


def _reading(alone: bool) -> str:
    return "alone (eval.key_slice_alone)" if alone else "with their context"


def _fused(read: Sequence[tuple[list[str], list[np.ndarray]]], chosen: Sequence[int]) -> list[np.ndarray]:
    """Each image's stored detections of the records at places ``chosen`` fused as the ensemble fuses them."""
    return [fuse_stored([read[i][1][image] for i in chosen]) for image in range(len(read[0][0]))]


def parse_members(text: str, count: int) -> tuple[int, ...]:
    """``"1+3"`` -> ``(0, 2)``: records chosen by their 1-based places among ``count`` records (one to four).

    Example:
        >>> parse_members("1+3", 4)
        (0, 2)
        >>> parse_members("5", 4)
        Traceback (most recent call last):
        ...
        lesionviewer.training.ensemble_scores.StoredDetectionsError: "5": there are 4 records, numbered 1 to 4
    """
    try:
        chosen = tuple(int(part) - 1 for part in text.split("+"))
    except ValueError:
        raise StoredDetectionsError(f'"{text}": give records by their places joined by +, e.g. "1+2"') from None
    if not 1 <= len(chosen) <= MAX_COMBINATION or len(set(chosen)) != len(chosen):
        raise StoredDetectionsError(f'"{text}": one to {MAX_COMBINATION} different records')
    if any(not 0 <= i < count for i in chosen):
        raise StoredDetectionsError(f'"{text}": there are {count} records, numbered 1 to {count}')
    return chosen


def bootstrap_gap(records: Sequence[str | Path], baseline: Sequence[int], challenger: Sequence[int], dataset, cfg,
                  resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The challenger ensemble's gap over the baseline's in mean sensitivity, with a paired bootstrap's interval.

    ``baseline`` and ``challenger`` are 0-based places in ``records`` (see :func:`parse_members`); each is fused
    from the stored detections as :func:`score_combinations` fuses it and scored on ``dataset`` with
    ``cfg.eval``'s FP rates and IoU; the interval comes from
    :func:`~lesionviewer.evaluation.paired_bootstrap.paired_bootstrap` (images drawn again with replacement).

    Example:
        >>> bootstrap_gap([], (0,), (1,), [], None)
        Traceback (most recent call last):
        ...
        lesionviewer.training.ensemble_scores.StoredDetectionsError: no detection records given
    """
    from lesionviewer.evaluation.paired_bootstrap import paired_bootstrap
    from lesionviewer.training.evaluate import ground_truth_boxes

    paths, read = _read_aligned(records)
    truth = ground_truth_boxes(dataset, len(read[0][0]))
    gap = paired_bootstrap(_fused(read, baseline), _fused(read, challenger), truth, fps=tuple(float(f) for f in cfg.eval.fps),
                           iou=cfg.eval.iou, resamples=resamples, seed=seed)
    return {"baseline": [str(paths[i]) for i in baseline], "challenger": [str(paths[i]) for i in challenger], **gap}
