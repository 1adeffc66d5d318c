"""One factory for every detector of the project: a torchvision FasterRCNN on a context backbone.

``build_detector(arch, num_slices, num_classes=2, **options)`` assembles torchvision's detection
parts (AnchorGenerator, RPNHead, MultiScaleRoIAlign, TwoMLPHead, FastRCNNPredictor) on one of the
backbones of :mod:`lesionviewer.detection.networks`, with the RPN/RoI settings of the MP3D
reference (the authors' mmdetection config). Conventions where torchvision and mmdetection differ:

* RPN pre-NMS top-k is taken per FPN level in both (mmdetection 2.x ``nms_pre``), then NMS per
  level (batched by level) and the best ``post_nms_top_n`` of the image are kept.
* RoIAlign: 7x7, ``sampling_ratio=0`` (adaptive, as mmdetection); torchvision's
  MultiScaleRoIAlign always uses ``aligned=False`` (mmdetection: ``aligned=True``), a half-pixel
  shift we accept rather than hand-write the pooler. Its level mapping equals mmdetection's
  (``finest_scale=56`` <-> canonical 224 at level 4).
* Box regression: torchvision's FastRCNNPredictor with ``4 * num_classes`` outputs (background
  included), so a 1-lesion-class model has 4,100 more parameters than mmdetection's head.
  ``BoxCoder`` weights (10, 10, 5, 5) equal mmdetection's target std (0.1, 0.1, 0.2, 0.2).
* Test score threshold 0.0 (the reference's), NMS 0.5, 100 boxes per image.
* Spatial stride of stages 2-4 on the first 1x1x1 conv (``stride_on="conv1"``, the MP3D
  reference); ``stride_on="spatial"`` puts it on the S/3x3x3/A3D conv as torchvision's ResNet-50
  does, which lets ImageNet weights reproduce the 2D network exactly (see ``initialization.py``).
* Resize: the shorter side goes to a random one of 448/576/512 in training and to 512 in eval
  (torchvision uses the *last* ``min_size`` at test time, hence the order); ``max_size`` 1024
  never shrinks a 512 image with an aspect ratio up to 1.78 at 576.

Example:
    >>> model = build_detector("mp3d_small", num_slices=3)
    >>> _ = model.eval()
    >>> out = model([torch.zeros(3, 64, 64)])
    >>> sorted(out[0])
    ['boxes', 'labels', 'scores']
"""
from __future__ import annotations

from typing import Any, Callable

import torch  # noqa: F401 - the module example uses it
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from lesionviewer.detection.networks.a3d import a3d_trunk
from lesionviewer.detection.networks.backbone import ContextBackboneWithFPN
from lesionviewer.detection.networks.depth_to_2d import depth_to_2d
from lesionviewer.detection.networks.fpn_3dce import SLICES_PER_IMAGE, LateFusion, SharedTrunk2D, fpn3dce_norm
from lesionviewer.detection.networks.input_windows import InputWindows
from lesionviewer.detection.networks.mp3d_resnet import RESNET50_BLOCKS, mp3d_trunk
from lesionviewer.detection.networks.normalization import no_norm, norm_layer
from lesionviewer.detection.networks.resnet3d import mr3d_trunk

PIXEL_MEAN = 123.675
PIXEL_STD = 58.395
ANCHOR_SIZES = ((16,), (32,), (64,), (128,), (256,))
ANCHOR_RATIOS = (0.5, 1.0, 2.0)

DETECTOR_DEFAULTS: dict[str, Any] = dict(
    min_size=(448, 576, 512), max_size=1024,
    rpn_pre_nms_top_n_train=2000, rpn_post_nms_top_n_train=1000,
    rpn_pre_nms_top_n_test=1000, rpn_post_nms_top_n_test=1000, rpn_nms_thresh=0.7,
    rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3, rpn_batch_size_per_image=256,
    rpn_positive_fraction=0.5,
    box_score_thresh=0.0, box_nms_thresh=0.5, box_detections_per_img=100,
    box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5, box_batch_size_per_image=512,
    box_positive_fraction=0.25, bbox_reg_weights=(10.0, 10.0, 5.0, 5.0),
)
"""FasterRCNN keyword arguments of the reference; any of them can be overridden by name."""

# Defaults of each architecture's own options (merged under the caller's options).
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "mp3d63": dict(width=64, blocks=RESNET50_BLOCKS, depth_to_2d="gtm", depth_pooling=False),
    "mp3d63_ctm": dict(width=64, blocks=RESNET50_BLOCKS, depth_to_2d="ctm", depth_pooling=False),
    "mp3d63_isopool": dict(width=64, blocks=RESNET50_BLOCKS, depth_to_2d="gtm", depth_pooling=True),
    "mr3d50": dict(width=64, blocks=RESNET50_BLOCKS, depth_to_2d="gtm", depth_pooling=False),
    "fpn3dce": dict(width=64, blocks=RESNET50_BLOCKS, stride_on="spatial"),
    "a3d": dict(width=64, blocks=RESNET50_BLOCKS, depth_to_2d="gtm"),
    # a quarter of MP3D-63's widths, 9 P3D blocks (A, B, C three times), narrower FPN and head
    "mp3d_small": dict(width=16, blocks=(2, 2, 3, 2), depth_to_2d="gtm", depth_pooling=False,
                       fpn_channels=96, representation_size=384),
}

ARCHITECTURES: tuple[str, ...] = tuple(ARCH_DEFAULTS)
"""Every name :func:`build_detector` accepts."""

#: Options only the MP3D trunks take, and only when given (a model without them keeps its options as before):
#: ``input_windows`` ([[low, high], ...] HU read as extra stem channels, ``networks/input_windows.py``) and
#: ``input_hu_clip`` (the [low, high] HU the input's 0..255 spans).
WINDOW_OPTIONS: tuple[str, ...] = ("input_windows", "input_hu_clip")
WINDOW_ARCHITECTURES: tuple[str, ...] = ("mp3d63", "mp3d63_ctm", "mp3d63_isopool", "mp3d_small")


def _norm(name: str) -> Callable[[int], nn.Module]:
    if name == "gn":
        return norm_layer
    if name == "none":
        return no_norm
    raise ValueError(f"norm must be 'gn' or 'none', not {name!r}")


def _input_windows(options: dict[str, Any]) -> InputWindows | None:
    windows = options.get("input_windows") or []
    if not windows:
        return None
    if "input_hu_clip" not in options:
        raise ValueError("input_windows needs input_hu_clip: the [low, high] HU the input spans (the data's hu_clip)")
    return InputWindows(windows, options["input_hu_clip"], PIXEL_MEAN, PIXEL_STD)


def _mp3d_backbone(num_slices: int, options: dict[str, Any], fpn_channels: int) -> nn.Module:
    trunk = mp3d_trunk(options["width"], tuple(options["blocks"]), options["depth_pooling"],
                       _norm(options["norm"]), options["stride_on"], _input_windows(options))
    to_2d = [depth_to_2d(options["depth_to_2d"], c, d)
             for c, d in zip(trunk.stage_channels, trunk.stage_depths(num_slices))]
    return ContextBackboneWithFPN(trunk, to_2d, trunk.stage_channels, fpn_channels)


def _mr3d_backbone(num_slices: int, options: dict[str, Any], fpn_channels: int) -> nn.Module:
    trunk = mr3d_trunk(options["width"], tuple(options["blocks"]), options["depth_pooling"],
                       _norm(options["norm"]), options["stride_on"])
    to_2d = [depth_to_2d(options["depth_to_2d"], c, d)
             for c, d in zip(trunk.stage_channels, trunk.stage_depths(num_slices))]
    return ContextBackboneWithFPN(trunk, to_2d, trunk.stage_channels, fpn_channels)


def _a3d_backbone(num_slices: int, options: dict[str, Any], fpn_channels: int) -> nn.Module:
    trunk = a3d_trunk(num_slices, options["width"], tuple(options["blocks"]), _norm(options["norm"]),
                      options["stride_on"])
    to_2d = [depth_to_2d(options["depth_to_2d"], c, num_slices) for c in trunk.stage_channels]
    return ContextBackboneWithFPN(trunk, to_2d, trunk.stage_channels, fpn_channels)


def _fpn3dce_backbone(num_slices: int, options: dict[str, Any], fpn_channels: int) -> nn.Module:
    if num_slices % SLICES_PER_IMAGE:
        raise ValueError(f"fpn3dce takes a multiple of 3 slices (3, 9, 27), not {num_slices}")
    if options["stride_on"] != "spatial":
        raise ValueError("fpn3dce uses torchvision's ResNet-50, whose stride is on the 3x3 conv "
                         "(stride_on='spatial')")
    trunk = SharedTrunk2D(tuple(options["blocks"]), options["width"], fpn3dce_norm(options["norm"]))
    images = num_slices // SLICES_PER_IMAGE
    to_2d = [LateFusion(c, images) for c in trunk.stage_channels]
    return ContextBackboneWithFPN(trunk, to_2d, trunk.stage_channels, fpn_channels)


BACKBONE_BUILDERS: dict[str, Callable[[int, dict[str, Any], int], nn.Module]] = {
    "mp3d63": _mp3d_backbone, "mp3d63_ctm": _mp3d_backbone, "mp3d63_isopool": _mp3d_backbone,
    "mr3d50": _mr3d_backbone, "fpn3dce": _fpn3dce_backbone, "a3d": _a3d_backbone,
    "mp3d_small": _mp3d_backbone,
}


def resolve_options(arch: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``options`` into the architecture's own (with defaults) and FasterRCNN's.

    Example:
        >>> own, rcnn = resolve_options("mp3d63", {"box_score_thresh": 0.05})
        >>> own["depth_to_2d"], rcnn["box_score_thresh"], rcnn["rpn_nms_thresh"]
        ('gtm', 0.05, 0.7)
        >>> resolve_options("mp3d_small", {"input_windows": [[-160, 240]], "input_hu_clip": [-1000, 400]})[0]["input_windows"]
        [[-160, 240]]
    """
    if arch not in ARCH_DEFAULTS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    own = dict(fpn_channels=256, representation_size=1024, norm="gn", stride_on="conv1")
    own.update(ARCH_DEFAULTS[arch])
    rcnn = dict(DETECTOR_DEFAULTS)
    for key, value in options.items():
        if key in own or (key in WINDOW_OPTIONS and arch in WINDOW_ARCHITECTURES):
            own[key] = value
        elif key in rcnn:
            rcnn[key] = value
        else:
            raise ValueError(f"unknown option {key!r} for {arch!r}; architecture options: "
                             f"{', '.join(sorted(own))}; detector options: {', '.join(sorted(rcnn))}")
    return own, rcnn


def build_detector(arch: str = "mp3d63", num_slices: int = 9, num_classes: int = 2,
                   **options: Any) -> FasterRCNN:
    """A torchvision FasterRCNN with FPN for context stacks of ``num_slices`` slices.

    ``num_classes`` counts the background (2 = background + lesion). Inputs: a list of float
    tensors (num_slices, H, W) in 0..255 (HU clipped to [-1024, 1050]); targets as torchvision's.
    Options: the architecture's own (``width``, ``blocks``, ``depth_to_2d``, ``depth_pooling``,
    ``fpn_channels``, ``representation_size``, ``norm``, ... see ``ARCH_DEFAULTS``) and any
    FasterRCNN keyword of ``DETECTOR_DEFAULTS``. The resolved settings are kept on the model as
    ``model.build_config`` (JSON-ready) so a model file can rebuild it.

    Example:
        >>> model = build_detector("mp3d_small", num_slices=5)
        >>> model.build_config["arch"], model.backbone.out_channels
        ('mp3d_small', 96)
    """
    if not isinstance(num_slices, int) or num_slices < 1:
        raise ValueError(f"num_slices must be a positive integer, not {num_slices!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes counts the background and must be at least 2, not {num_classes}")
    own, rcnn = resolve_options(arch, options)
    fpn_channels, representation = int(own["fpn_channels"]), int(own["representation_size"])
    backbone = BACKBONE_BUILDERS[arch](num_slices, own, fpn_channels)
    anchors = AnchorGenerator(ANCHOR_SIZES, (ANCHOR_RATIOS,) * len(ANCHOR_SIZES))
    rpn_head = RPNHead(fpn_channels, anchors.num_anchors_per_location()[0])
    roi_pool = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=7, sampling_ratio=0)
    box_head = TwoMLPHead(fpn_channels * 7 * 7, representation)
    predictor = FastRCNNPredictor(representation, num_classes)
    model = FasterRCNN(backbone, num_classes=None, image_mean=[PIXEL_MEAN] * num_slices,
                       image_std=[PIXEL_STD] * num_slices, rpn_anchor_generator=anchors,
                       rpn_head=rpn_head, box_roi_pool=roi_pool, box_head=box_head,
                       box_predictor=predictor, **rcnn)
    model.build_config = dict(arch=arch, num_slices=num_slices, num_classes=num_classes,
                              options=_jsonable({**own, **{k: rcnn[k] for k in options if k in rcnn}}))
    return model


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value
