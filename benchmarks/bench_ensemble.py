"""Benchmark: what an ensemble model file costs per slice against one of its members alone, in one run.

An ensemble file (``lesionviewer.detection.ensemble_file``) holds two or three detectors; every slice is read by
every one and their findings fused. This times ``detect`` on a synthetic 512 x 512 body-like volume with the
ensemble and with its first member alone (the peer: the same network, same card, same slices), taking
turns round by round so that a neighbour's load slows both alike, and prints each one's median and best
seconds per slice and the ratio ensemble / member. Both read each slice mirrored too where the cards
say so (the shipped setting). A third row times the ensemble as it ran before session 15, each member
copying (and mirroring) the whole series for every block of 8 slices, against today's one copy per device:
``--series-slices`` sets how long that series is (the copy grows with it; the slices read do not).

Run (CPU, about two minutes):  python benchmarks/bench_ensemble.py --threads 2 [--model FILE] [--series-slices 300]
On a GPU:  python benchmarks/bench_ensemble.py --device cuda --slices 32 --series-slices 300
"""
from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path
from types import SimpleNamespace

import torch

from lesionviewer.detection.default_model import default_detector_file
from lesionviewer.detection.engine import Detector
from lesionviewer.detection.ensemble import EnsembleDetector

try:  # the same synthetic volume and timing as the other detection benchmarks
    from bench_detect import synthetic_volume
    from bench_flip import seconds_per_slice_in_turns
except ImportError:  # run from the project root as benchmarks/bench_ensemble.py
    from benchmarks.bench_detect import synthetic_volume
    from benchmarks.bench_flip import seconds_per_slice_in_turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="an ensemble model file (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=8, help="slices per timed call (one ensemble block: 8)")
    parser.add_argument("--series-slices", type=int, default=16, help="slices in the synthetic series")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (where the one-copy change should matter most)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.model or default_detector_file()
    if path is None:
        raise SystemExit("no shipped detector file in resources/models")
    ensemble = Detector.from_file(path, device=args.device)
    if not isinstance(ensemble, EnsembleDetector):
        raise SystemExit(f"{path} holds one detector, not an ensemble")
    # the peer for the one-copy change: members without ``prepare`` put the series on the device per call
    copying = EnsembleDetector([SimpleNamespace(model_name=m.model_name, device=m.device, model=m.model,
                                                detect=m.detect) for m in ensemble.members], card=ensemble.card)
    detectors = {"ensemble": ensemble, "member": ensemble.members[0], "copying": copying}
    volume = synthetic_volume(max(args.series_slices, 4 + args.slices), 512)
    centre = list(range(4, 4 + args.slices))
    times = seconds_per_slice_in_turns(detectors, volume, centre, args.rounds)
    where = ensemble.members[0].device_description if args.device != "cpu" else platform.processor() or platform.machine()
    print(f"{Path(path).name} on {where}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds of {len(centre)} slices of a "
          f"{volume.num_slices}-slice 512 x 512 series, "
          f"mirrored pass {'on' if ensemble.flip else 'off'}")
    print("| | median s / slice | best s / slice |")
    print("| --- | --- | --- |")
    for name, label in (("member", f"first member alone ({ensemble.members[0].model_name})"),
                        ("ensemble", f"the ensemble ({ensemble.model_name})"),
                        ("copying", "the ensemble copying the series per member and block (before)")):
        print(f"| {label} | {statistics.median(times[name]):.3f} | {min(times[name]):.3f} |")
    ratio = statistics.median(times["ensemble"]) / statistics.median(times["member"])
    print(f"ensemble / member (medians): {ratio:.2f}x")
    saving = statistics.median(times["ensemble"]) / statistics.median(times["copying"])
    print(f"ensemble / ensemble copying per block (medians): {saving:.2f}x")


if __name__ == "__main__":
    main()
