"""``lesionviewer-train risk evaluate``: score a checkpoint, a run's best model or a risk model file on a list.

The network and its preprocessing come from the checkpoint's config or from the model file's
card; the list's crops are checked against that preprocessing. Results: ``<name>.json`` (AUC,
bootstrap 95 % CI, the operating point, per-case scores), ``<name>_roc.png`` and
``<name>_cases.csv`` in the output folder (default: the run's ``eval/``, or beside the model file).

Example:
    >>> evaluate_risk("/nonexistent/run", "x.list")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.training.checkpoint.CheckpointError: /nonexistent/run: checkpoint not found
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lesionviewer.risk.dataset import RiskDataset
from lesionviewer.risk.evaluate import predict_dataset, risk_metrics, write_risk_evaluation
from lesionviewer.risk.preprocess import PreprocessSettings
from lesionviewer.training.checkpoint import CheckpointError
from lesionviewer.training.runner import resolve_checkpoint


def load_for_evaluation(source: str | Path) -> tuple[torch.nn.Module, dict[str, Any], Path]:
    """``(network, settings, default output folder)`` from a run folder, a ``.pt`` checkpoint or a ``.safetensors`` file.

    ``settings`` holds ``preprocessing`` (a PreprocessSettings), ``hu_window``, ``mean``, ``std``.

    Example:
        >>> load_for_evaluation("/nonexistent/model.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/model.safetensors: no such risk model file
    """
    source = Path(source)
    if source.suffix == ".safetensors":
        from lesionviewer.risk.model_file import load_risk_network

        net, card = load_risk_network(source)
        settings = {"preprocessing": PreprocessSettings.from_dict(card["preprocessing"]), **card["intensity"]}
        return net, settings, source.parent / f"{source.stem}_eval"
    from lesionviewer.risk.trainer import network_from_checkpoint

    path = resolve_checkpoint(source)
    if not path.is_file():
        raise CheckpointError(f"{source}: checkpoint not found")
    net, cfg, _ = network_from_checkpoint(path)
    d = cfg.data
    settings = {"preprocessing": cfg.preprocess_settings(), "hu_window": d.hu_window, "mean": d.mean, "std": d.std}
    return net.eval(), settings, path.parent.parent / "eval"


def evaluate_risk(source: str | Path, list_path: str | Path, out_dir: str | Path | None = None,
                  name: str | None = None, device: str = "auto", batch_size: int = 4, min_sensitivity: float = 0.9,
                  bootstrap: int = 2000, progress: bool = False) -> dict[str, Any]:
    """Score ``source`` (see :func:`load_for_evaluation`) on ``list_path``; write and return the metrics.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.risk.model_file import save_risk_model
        >>> from lesionviewer.risk.networks import build_risk_network
        >>> from lesionviewer.risk.preprocess import write_npz
        >>> d = Path(tempfile.mkdtemp())
        >>> for name, hu in (("a", -800), ("b", 40), ("c", -700)):
        ...     write_npz(d / f"{name}.npz", np.full((8, 12, 12), hu, np.int16), {"layout": 1, "voxel_mm": 10.0})
        >>> _ = (d / "test.list").write_text("a.npz 0\\nb.npz 1\\nc.npz 0\\n")
        >>> _ = save_risk_model(d / "risk.safetensors", build_risk_network("mp3d", {"width": 4, "blocks": [1, 1, 1, 1]}),
        ...                     {"name": "tiny", "preprocessing": {"voxel_mm": 10.0, "crop_shape": [8, 12, 12]}})
        >>> metrics = evaluate_risk(d / "risk.safetensors", d / "test.list", bootstrap=0)
        >>> metrics["num_cases"], metrics["num_positive"], 0.0 <= metrics["auc"] <= 1.0, metrics["auc_ci95"]
        (3, 1, True, None)
        >>> sorted(p.name for p in (d / "risk_eval").iterdir())  # beside the model file, named after the list
        ['test.json', 'test_cases.csv', 'test_roc.png']
    """
    net, settings, default_out = load_for_evaluation(source)
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    net.to(dev)
    dataset = RiskDataset(list_path, settings["preprocessing"],
                          hu_window=settings["hu_window"], mean=settings["mean"], std=settings["std"])
    logits = predict_dataset(net, dataset, dev, batch_size, progress=progress)
    metrics = risk_metrics(dataset.labels, logits, min_sensitivity, bootstrap)
    name = name or Path(list_path).stem
    files = write_risk_evaluation(Path(out_dir) if out_dir else default_out, name, metrics, dataset.paths,
                                  dataset.labels, logits)
    metrics.update(source=str(source), list=str(list_path), files={k: str(v) for k, v in files.items()})
    return metrics
