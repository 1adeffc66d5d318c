"""Window mode vs volume mode, same weights: sensitivity at 0.5-16 FPs per image on a split's key slices.

Each key slice is detected by the real engine (``Detector.detect``) on its whole series (loaded from
the DeepLesion-layout PNGs with the slice positions the trainer uses), once per mode, and scored by
the trainer's evaluation (``lesionviewer.training.evaluate.score_detections``: the DeepLesion FROC
rule, IoU 0.5). Volume mode runs exactly as in the viewer: a key slice's findings come from the
chunk of the context grid that holds it, whatever else is asked for.

Run (the phantom test split, demo model, 2-core CPU: a few minutes):
    python benchmarks/eval_volume_mode.py --config resources/configs/demo_small_phantom.toml \\
        --set data.root=data/phantoms_demo --split test --model resources/models/demo_mp3d_small.safetensors

Real CT: ``LESIONVIEWER_DETECT_MODE=window|volume lesionviewer-train evaluate-real ...`` (the engine
reads the variable), once per mode.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from lesionviewer.detection.engine import Detector
from lesionviewer.io import Volume
from lesionviewer.training.config import load_config
from lesionviewer.training.evaluate import ground_truth_boxes, score_detections
from lesionviewer.training.splits import build_split_datasets


def series_volume(dataset, key_slice) -> tuple[Volume, int]:
    """The key slice's whole series as a Volume (trainer's positions), and the key slice's index in it."""
    series = dataset.series(key_slice.series)
    hu = np.stack([np.asarray(series.source.read(i)) for i in range(len(series.numbers))]).astype(np.int16)
    positions = series.positions_mm(key_slice.slice_interval_mm)
    pixel = tuple(float(v) for v in key_slice.pixel_spacing_mm)[:2]
    volume = Volume(hu, spacing=(float(key_slice.slice_interval_mm),) + pixel,
                    meta={"slice_positions_mm": positions.tolist()})
    return volume, series.index_of(key_slice.key_slice)


def detections(detector: Detector, dataset) -> tuple[list[np.ndarray], float]:
    """Each key slice's findings as rows (x1, y1, x2, y2, score), and the seconds spent detecting.

    The key slices of one series are detected in one call (a slice's findings do not depend on
    which other slices are asked for; tested), so volume mode runs each chunk once.
    """
    groups: dict[str, list[int]] = {}
    for position, key_slice in enumerate(dataset.key_slices):
        groups.setdefault(key_slice.series, []).append(position)
    out: list[np.ndarray | None] = [None] * len(dataset.key_slices)
    seconds = 0.0
    for positions in groups.values():
        first = dataset.key_slices[positions[0]]
        volume = series_volume(dataset, first)[0]
        series = dataset.series(first.series)
        indices = [series.index_of(dataset.key_slices[p].key_slice) for p in positions]
        start = time.perf_counter()
        found = detector.detect(volume, slices=indices)
        seconds += time.perf_counter() - start
        for p, index in zip(positions, indices):
            rows = [[*f.box_px, f.score] for f in found if f.slice_index == index]
            out[p] = np.asarray(rows, dtype=np.float32).reshape(-1, 5)
    return out, seconds


def mode_options(mode: str) -> dict:
    """Detector options of a ``--modes`` entry such as ``volume+bf16+p100``.

    Example:
        >>> mode_options("volume+bf16+3d+p100")
        {'mode': 'volume', 'amp': True, 'flat': False, 'proposals': 100}
    """
    name, *flags = mode.split("+")
    options = {"mode": name, "amp": "bf16" in flags}
    if "3d" in flags:
        options["flat"] = False
    for flag in flags:
        if flag.startswith("p") and flag[1:].isdigit():
            options["proposals"] = int(flag[1:])
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--modes", default="window,volume,volume+bf16",
                        help="comma-separated modes; +bf16 runs the backbone in bf16, +3d runs the trunk as "
                             "3D modules (not flat), +pN keeps N RPN proposals per image")
    parser.add_argument("--max-images", type=int, default=0, help="only the first N key slices (a quick check)")
    parser.add_argument("--out", help="write both modes' metrics here as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, device {args.device}")
    cfg = load_config(args.config, args.set)
    dataset = build_split_datasets(cfg, (args.split,))[args.split]
    if args.max_images:
        dataset.key_slices = dataset.key_slices[:args.max_images]
    truth = ground_truth_boxes(dataset)
    fps = tuple(cfg.eval.fps)
    results = {}
    print(f"model {args.model}")
    for mode in args.modes.split(","):
        detector = Detector.from_file(args.model, device=args.device, score_floor=0.0, **mode_options(mode))
        found, seconds = detections(detector, dataset)
        metrics = score_detections(found, truth, fps=fps)
        metrics["seconds"] = round(seconds, 1)
        results[mode] = metrics
        sens = " ".join(f"{k}:{v:.4f}" for k, v in metrics["sensitivity"].items())
        print(f"{mode:<14} {len(truth)} key slices, {metrics['num_lesions']} lesions: sensitivity at FPs {sens}; "
              f"mFROC {metrics['mean_sensitivity']:.4f}, mAP {metrics['map50']:.4f}, detect {seconds:.1f} s")
    for other in [m for m in results if m != "window"] if "window" in results else []:
        deltas = ", ".join(f"{key}: {100 * (results[other]['sensitivity'][key] - value):+.2f}"
                           for key, value in results["window"]["sensitivity"].items())
        print(f"{other} - window, points of sensitivity at FPs {deltas}")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({k: {m: v for m, v in r.items() if not m.startswith("curve")} for k, r in results.items()},
                      handle, indent=2)


if __name__ == "__main__":
    main()
