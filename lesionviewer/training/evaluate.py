"""Evaluate a detector on a split: run it over the key slices, then score by the DeepLesion rule.

Detections are per key slice ``[x1, y1, x2, y2, score]`` arrays in the slice's pixels (the
detector's transform maps its boxes back to the input size); ground truth is the key slice's
lesion boxes (without the noisy ones when ``data.drop_noisy``). Scoring - FROC sensitivities at
``eval.fps`` FPs per image and their mean over 0.5-4, mAP@0.5, breakdowns - is
``lesionviewer.evaluation``'s.

Example:
    >>> import numpy as np
    >>> ds = [(None, {"boxes": torch.tensor([[0., 0., 4., 4.]])})]
    >>> [g.tolist() for g in ground_truth_boxes(ds)]
    [[[0.0, 0.0, 4.0, 4.0]]]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lesionviewer.detection.flip_fusion import fuse_with_mirror
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.dataset import collate_detection
from lesionviewer.training.model_setup import eval_input_size


@torch.no_grad()
def predict(model: torch.nn.Module, dataset, device: torch.device | str = "cpu", batch_size: int = 4,
            cfg: TrainingConfig | None = None, max_images: int = 0, progress: bool = False,
            flip: bool | None = None) -> list[np.ndarray]:
    """``[x1, y1, x2, y2, score]`` float32 arrays, one per item of ``dataset`` (in order).

    ``flip`` (default: ``cfg.eval.test_time_flip``, else off) also runs each image mirrored left-right
    and fuses the two passes as the viewer's engine does (:mod:`lesionviewer.detection.flip_fusion`).

    Example:
        >>> import types
        >>> class Echo(torch.nn.Module):  # "finds" one box scored by the image's brightest value
        ...     transform = types.SimpleNamespace(min_size=(64,))
        ...     def forward(self, images):
        ...         return [{"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "scores": im.max().reshape(1)}
        ...                 for im in images]
        >>> items = [(torch.full((3, 8, 8), 0.75), {}), (torch.full((3, 8, 8), 0.25), {})]
        >>> [d.tolist() for d in predict(Echo(), items, batch_size=1)]
        [[[1.0, 2.0, 5.0, 6.0, 0.75]], [[1.0, 2.0, 5.0, 6.0, 0.25]]]
    """
    was_training = model.training
    model.eval()
    flip = bool(cfg.eval.test_time_flip if flip is None and cfg is not None else flip)
    heads = getattr(model, "roi_heads", None)
    indices = range(len(dataset)) if not max_images else range(min(len(dataset), max_images))
    out: list[np.ndarray] = []
    context = eval_input_size(model, cfg) if cfg is not None else _null()
    batches = [list(indices[i:i + batch_size]) for i in range(0, len(indices), batch_size)]
    if progress:
        from tqdm import tqdm

        batches = tqdm(batches, desc="evaluate", unit="batch", leave=False)
    try:
        with context:
            for batch in batches:
                images, _ = collate_detection([dataset[i] for i in batch])
                results = model([im.to(device) for im in images])
                if flip:
                    mirrored = model([im.to(device).flip(-1) for im in images])
                    results = [fuse_with_mirror([r], [m], im.shape[-1], heads)[0]
                               for r, m, im in zip(_on_cpu(results), _on_cpu(mirrored), images)]
                for r in results:
                    boxes = r["boxes"].float().cpu().numpy().reshape(-1, 4)
                    scores = r["scores"].float().cpu().numpy().reshape(-1, 1)
                    out.append(np.concatenate([boxes, scores], axis=1).astype(np.float32))
    finally:
        model.train(was_training)
    return out


def _on_cpu(results: list[dict]) -> list[dict]:
    return [{k: v.detach().cpu() for k, v in r.items()} for r in results]


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def ground_truth_boxes(dataset, max_images: int = 0) -> list[np.ndarray]:
    """The ``(K, 4)`` ground-truth boxes of each item (read from the targets, not the images).

    Example:
        >>> ground_truth_boxes([])
        []
    """
    if hasattr(dataset, "key_slices"):
        items = dataset.key_slices if not max_images else dataset.key_slices[:max_images]
        return [np.asarray(k.boxes, dtype=np.float32).reshape(-1, 4) for k in items]
    n = len(dataset) if not max_images else min(len(dataset), max_images)
    return [dataset[i][1]["boxes"].numpy().reshape(-1, 4) for i in range(n)]


def score_detections(detections: list[np.ndarray], ground_truth: list[np.ndarray],
                     fps=(0.5, 1, 2, 4, 8, 16), iou: float = 0.5, lesion_types: list | None = None,
                     long_diameters_mm: list | None = None) -> dict[str, Any]:
    """FROC sensitivities and their 0.5-4 mean, plus mAP@0.5, from ``lesionviewer.evaluation``.

    Returns a JSON-ready dict with ``sensitivity`` (``{"0.5": s, ...}``), ``mean_sensitivity``,
    ``map50``, ``num_images``, ``num_lesions`` and the curve points (``curve_fps``, ``curve_sensitivity``);
    with per-box ``lesion_types`` / ``long_diameters_mm`` (one list per image) also the breakdowns
    ``by_lesion_type`` and ``by_size``.

    Example:
        >>> import numpy as np
        >>> m = score_detections([np.array([[0, 0, 10, 10, 0.9]])], [np.array([[0, 0, 10, 10]])], fps=(0.5, 1))
        >>> m["sensitivity"]["0.5"], m["num_lesions"]
        (1.0, 1)
    """
    from lesionviewer.evaluation.froc import froc
    from lesionviewer.evaluation.map import mean_average_precision

    result = froc(detections, ground_truth, fps=tuple(float(f) for f in fps), iou=iou)
    metrics: dict[str, Any] = {
        "num_images": len(ground_truth),
        "num_lesions": int(sum(len(g) for g in ground_truth)),
        "fps": [float(f) for f in fps],
        "iou": float(iou),
    }
    metrics.update(_froc_fields(result, fps))
    from lesionviewer.evaluation import breakdown

    if lesion_types is not None:
        metrics["by_lesion_type"] = _finite(breakdown.sensitivity_by_lesion_type(result, lesion_types, fps))
    if long_diameters_mm is not None and all(np.all(np.isfinite(d)) for d in long_diameters_mm):
        metrics["by_size"] = _finite(breakdown.sensitivity_by_size(result, long_diameters_mm, fps))
    ap = mean_average_precision(detections, ground_truth, iou=iou)
    metrics["map50"] = None if np.isnan(ap) else float(ap)
    return metrics


def _finite(value):
    # JSON has no NaN: a rate a group never reaches is stored as null.
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _froc_fields(result, fps) -> dict[str, Any]:
    return {
        "sensitivity": {f"{float(f):g}": float(s) for f, s in zip(fps, result.sensitivities)},
        "mean_sensitivity": float(result.mean_sensitivity),
        "curve_fps": [round(float(v), 5) for v in result.curve_fps_per_image],
        "curve_sensitivity": [round(float(v), 5) for v in result.curve_sensitivity],
    }


def evaluate_split(model: torch.nn.Module, dataset, cfg: TrainingConfig, device: torch.device | str = "cpu",
                   progress: bool = False) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]]:
    """Predict and score one split; returns ``(metrics, detections, ground_truth)``.

    Example:
        >>> import types
        >>> class Echo(torch.nn.Module):  # "finds" one box scored by the image's brightest value
        ...     transform = types.SimpleNamespace(min_size=(64,))
        ...     def forward(self, images):
        ...         return [{"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]]), "scores": im.max().reshape(1)}
        ...                 for im in images]
        >>> items = [(torch.full((3, 8, 8), 0.75), {"boxes": torch.tensor([[1.0, 2.0, 5.0, 6.0]])}),  # found
        ...          (torch.full((3, 8, 8), 0.25), {"boxes": torch.tensor([[20.0, 20.0, 30.0, 30.0]])})]  # missed
        >>> metrics, detections, truth = evaluate_split(Echo(), items, TrainingConfig())
        >>> metrics["num_lesions"], metrics["sensitivity"]["4"], len(detections), truth[1].tolist()
        (2, 0.5, 2, [[20.0, 20.0, 30.0, 30.0]])
    """
    detections = predict(model, dataset, device, cfg.eval.batch_size, cfg, cfg.eval.max_images, progress)
    metrics, truth = score_split(detections, dataset, cfg)
    metrics["test_time_flip"] = bool(cfg.eval.test_time_flip)
    return metrics, detections, truth


def score_split(detections: list[np.ndarray], dataset, cfg: TrainingConfig) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Score per-image ``detections`` against the first ``len(detections)`` items of ``dataset``; ``(metrics, truth)``.

    With a key-slice dataset the metrics break down by lesion type and size too; ``key_slice_alone`` says
    whether the dataset read each key slice alone (``eval.key_slice_alone``), so every record written from
    these metrics (an ensemble's members' too) names its reading.

    Example:
        >>> items = [(None, {"boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0]])})]
        >>> metrics, truth = score_split([np.array([[0, 0, 8, 8, 0.9]], np.float32)], items, TrainingConfig())
        >>> metrics["sensitivity"]["0.5"], truth[0].tolist()
        (1.0, [[0.0, 0.0, 8.0, 8.0]])
    """
    truth = ground_truth_boxes(dataset, len(detections))
    types = diameters = None
    if hasattr(dataset, "key_slices"):
        items = dataset.key_slices[: len(truth)]
        types = [list(k.lesion_types) for k in items]
        if all(len(k.long_diameters_mm) == k.num_lesions for k in items):
            diameters = [np.asarray(k.long_diameters_mm, dtype=np.float64) for k in items]
    metrics = score_detections(detections, truth, cfg.eval.fps, cfg.eval.iou, types, diameters)
    metrics["key_slice_alone"] = bool(getattr(dataset, "key_slice_alone", False))
    return metrics, truth


def write_evaluation(folder: str | Path, name: str, metrics: dict[str, Any], detections: list[np.ndarray],
                     ground_truth: list[np.ndarray], image_ids: list[str] | None = None) -> dict[str, Path]:
    """Write ``<name>.json`` (metrics + per-image detections) and ``<name>_froc.png``; return the paths.

    Example:
        >>> import tempfile
        >>> dets, truth = [np.array([[1, 2, 5, 6, 0.75]], np.float32)], [np.array([[1, 2, 5, 6]], np.float32)]
        >>> paths = write_evaluation(tempfile.mkdtemp(), "val", score_detections(dets, truth), dets, truth,
        ...                          ["000001_01_01_005"])
        >>> json.loads(paths["json"].read_text())["detections"]
        [{'image': '000001_01_01_005', 'boxes': [[1.0, 2.0, 5.0, 6.0]], 'scores': [0.75]}]
        >>> paths["png"].name, paths["png"].stat().st_size > 1000
        ('val_froc.png', True)
    """
    from lesionviewer.util.atomic import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = dict(metrics)
    record["detections"] = [
        {"image": image_ids[i] if image_ids else i, "boxes": d[:, :4].round(2).tolist(),
         "scores": d[:, 4].round(6).tolist()} for i, d in enumerate(detections)]
    json_path = folder / f"{name}.json"
    atomic_write_text(json_path, json.dumps(record, indent=1))
    png_path = folder / f"{name}_froc.png"
    plot_froc_png(png_path, detections, ground_truth, metrics["fps"], metrics.get("iou", 0.5), title=name)
    return {"json": json_path, "png": png_path}


def plot_froc_png(path: str | Path, detections: list[np.ndarray], ground_truth: list[np.ndarray],
                  fps=(0.5, 1, 2, 4, 8, 16), iou: float = 0.5, title: str = "") -> None:
    """Draw the FROC curve with ``lesionviewer.evaluation.plots.plot_froc``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.png"
        >>> plot_froc_png(p, [np.array([[0, 0, 4, 4, 0.9]])], [np.array([[0, 0, 4, 4]])]); p.stat().st_size > 1000
        True
    """
    from lesionviewer.evaluation.froc import froc
    from lesionviewer.evaluation.plots import plot_froc

    result = froc(detections, ground_truth, fps=tuple(float(f) for f in fps), iou=iou)
    plot_froc({title or "detector": result}, path, title=title or None)
