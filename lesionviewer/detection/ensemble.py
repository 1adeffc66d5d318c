"""Two detectors run on the same slices, their findings fused: an output ensemble.

Each member runs as it would alone (its own card: input size, test-time flipping); on every slice the
two members' findings are fused as test-time flipping fuses its two passes
(:func:`~lesionviewer.detection.flip_fusion.fuse_two_passes`, weighted box fusion): boxes overlapping
by at least ``PAIR_IOU`` become one finding with the mean score, and a finding of one member alone
keeps half of its score. A false positive that only one member makes therefore loses half its score,
where the average of the two members' *weights* (``lesionviewer-train average``) has no such check.
It costs the sum of the members' times. Used by ``lesionviewer-train evaluate-real --model A --model B``
to measure whether an ensemble of two training seeds is worth its time; no model file holds one.

Example:
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from lesionviewer.io import Volume
    >>> one = lambda *found: SimpleNamespace(model_name="m", detect=lambda volume, slices=None: list(found))
    >>> a = one(Finding(0, (0, 0, 10, 10), 0.8, "a"))
    >>> b = one(Finding(0, (0, 0, 10, 10), 0.6, "b"), Finding(0, (40, 40, 50, 50), 0.9, "b"))
    >>> vol = Volume(np.zeros((1, 64, 64), np.int16), (1.0, 1.0, 1.0))
    >>> [(f.box_px, round(f.score, 2)) for f in EnsembleDetector([a, b]).detect(vol)]
    [((0.0, 0.0, 10.0, 10.0), 0.7), ((40.0, 40.0, 50.0, 50.0), 0.45)]
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch

from lesionviewer.detection.engine import SCORE_FLOOR
from lesionviewer.detection.finding import Finding
from lesionviewer.detection.flip_fusion import fuse_two_passes


class EnsembleDetector:
    """Two detectors whose findings are fused per slice (see the module docstring).

    ``members`` are :class:`~lesionviewer.detection.engine.Detector` objects (or anything with
    ``detect(volume, slices=...)`` and ``model_name``); findings scoring under ``score_floor`` after
    the fusion are dropped, as a single detector drops them.

    Example:
        >>> EnsembleDetector([object()])
        Traceback (most recent call last):
        ...
        ValueError: an ensemble takes exactly two detectors, not 1
    """

    def __init__(self, members: Sequence[Any], score_floor: float = SCORE_FLOOR) -> None:
        if len(members) != 2:
            raise ValueError(f"an ensemble takes exactly two detectors, not {len(members)}")
        self.members = list(members)
        self.score_floor = float(score_floor)

    @property
    def model_name(self) -> str:
        """The members' names joined by ``" + "``.

        Example:
            >>> from types import SimpleNamespace
            >>> EnsembleDetector([SimpleNamespace(model_name="a"), SimpleNamespace(model_name="b")]).model_name
            'a + b'
        """
        return " + ".join(m.model_name for m in self.members)

    @property
    def device(self) -> Any:
        """The first member's device (what the evaluation records).

        Example:
            >>> from types import SimpleNamespace
            >>> EnsembleDetector([SimpleNamespace(device="cpu"), SimpleNamespace(device="cuda")]).device
            'cpu'
        """
        return self.members[0].device

    def detect(self, volume, slices=None, **options: Any) -> list[Finding]:
        """Each member's findings on ``slices`` of ``volume``, fused per slice; sorted as ``Detector.detect``.

        ``options`` (progress, cancel, ...) go to each member. Suppression and the per-slice limit
        follow the first member's box head (torchvision's ``nms_thresh`` and ``detections_per_img``).

        Example:
            >>> from types import SimpleNamespace
            >>> a = SimpleNamespace(model_name="a", detect=lambda volume, slices=None:
            ...                     [Finding(0, (0, 0, 10, 10), 0.8, "a")])
            >>> b = SimpleNamespace(model_name="b", detect=lambda volume, slices=None:
            ...                     [Finding(0, (0, 0, 10, 10), 0.6, "b"), Finding(0, (40, 40, 50, 50), 0.9, "b")])
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> vol = Volume(np.zeros((2, 64, 64), np.int16), (1.0, 1.0, 1.0))
            >>> [(f.slice_index, round(f.score, 2), f.model_name) for f in EnsembleDetector([a, b]).detect(vol)]
            [(0, 0.7, 'a + b'), (0, 0.45, 'a + b')]
        """
        found = [m.detect(volume, slices=slices, **options) for m in self.members]
        by_slice: dict[int, list[list[Finding]]] = defaultdict(lambda: [[], []])
        for i, findings in enumerate(found):
            for f in findings:
                by_slice[f.slice_index][i].append(f)
        heads = getattr(getattr(self.members[0], "model", None), "roi_heads", None)
        nms_iou, limit = getattr(heads, "nms_thresh", None), getattr(heads, "detections_per_img", None)
        out: list[Finding] = []
        for index in sorted(by_slice):
            first, second = (_as_output(findings) for findings in by_slice[index])
            fused = fuse_two_passes(first, second, nms_iou=nms_iou, limit=limit)
            for box, score in zip(fused["boxes"].tolist(), fused["scores"].tolist()):
                if score >= self.score_floor:
                    out.append(Finding.from_pixel_box(volume, index, box, score, self.model_name))
        return out  # slices in order, each by falling score (fuse_two_passes sorts)


def _as_output(findings: list[Finding]) -> dict[str, torch.Tensor]:
    boxes = torch.tensor([f.box_px for f in findings], dtype=torch.float32).reshape(-1, 4)
    return {"boxes": boxes, "scores": torch.tensor([f.score for f in findings], dtype=torch.float32)}
