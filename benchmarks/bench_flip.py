"""Benchmark: what test-time flipping costs per slice, with the shipped default detector, in one run.

The shipped card switches flipping on (``test_time_flip``: each slice is also read mirrored and the
two passes fused, ``lesionviewer.detection.flip_fusion``). This times ``Detector.detect`` on a synthetic
512 x 512 body-like volume with ``flip=False`` and ``flip=True``, taking turns round by round so that a
neighbour's load slows both alike, and prints each one's median and best seconds per slice and the
ratio flipped / plain. The peer is the same model on the same slices without flipping.

Run (CPU, about a minute):  python benchmarks/bench_flip.py --threads 2
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lesionviewer.detection.default_model import default_detector_file
from lesionviewer.detection.engine import Detector

try:  # the same synthetic volume as the other detection benchmark
    from bench_detect import synthetic_volume
except ImportError:  # run from the project root as benchmarks/bench_flip.py
    from benchmarks.bench_detect import synthetic_volume


def seconds_per_slice_in_turns(detectors: dict, volume, slices: list[int], rounds: int) -> dict:
    """``{key: [seconds per slice, one per round]}``: after one warm-up call each, the detectors take turns
    each round on the same slices, so a neighbour's load slows them alike."""
    for detector in detectors.values():  # warm-up: first-call allocations are not what a reader waits for
        detector.detect(volume, slices=slices[:1])
    times: dict = {key: [] for key in detectors}
    for _ in range(rounds):
        for key, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(volume, slices=slices)
            times[key].append((time.perf_counter() - start) / len(slices))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slices", type=int, default=4, help="slices per timed call")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = default_detector_file()
    if path is None:
        raise SystemExit("no shipped detector file in resources/models")
    detectors = {flip: Detector.from_file(path, device="cpu", flip=flip) for flip in (False, True)}
    volume = synthetic_volume(12, 512)
    centre = list(range(4, 4 + args.slices))
    times = seconds_per_slice_in_turns(detectors, volume, centre, args.rounds)
    print(f"{path.name} on {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds of {len(centre)} slices, 512 x 512")
    print("| | median s / slice | best s / slice |")
    print("| --- | --- | --- |")
    for flip in (False, True):
        label = "flipped too (the shipped card)" if flip else "plain"
        print(f"| {label} | {statistics.median(times[flip]):.3f} | {min(times[flip]):.3f} |")
    ratio = statistics.median(times[True]) / statistics.median(times[False])
    print(f"flipped / plain (medians): {ratio:.2f}x")


if __name__ == "__main__":
    main()
