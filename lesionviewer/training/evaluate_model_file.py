"""Score a model file - one detector or an ensemble file - on a split, as the trainer scores a checkpoint.

``lesionviewer-train evaluate --model M.safetensors --config C.toml --split val`` measures what is
shipped rather than what was trained: the network is the file's, read at the card's input size and
with the card's test-time flipping; a file holding an ensemble runs every member and fuses their
detections per image as the viewer does (:func:`~lesionviewer.training.ensemble_scores.fuse_stored`).
The config gives only the data (``data.root``, the split, the context) and the scoring (``eval.fps``,
``eval.iou``); a card whose slices, interval or HU clip differ from the config's is refused, since the
network would be fed other images than it was trained on. As the trainer's evaluation, every box the
network returns is scored (no display floor). For an ensemble each member's own detections are scored and
written too (``<split>_<file stem>_member<i>.json``; no extra network pass), so that other combinations
of the members can be scored later from the files without running a network again.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.detection.factory import build_detector
    >>> from lesionviewer.detection.model_file import save_model
    >>> from lesionviewer.training.config import TrainingConfig
    >>> from lesionviewer.training.toy_data import write_toy_deeplesion
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> root = write_toy_deeplesion(folder / "toy", patients=4, size=64, slices=6)
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    >>> model = folder / "m.safetensors"
    >>> _ = save_model(model, net, {"name": "m", "slice_interval_mm": 2.5, "input_min_size": 64})
    >>> cfg = TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3, "num_workers": 0,
    ...                                           "test_size": 64}})
    >>> metrics = evaluate_model_file(model, cfg, "val", folder / "eval")
    >>> metrics["members"], metrics["num_images"] > 0, sorted(p.name for p in (folder / "eval").iterdir())
    (['m'], True, ['val_m.json', 'val_m_froc.png'])
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.ensemble_scores import fuse_stored
from lesionviewer.training.evaluate import predict, score_split, write_evaluation


class ModelConfigMismatch(ValueError):
    """The model file's card and the config prepare different images (slices, interval or HU clip).

    Example:
        >>> str(ModelConfigMismatch("m.safetensors: num_slices 5 in the card, 9 in the config"))
        'm.safetensors: num_slices 5 in the card, 9 in the config'
    """


def card_config_mismatches(card: Any, cfg: TrainingConfig) -> list[str]:
    """What differs between how ``card`` and ``cfg`` prepare a key slice's context (empty when nothing).

    Example:
        >>> from lesionviewer.detection.model_card import ModelCard
        >>> card_config_mismatches(ModelCard("m", "mp3d_small", 5, 2.5), TrainingConfig())
        ['num_slices 5 in the card, 9 in the config']
    """
    problems = []
    if card.num_slices != cfg.data.num_slices:
        problems.append(f"num_slices {card.num_slices} in the card, {cfg.data.num_slices} in the config")
    if abs(card.slice_interval_mm - cfg.data.slice_interval_mm) > 1e-6:
        problems.append(f"slice_interval_mm {card.slice_interval_mm:g} in the card, "
                        f"{cfg.data.slice_interval_mm:g} in the config")
    if [float(v) for v in card.hu_clip] != [float(v) for v in cfg.data.hu_clip]:
        problems.append(f"hu_clip {list(card.hu_clip)} in the card, {list(cfg.data.hu_clip)} in the config")
    return problems


def evaluate_model_file(model_path: str | Path, cfg: TrainingConfig, split: str, out_dir: str | Path,
                        device: str = "auto", progress: bool = False) -> dict[str, Any]:
    """Score the model file on ``split`` of ``cfg``'s data; writes ``<split>_<file stem>.json`` and its FROC plot.

    Returns the metrics, with ``members`` (the detectors' names), ``test_time_flip`` (whether any
    member read mirrored), ``model`` (the path) and, for an ensemble, ``member_scores`` (each member's
    ``mean_sensitivity`` and ``sensitivity`` alone, in order; their files are beside the ensemble's). Raises :class:`ModelConfigMismatch` when a card
    prepares other images than the config and ``ModelFileError`` for a bad file (see the module's example).
    """
    from lesionviewer.detection.ensemble_file import load_ensemble
    from lesionviewer.detection.model_file import load_model, read_card
    from lesionviewer.training.splits import build_split_datasets

    model_path = Path(model_path)
    card = read_card(model_path)
    members = load_ensemble(model_path) if card.ensemble_members else [load_model(model_path)]
    for _, member_card in members:
        problems = card_config_mismatches(member_card, cfg)
        if problems:
            raise ModelConfigMismatch(f"{model_path} ({member_card.name}): " + "; ".join(problems))
    dataset = build_split_datasets(cfg, splits=(split,))[split]
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    outputs = []
    for model, member_card in members:
        model.to(dev)
        # cfg=None: the card's input size (set on the network's transform by the loader) is kept
        outputs.append(predict(model, dataset, dev, cfg.eval.batch_size, None, cfg.eval.max_images, progress,
                               flip=member_card.test_time_flip))
    if len(outputs) == 1:
        detections = outputs[0]
    else:
        heads = getattr(members[0][0], "roi_heads", None)
        detections = [fuse_stored(per_member, heads) for per_member in zip(*outputs)]
    metrics, truth = score_split(detections, dataset, cfg)
    metrics["test_time_flip"] = any(member_card.test_time_flip for _, member_card in members)
    metrics["members"] = [member_card.name for _, member_card in members]
    ids = [k.image_id for k in dataset.key_slices[: len(detections)]]
    if len(outputs) > 1:
        metrics["member_scores"] = []
        for index, ((_, member_card), own) in enumerate(zip(members, outputs)):
            alone, _ = score_split(own, dataset, cfg)
            alone.update(test_time_flip=member_card.test_time_flip, members=[member_card.name])
            write_evaluation(out_dir, f"{split}_{model_path.stem}_member{index}", alone, own, truth, ids)
            metrics["member_scores"].append({"name": member_card.name, "mean_sensitivity": alone["mean_sensitivity"],
                                             "sensitivity": alone["sensitivity"]})
    files = write_evaluation(out_dir, f"{split}_{model_path.stem}", metrics, detections, truth, ids)
    metrics["files"] = {k: str(v) for k, v in files.items()}
    metrics["model"] = str(model_path)
    return metrics
