"""Record real-CT results in a model file's card (``metrics["real_ct"]``), so the numbers travel with the weights.

Only the summary goes in (sensitivities, counts, the data set folder names), not per-image detail.
The file is rewritten atomically with the same weights; the weights are checked against the card as
every save does.

Example:
    >>> summarize_real_ct({"fps": [4.0], "threshold": 0.5, "lesion_free": [{"source": "/d/ct.nii.gz",
    ...     "num_slices": 10, "num_findings": 5, "findings_per_slice": 0.5}]})["lesion_free"]
    [{'source': 'ct.nii.gz', 'num_slices': 10, 'findings_per_slice': 0.5}]
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _name(path: Any) -> str:
    return Path(str(path)).name


def summarize_real_ct(result: dict) -> dict:
    """The part of an ``evaluate-real`` result that goes into a model card.

    Example:
        >>> s = summarize_real_ct({"fps": [1.0, 4.0], "threshold": 0.5, "deeplesion": {"folder": "/x/deeplesion",
        ...     "num_images": 24, "num_lesions": 24, "sensitivity": {"1": 0.1, "4": 0.5}, "by_type": {}, "by_size": {}}})
        >>> s["deeplesion"]["sensitivity"]["4"], s["deeplesion"]["data"]
        (0.5, 'deeplesion')
    """
    out: dict[str, Any] = {"fps": list(result.get("fps", [])), "threshold": result.get("threshold")}
    dl = result.get("deeplesion")
    if dl:
        out["deeplesion"] = {
            "data": _name(dl.get("folder", "")), "num_images": dl.get("num_images"),
            "num_lesions": dl.get("num_lesions"), "sensitivity": dl.get("sensitivity"),
            "by_type": {k: v.get("sensitivity") for k, v in dl.get("by_type", {}).items()},
            "by_size": {k: v.get("sensitivity") for k, v in dl.get("by_size", {}).items()},
            "rule": "key slice alone as context; FROC IoU >= 0.5, FPs per image",
        }
    lidc = result.get("lidc")
    if lidc:
        out["lidc"] = {"data": _name(lidc.get("folder", "")), "num_slices": lidc.get("num_slices"),
                       "num_lesions": lidc.get("num_lesions"), "lesion_sensitivity": lidc.get("lesion_sensitivity"),
                       "slice_sensitivity": lidc.get("slice_sensitivity"), "criteria": lidc.get("criteria"),
                       "rule": "FPs per slice over the whole volume"}
    if result.get("lesion_free"):
        out["lesion_free"] = [{"source": _name(f.get("source", "")), "num_slices": f.get("num_slices"),
                               "findings_per_slice": f.get("findings_per_slice")} for f in result["lesion_free"]]
    organs = result.get("organs")
    if organs:
        out["organs"] = {k: v for k, v in organs.items() if k not in ("ct", "labels", "seconds")}
        out["organs"]["ct"] = _name(organs.get("ct", ""))
    return out


def record_real_ct_in_card(model_path: str | Path, result: dict) -> dict:
    """Rewrite ``model_path`` with ``metrics["real_ct"]`` set to :func:`summarize_real_ct` of ``result``.

    Example:
        >>> from unittest import mock
        >>> with mock.patch("lesionviewer.detection.card_metrics.set_card_metric") as written:
        ...     summary = record_real_ct_in_card("m.safetensors", {"fps": [4.0], "threshold": 0.5})
        >>> written.call_args.args[:2], written.call_args.args[2] == summary
        (('m.safetensors', 'real_ct'), True)
    """
    from lesionviewer.detection.card_metrics import set_card_metric

    summary = summarize_real_ct(result)
    set_card_metric(model_path, "real_ct", summary)
    return summary
