"""Two or three detectors run on the same slices, their findings fused: an output ensemble.

Each member runs as it would alone (its own card: input size, test-time flipping); on every slice the
members' findings are fused as test-time flipping fuses its two passes
(:func:`~lesionviewer.detection.flip_fusion.fuse_passes`, weighted box fusion): boxes overlapping
by at least ``PAIR_IOU`` become one finding scored by the sum of their scores over the member count
(two members agreeing: the mean score), and a finding of one member alone keeps a half (of two) or a
third (of three) of its score. A false positive that only one member makes therefore loses most of its
score, where the average of the members' *weights* (``lesionviewer-train average``) has no such check.
It costs the sum of the members' times. A model file can hold an ensemble
(:mod:`lesionviewer.detection.ensemble_file`; ``Detector.from_file`` opens it as an
:class:`EnsembleDetector`); ``lesionviewer-train evaluate-real --model A --model B`` runs two (or three) files as one.

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
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from lesionviewer.detection.finding import Finding
from lesionviewer.detection.flip_fusion import fuse_passes
from lesionviewer.detection.model_card import ensemble_size_problem
from lesionviewer.detection.slice_findings import SCORE_FLOOR, is_cancelled, report_batch, slice_findings

#: Slices each member reads before the members' findings on them are fused and reported: the viewer
#: sees findings (and progress) every block instead of only after every member read everything.
ENSEMBLE_BLOCK = 8


class EnsembleDetector:
    """Two or three detectors whose findings are fused per slice (see the module docstring).

    ``members`` are :class:`~lesionviewer.detection.engine.Detector` objects (or anything with
    ``detect(volume, slices=...)`` and ``model_name``); findings scoring under ``score_floor`` after
    the fusion are dropped, as a single detector drops them. ``card`` is the ensemble file's card
    (None for files run together).

    Example:
        >>> EnsembleDetector([object()])
        Traceback (most recent call last):
        ...
        ValueError: an ensemble holds 2 to 4 detectors, not 1
    """

    def __init__(self, members: Sequence[Any], score_floor: float = SCORE_FLOOR, card: Any = None) -> None:
        size_problem = ensemble_size_problem(len(members))
        if size_problem:
            raise ValueError(size_problem)
        self.members = list(members)
        self.score_floor = float(score_floor)
        self.card = card

    @property
    def model_name(self) -> str:
        """The ensemble card's name, or the members' names joined by ``" + "``.

        Example:
            >>> from types import SimpleNamespace
            >>> EnsembleDetector([SimpleNamespace(model_name="a"), SimpleNamespace(model_name="b")]).model_name
            'a + b'
        """
        if self.card is not None:
            return self.card.name
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

    @property
    def device_description(self) -> str:
        """The status bar's sentences: the first member's, then one saying how many detectors run.

        Example:
            >>> from types import SimpleNamespace
            >>> one = SimpleNamespace(device_description="Processor (CPU, 2 threads). No GPU found (slower)")
            >>> EnsembleDetector([one, one]).device_description
            'Processor (CPU, 2 threads). No GPU found (slower). Two detectors read every slice (an ensemble).'
        """
        count = {2: "Two", 3: "Three"}.get(len(self.members), str(len(self.members)))
        return f"{self.members[0].device_description.rstrip().rstrip('.')}. {count} detectors read every slice (an ensemble)."

    @property
    def flip(self) -> bool:
        """Whether any member also reads each slice mirrored.

        Example:
            >>> from types import SimpleNamespace
            >>> EnsembleDetector([SimpleNamespace(flip=False), SimpleNamespace(flip=True)]).flip
            True
        """
        return any(bool(getattr(m, "flip", False)) for m in self.members)

    @flip.setter
    def flip(self, value: bool) -> None:
        # Off turns every member's mirrored pass off; on gives it back to the members whose card asks for it.
        for member in self.members:
            card = getattr(member, "card", None)
            member.flip = bool(value) and bool(getattr(card, "test_time_flip", True))

    def detect(self, volume, slices: Iterable[int] | None = None,
               progress: Callable[[int, int], Any] | None = None, cancel: Any = None,
               batch_size: int | None = None,
               on_findings: Callable[[int, list[Finding]], Any] | None = None) -> list[Finding]:
        """Every member's findings on ``slices`` of ``volume``, fused per slice; ordered as ``Detector.detect``.

        The slices are read in blocks of :data:`ENSEMBLE_BLOCK` in visiting order: each member reads a
        block, the block's findings are fused, then ``on_findings(slice, findings)`` is called per
        slice of the block and ``progress(done, total)`` once (counting slices); ``cancel`` (as for
        ``Detector.detect``) goes to the members, and once it is set the findings of the blocks every
        members finished are returned. Suppression and the per-slice limit follow the
        first member's box head (torchvision's ``nms_thresh`` and ``detections_per_img``).

        Example:
            >>> from types import SimpleNamespace
            >>> a = SimpleNamespace(model_name="a", detect=lambda volume, slices=None, **kw:
            ...                     [Finding(0, (0, 0, 10, 10), 0.8, "a")])
            >>> b = SimpleNamespace(model_name="b", detect=lambda volume, slices=None, **kw:
            ...                     [Finding(0, (0, 0, 10, 10), 0.6, "b"), Finding(0, (40, 40, 50, 50), 0.9, "b")])
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> vol = Volume(np.zeros((2, 64, 64), np.int16), (1.0, 1.0, 1.0))
            >>> [(f.slice_index, round(f.score, 2), f.model_name) for f in EnsembleDetector([a, b]).detect(vol)]
            [(0, 0.7, 'a + b'), (0, 0.45, 'a + b')]
        """
        order = list(dict.fromkeys(range(volume.num_slices) if slices is None else (int(i) for i in slices)))
        heads = getattr(getattr(self.members[0], "model", None), "roi_heads", None)
        options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        if cancel is not None:
            options["cancel"] = cancel
        out: list[Finding] = []
        done = 0
        # the series goes to each device once (and is mirrored once), not once per member and block
        prepared: dict[str, Any] = {}
        member_options = []
        for member in self.members:
            if not callable(getattr(member, "prepare", None)):
                member_options.append(options)
                continue
            key = str(getattr(member, "device", ""))
            if key not in prepared:
                prepared[key] = member.prepare(volume)
            member_options.append({**options, "prepared": prepared[key]})
        for start in range(0, len(order), ENSEMBLE_BLOCK):
            block = order[start:start + ENSEMBLE_BLOCK]
            found: list[list[Finding]] = []
            for member, kwargs in zip(self.members, member_options):
                found.append(member.detect(volume, slices=block, **kwargs))
                if is_cancelled(cancel):  # a block only one member finished (or neither) is not reported
                    out.sort(key=lambda f: (f.slice_index, -f.score))
                    return out
            by_slice: dict[int, list[list[Finding]]] = defaultdict(lambda: [[] for _ in self.members])
            for i, findings in enumerate(found):
                for f in findings:
                    by_slice[f.slice_index][i].append(f)
            per_slice = []
            for index in block:
                fused = fuse_member_outputs([_as_output(member) for member in by_slice[index]], heads)
                per_slice.append((index, slice_findings(volume, index, fused, self.score_floor, self.model_name)))
            done = report_batch(out, per_slice, done, len(order), progress, on_findings)
        out.sort(key=lambda f: (f.slice_index, -f.score))
        return out


def fuse_member_outputs(outputs: Sequence[dict[str, torch.Tensor]], heads: Any = None) -> dict[str, torch.Tensor]:
    """The members' detections on one image (``boxes``, ``scores``; one dict per member) fused as the ensemble fuses them.

    ``heads`` (the first member's torchvision ``roi_heads``, or None) gives the suppression overlap and
    the per-image limit; the score floor is the caller's.

    Example:
        >>> a = {"boxes": torch.tensor([[0., 0., 4., 4.]]), "scores": torch.tensor([.8])}
        >>> b = {"boxes": torch.tensor([[0., 0., 4., 4.], [9., 9., 12., 12.]]), "scores": torch.tensor([.6, .5])}
        >>> [round(s, 2) for s in fuse_member_outputs([a, b])["scores"].tolist()]
        [0.7, 0.25]
        >>> [round(s, 2) for s in fuse_member_outputs([a, b, a])["scores"].tolist()]
        [0.73, 0.17]
    """
    nms_iou, limit = getattr(heads, "nms_thresh", None), getattr(heads, "detections_per_img", None)
    return fuse_passes(outputs, nms_iou=nms_iou, limit=limit)


def _as_output(findings: list[Finding]) -> dict[str, torch.Tensor]:
    boxes = torch.tensor([f.box_px for f in findings], dtype=torch.float32).reshape(-1, 4)
    return {"boxes": boxes, "scores": torch.tensor([f.score for f in findings], dtype=torch.float32)}
