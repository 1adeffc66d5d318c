"""Parameter and multiply-accumulate (MAC) counts of a detector, by the paper's convention.

The MP3D paper's "GFLOPs" are mmdetection's counter: multiply-accumulates of convolutions and
linear layers, GroupNorm (and other element-wise work) not counted, at one 1 x D x 512 x 512
stack with 1000 RoIs in the box head. We count with ``torch.utils.flop_counter.FlopCounterMode``
(which reports 2 FLOPs per MAC, and counts matrix products and convolutions only) on the
*meta* device, so nothing is computed: backbone + FPN + RPN head on the padded input, then the
box head and predictor on ``num_rois`` pooled 7x7 maps. RoIAlign, pooling, biases and
element-wise operations are left out (mmdetection's counter adds biases and pooling, well under
0.1 % here).
"""
from __future__ import annotations

import copy
import os
import time
from typing import TypeVar

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.detection import FasterRCNN

from lesionviewer.detection.networks.backbone import ContextBackboneWithFPN

_M = TypeVar("_M", bound=nn.Module)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters())


def _on_meta(module: _M) -> _M:
    if all(p.device.type == "meta" for p in module.parameters()):
        return module
    return copy.deepcopy(module).to("meta")


def detector_macs(model: FasterRCNN, num_slices: int, size: int = 512, num_rois: int = 1000) -> dict[str, int]:
    """MACs of a FasterRCNN from :func:`~lesionviewer.detection.factory.build_detector`, by part.

    ``size`` is the (already padded) square input side. Returns a dict with "backbone"
    (trunk + 3D-to-2D modules), "fpn", "rpn", "roi_head" and "total".

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> with torch.device("meta"):
        ...     model = build_detector("mp3d_small", 3)
        >>> macs = detector_macs(model, 3, size=64, num_rois=10)
        >>> macs["total"] == sum(v for k, v in macs.items() if k != "total")
        True
    """
    model = _on_meta(model)
    backbone = model.backbone
    if not isinstance(backbone, ContextBackboneWithFPN):
        raise TypeError(f"expected a detector from build_detector, got a {type(backbone).__name__} backbone")
    x = torch.empty(1, num_slices, size, size, device="meta")
    result = {}
    with FlopCounterMode(display=False) as counter:
        features_2d = backbone.features_2d(x)
    result["backbone"] = counter.get_total_flops() // 2
    with FlopCounterMode(display=False) as counter:
        features = backbone.fpn(features_2d)
    result["fpn"] = counter.get_total_flops() // 2
    with FlopCounterMode(display=False) as counter:
        model.rpn.head(list(features.values()))
    result["rpn"] = counter.get_total_flops() // 2
    pooled = torch.empty(num_rois, backbone.out_channels, 7, 7, device="meta")
    with FlopCounterMode(display=False) as counter:
        model.roi_heads.box_predictor(model.roi_heads.box_head(pooled))
    result["roi_head"] = counter.get_total_flops() // 2
    result["total"] = sum(result.values())
    return result


def cpu_latency(arch: str, num_slices: int = 9, size: int = 512, repeats: int = 3, threads: int = 2) -> float:
    """Best-of-``repeats`` seconds for one ``size`` x ``size`` slice through a random-weight detector.

    It sets the process's torch thread count to ``threads`` and takes seconds, so it has no doctest;
    ``main(["--latency"])`` prints it for mp3d_small and mp3d63 (docs/models.md).
    """
    from lesionviewer.detection.factory import build_detector

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_detector(arch, num_slices, min_size=size, max_size=size).eval()
    images = [torch.rand(num_slices, size, size) * 255]
    best = float("inf")
    with torch.inference_mode():
        model(images)  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            model(images)
            best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> None:
    """Print parameters and MACs of every architecture (and, with --latency, CPU seconds per slice).

    Building every architecture takes seconds, so the example shows only that arguments are checked:

    Example:
        >>> main(["--latncy"])  # argparse names the unknown option on stderr and exits with 2
        Traceback (most recent call last):
        ...
        SystemExit: 2
    """
    import argparse

    from lesionviewer.detection.factory import ARCHITECTURES, build_detector

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", action="store_true", help="also time mp3d_small and mp3d63 on the CPU")
    args = parser.parse_args(argv)
    for arch in ARCHITECTURES:
        for depth in ((3, 9, 27) if arch == "fpn3dce" else (9,)):
            with torch.device("meta"):
                model = build_detector(arch, depth)
            macs = detector_macs(model, depth)["total"] / 1e9
            print(f"{arch:15s} D={depth:2d}  parameters {count_parameters(model):>11,d}  "
                  f"GMACs (1x{depth}x512x512, 1000 RoIs) {macs:7.2f}")
    if args.latency:
        if hasattr(os, "getloadavg"):  # the CPU is often shared: say how busy it was
            print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
        for arch, size, repeats in (("mp3d_small", 512, 5), ("mp3d_small", 256, 5), ("mp3d63", 512, 2)):
            seconds = cpu_latency(arch, 9, size, repeats)
            print(f"CPU (2 threads) {arch} 9x{size}x{size}: {seconds:.2f} s per slice (best of {repeats})")


if __name__ == "__main__":
    main()
