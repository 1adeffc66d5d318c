"""Benchmark: per-slice detection latency of MP3D-63, the small variant, MR3D and FPN+3DCE, in one run.

Every model is built by the factory with random weights (speed does not depend on the values) and
run through the real engine (``Detector.detect``: context stack, clip and scale, the network's
transform to 512 x 512, backbone, RPN with 1000 proposals, box head, mapping back to findings) on a
synthetic 512 x 512 volume, one slice per call. The models take turns within each round, so a
neighbour's load on a shared machine slows them all alike and the ratios stay fair; the table gives
each model's median and best seconds per slice, its MACs (the paper's convention, see
``networks/complexity.py``) and its time relative to MP3D-63.

With a GPU, ``--throughput`` also times a whole 300-slice volume in batches, fp32 and AMP.

``--paths`` instead compares the inference paths of issue 16 side by side, per model and size: the
per-window path as it was before (CPU context stacks, ``predict_stacks``), window mode and volume
mode (device-side preprocessing; volume mode shares the trunk over a chunk of the z-resampled
series), each in fp32 and under bf16 autocast, as seconds per slice, slices/s and the ratio to the
old path; then the latency of the first finding on the current (middle) slice of a 300-slice CT,
visiting slices nearest-first as the viewer does. Volume mode is timed over exactly one chunk of
slices (every chunk of a long series costs the same, the halo included), window modes over a few
slices. MP3D-63 has random weights (timing only); the small model is the shipped default detector
file when there is one.

Run (CPU, a few minutes):  python benchmarks/bench_detect.py --threads 2
Run (GPU):                 python benchmarks/bench_detect.py --device cuda --throughput
Where the time goes:       python benchmarks/bench_detect.py --profile --size 256
The paths (issue 16):      python benchmarks/bench_detect.py --paths --threads 2
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from lesionviewer.detection.engine import Detector
from lesionviewer.detection.factory import build_detector
from lesionviewer.io import Volume

DEFAULT_MODELS = "mp3d63:9,mp3d_small:9,mr3d50:9,fpn3dce:27"
LABELS = {"mp3d63": "MP3D-63", "mp3d_small": "MP3D-small", "mr3d50": "MR3D-50", "fpn3dce": "FPN+3DCE",
          "a3d": "A3D", "mp3d63_ctm": "MP3D-63 CTM", "mp3d63_isopool": "MP3D-63 iso-pool"}


def synthetic_volume(num_slices: int, size: int) -> Volume:
    """A body-like CT: air, a noisy soft-tissue ellipse, a few brighter round 'lesions'."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((yy - size / 2) / (size * 0.35)) ** 2 + ((xx - size / 2) / (size * 0.45)) ** 2 < 1
    hu = np.full((num_slices, size, size), -1000, np.int16)
    for z in range(num_slices):
        slice_hu = np.where(body, 40 + rng.normal(0, 20, (size, size)), -1000)
        for cy, cx, r in ((0.4, 0.4, 0.04), (0.6, 0.55, 0.03)):
            slice_hu[(yy - cy * size) ** 2 + (xx - cx * size) ** 2 < (r * size) ** 2] = 120
        hu[z] = slice_hu.astype(np.int16)
    return Volume(hu, spacing=(2.5, 0.7, 0.7))


def build(arch: str, num_slices: int, device: str, amp: bool | None = None) -> Detector:
    torch.manual_seed(0)
    model = build_detector(arch, num_slices)
    card = {"name": f"{arch}-{num_slices}", "architecture": arch, "num_slices": num_slices, "slice_interval_mm": 2.5}
    return Detector(model, card, device=device, score_floor=0.0, amp=amp)


def macs_of(arch: str, num_slices: int) -> float | None:
    try:
        from lesionviewer.detection.networks.complexity import detector_macs

        with torch.device("meta"):
            model = build_detector(arch, num_slices)
        return detector_macs(model, num_slices)["total"] / 1e9
    except Exception:  # a counter problem must not spoil the timings
        return None


def latency(models: list[tuple[str, int]], device: str, repeats: int, warmup: int, size: int) -> None:
    volume = synthetic_volume(warmup + repeats, size)
    detectors = {}
    for arch, slices in models:
        try:
            detectors[(arch, slices)] = build(arch, slices, device)
        except Exception as err:  # an architecture that does not build is reported, the rest still run
            print(f"{arch} ({slices} slices): not measured, it does not build here: {err}")
    times: dict[tuple[str, int], list[float]] = {key: [] for key in detectors}
    for index in range(warmup + repeats):
        for key, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(volume, slices=[index])
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if index >= warmup:
                times[key].append(time.perf_counter() - start)
    reference = times.get(("mp3d63", 9))
    ref_median = statistics.median(reference) if reference else None
    print(f"\nper-slice latency, {size} x {size}, {repeats} timed slices each after {warmup} warm-up, device {device}")
    print(f"{'model':<18}{'slices':>7}{'params M':>10}{'GMACs':>9}{'median s':>10}{'best s':>9}{'vs MP3D-63':>12}")
    for (arch, slices), values in times.items():
        median = statistics.median(values)
        macs = macs_of(arch, slices)
        params = sum(p.numel() for p in detectors[(arch, slices)].model.parameters()) / 1e6
        ratio = f"{median / ref_median:.2f}x" if ref_median else "-"
        print(f"{LABELS.get(arch, arch):<18}{slices:>7}{params:>10.2f}"
              f"{(f'{macs:.1f}' if macs is not None else '-'):>9}{median:>10.2f}{min(values):>9.2f}{ratio:>12}")
    if ref_median:
        for (arch, slices), values in times.items():
            if arch in ("mr3d50", "fpn3dce"):
                print(f"time ratio MP3D-63 (9) / {LABELS[arch]} ({slices}): {ref_median / statistics.median(values):.2f}")


def throughput(arch: str, num_slices: int, device: str, volume_slices: int, batch_size: int, size: int) -> None:
    volume = synthetic_volume(volume_slices, size)
    print(f"\nthroughput, {LABELS.get(arch, arch)} ({num_slices} slices), {volume_slices}-slice volume, batch {batch_size}")
    for amp in (False, True):
        detector = build(arch, num_slices, device, amp=amp)
        detector.detect(volume, slices=range(batch_size), batch_size=batch_size)  # warm-up (cuDNN autotune)
        torch.cuda.synchronize()
        start = time.perf_counter()
        detector.detect(volume, batch_size=batch_size)
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        label = f"AMP {str(detector.amp_dtype).replace('torch.', '')}" if amp else "fp32"
        print(f"{label:<14}{volume_slices / elapsed:8.1f} slices/s ({elapsed:.1f} s)")


def small_model(device: str, amp: bool, mode: str, channels_last: bool = False, **extra) -> Detector:
    """The shipped default detector file (the small MP3D), else a random mp3d_small with 9 slices."""
    from lesionviewer.detection.default_model import default_detector_file

    path = default_detector_file()
    options = dict(device=device, score_floor=0.0, amp=amp, mode=mode, channels_last=channels_last, **extra)
    if path is None:
        torch.manual_seed(0)
        card = {"name": "mp3d_small-9", "architecture": "mp3d_small", "num_slices": 9, "slice_interval_mm": 2.5}
        return Detector(build_detector("mp3d_small", 9), card, **options)
    detector = Detector.from_file(path, **options)
    members = getattr(detector, "members", None)  # the shipped file is an ensemble: time one network, its first member
    if not getattr(small_model, "told", False):
        print(f"small model: {path}" + (" (its first member)" if members else ""))
        small_model.told = True
    return members[0] if members else detector


def path_detector(model: str, size: int, device: str, amp: bool, mode: str, channels_last: bool = False,
                  **extra) -> Detector:
    """``extra``: Detector options (``flat``, ``proposals``)."""
    if model == "small":
        detector = small_model(device, amp, mode, channels_last, **extra)
    else:
        torch.manual_seed(0)
        card = {"name": "mp3d63-9", "architecture": "mp3d63", "num_slices": 9, "slice_interval_mm": 2.5}
        detector = Detector(build_detector("mp3d63", 9), card, device=device, score_floor=0.0, amp=amp,
                            mode=mode, channels_last=channels_last, **extra)
    # run the network at the volume's own size (the card's input size may be smaller)
    detector.model.transform.min_size = (size,)
    detector.model.transform.max_size = max(size, detector.model.transform.max_size)
    return detector


def old_window_path(detector: Detector, volume: Volume, slices: list[int]) -> None:
    """Detection as the engine did it before issue 16: CPU context stacks, then ``predict_stacks``."""
    from lesionviewer.detection.engine import slice_positions_of
    from lesionviewer.imaging.context import ContextStacker

    card = detector.card
    stacker = ContextStacker(volume.hu, slice_positions_of(volume), card.num_slices, card.slice_interval_mm)
    for start in range(0, len(slices), detector.batch_size):
        detector.predict_stacks(stacker.stacks(slices[start:start + detector.batch_size]))


BEFORE = "before: per-window, fp32"


def path_variants(spec: str) -> dict[str, tuple[str, bool, dict]]:
    """Paths to compare from ``before,window-fp32,volume-bf16-p100,...``: name -> (how, amp, Detector options).

    ``window``/``volume`` run the trunk flat (channels-last 2D), ``window3d``/``volume3d`` as the 3D
    modules (the engine before the flat trunk); ``-pN`` caps the RPN at N proposals per slice.
    """
    variants = {}
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        if item == "before":
            variants[BEFORE] = ("old", False, {"flat": False})
            continue
        fields = item.split("-")
        how, precision = fields[0], fields[1]
        options = {"flat": not how.endswith("3d")}
        for extra in fields[2:]:
            options["proposals"] = int(extra.lstrip("p"))
        variants[item.replace("-", " ")] = (how.removesuffix("3d"), precision == "bf16", options)
    return variants


def compare_paths(models: list[str], sizes: list[int], device: str, window_slices: int, repeats: int,
                  spec: str, latency_slices: int, latency_spec: str) -> None:
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for size in sizes:
        for model in models:
            variants = path_variants(spec)
            detectors = {name: path_detector(model, size, device, amp, "window" if how == "old" else how, **options)
                         for name, (how, amp, options) in variants.items()}
            chunk = next((d.volume_chunk for d in detectors.values() if d.mode == "volume"), 32)
            volume = synthetic_volume(chunk, size)
            middle = list(range(chunk // 2 - window_slices // 2, chunk // 2 - window_slices // 2 + window_slices))
            times: dict[str, list[float]] = {name: [] for name in variants}
            # round 0 warms up (weights paged in, kernels chosen) on one slice; for volume mode that is
            # one slice of a 2-slice series: its chunk is the slice, its window and the halo
            warm = synthetic_volume(2, size)
            for round_index in range(repeats + 1):
                for name, (how, _, _) in variants.items():
                    detector = detectors[name]
                    slices = middle if how != "volume" else list(range(chunk))
                    if round_index == 0:
                        slices = slices[:1]
                    start = time.perf_counter()
                    if how == "old":
                        old_window_path(detector, volume, slices)
                    else:
                        detector.detect(warm if round_index == 0 and how == "volume" else volume, slices=slices)
                    sync()
                    if round_index:
                        times[name].append((time.perf_counter() - start) / len(slices))
            some = next(iter(detectors.values()))
            print(f"\n{some.card.name} ({some.card.num_slices} slices), {size} x {size}, device {device}, "
                  f"volume chunk {chunk} outputs + halo {some.volume_halo}; "
                  f"median of {repeats} rounds; window modes over {window_slices} slices; "
                  f"RPN proposals {some.model.rpn._post_nms_top_n['testing']} unless -pN")
            base = statistics.median(times[BEFORE]) if BEFORE in times else None
            print(f"{'path':<28}{'s / slice':>11}{'slices/s':>10}{'vs before':>11}")
            for name, values in times.items():
                median = statistics.median(values)
                ratio = f"{base / median:>10.2f}x" if base else f"{'-':>11}"
                print(f"{name:<28}{median:>11.3f}{1 / median:>10.2f}{ratio}", flush=True)
            latency_names = [n.replace("-", " ") for n in latency_spec.split(",") if n.strip()]
            first_finding_latency({n: detectors[n] for n in latency_names if n in detectors}, size, latency_slices, sync)


def first_finding_latency(detectors: dict[str, Detector], size: int, num_slices: int, sync) -> None:
    """Seconds from ``detect`` to the first slice's findings, current slice first (the viewer's order)."""
    import threading

    volume = synthetic_volume(num_slices, size)
    current = num_slices // 2
    order = [current] + [i for step in range(1, num_slices) for i in (current + step, current - step)
                         if 0 <= i < num_slices]
    parts = []
    for name in detectors:
        stop = threading.Event()
        first: list[tuple[int, float]] = []
        start = time.perf_counter()

        def on_findings(index, found, first=first, stop=stop, start=start):
            if not first:
                sync()
                first.append((index, time.perf_counter() - start))
            stop.set()

        detectors[name].detect(volume, slices=order, on_findings=on_findings, cancel=stop)
        assert first[0][0] == current
        parts.append(f"{name} {first[0][1]:.2f} s")
    print(f"first finding on the current slice of a {num_slices}-slice CT: " + ", ".join(parts), flush=True)


def profile_backbones(archs: list[str], num_slices: int, size: int) -> None:
    """Where a backbone's time goes, by operator type (one warm-up, one profiled pass)."""
    from torch.profiler import ProfilerActivity, profile

    print(f"\nbackbone time by operator, {num_slices} x {size} x {size} input (self CPU time)")
    for arch in archs:
        torch.manual_seed(0)
        backbone = build_detector(arch, num_slices).eval().backbone
        x = torch.rand(1, num_slices, size, size) * 255
        backbone(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            backbone(x)
            elapsed = time.perf_counter() - start
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        parts = ", ".join(f"{e.key.replace('aten::', '')} {100 * e.self_cpu_time_total / total:.0f}%"
                          for e in events[:5])
        print(f"{LABELS.get(arch, arch):<12} {elapsed:6.2f} s wall: {parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated arch:slices (default %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--throughput", action="store_true", help="also time a whole volume, fp32 and AMP (GPU)")
    parser.add_argument("--volume-slices", type=int, default=300)
    parser.add_argument("--profile", action="store_true",
                        help="instead of timing the detectors, profile the MP3D-63 and MR3D backbones by operator")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--paths", action="store_true",
                        help="instead: before/window/volume x fp32/bf16 per model and size, with first-finding latency")
    parser.add_argument("--path-models", default="small,mp3d63")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--window-slices", type=int, default=3)
    parser.add_argument("--variants", default="before,window-fp32,volume-fp32,volume-bf16",
                        help="with --paths: the paths to compare (before, window|window3d|volume|volume3d-fp32|bf16"
                             "[-pN]; default %(default)s)")
    parser.add_argument("--latency-variants", default="window-fp32",
                        help="with --paths: the paths whose first finding is timed (default %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"GPU: {gpu}, torch {torch.__version__}, torchvision "
          f"{__import__('torchvision').__version__}, Python {platform.python_version()}")
    models = [(spec.split(":")[0], int(spec.split(":")[1])) for spec in args.models.split(",") if spec]
    if args.paths:
        compare_paths(args.path_models.split(","), [int(v) for v in args.sizes.split(",")], args.device,
                      args.window_slices, args.repeats, args.variants, args.volume_slices, args.latency_variants)
        return
    with torch.inference_mode():
        if args.profile:
            profile_backbones(["mp3d63", "mr3d50"], 9, args.size)
            return
        latency(models, args.device, args.repeats, args.warmup, args.size)
        if args.throughput:
            throughput("mp3d63", 9, args.device, args.volume_slices, args.batch_size, args.size)


if __name__ == "__main__":
    main()
