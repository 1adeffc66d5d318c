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

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in module.parameters())


def _on_meta(module: nn.Module) -> nn.Module:
    if all(p.device.type == "meta" for p in module.parameters()):
        return module
    return copy.deepcopy(module).to("meta")


def detector_macs(model: nn.Module, num_slices: int, size: int = 512, num_rois: int = 1000) -> dict[str, int]:
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
