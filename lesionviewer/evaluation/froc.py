"""FROC by the DeepLesion rule (3DCE's evaluation, as copied by MULAN, A3D and MP3D).

The rule. Pool the detections of all images and sort them by score. A detection whose best IoU with
its own image's ground truth is below the threshold is a false positive. Otherwise every ground-truth
box it overlaps at IoU >= threshold that is not yet hit becomes hit; a detection that overlaps only
boxes already hit counts as neither. Sensitivity = hit boxes / all boxes; FPs per image = FP count /
number of images (images without ground truth count, and all their detections are FPs).

Two consequences make this fast and order-free: a detection's FP status does not depend on what was
hit before, and a box is hit at the score of the best-scored detection overlapping it enough.

Choices the peers' copies differ on, each an option here (defaults first):

* ``fp_budget="strict"``: the sensitivity at ``r`` FPs per image is that of the lowest score threshold
  with *fewer than* ``r`` FPs per image; ``"inclusive"`` allows *at most* ``r``. They differ only when
  ``r * num_images`` is a whole number (for DeepLesion's 4,831 test images: at 1, 2, 4, 8 and 16).
  The peers read their per-detection curve with ``scipy.interpolate.interp1d``: with
  ``fill_value="extrapolate"`` (3DCE's and the MP3D-style copies) that is exactly "strict"; without it
  (MULAN's copy) SciPy hands the work to ``numpy.interp``, which returns the last of equal x values,
  i.e. "inclusive" (checked with SciPy 1.17 in tests/test_evaluation_froc.py).
* ``beyond_last="hold"``: past the largest FP rate the detector reaches, report its final sensitivity
  (all detections accepted; lowering the threshold cannot change anything, so this is what a user
  gets at that budget; MULAN's copy). ``"clamp"`` evaluates the curve at the largest reached rate
  instead (3DCE's copy, which can be lower by the hits found after the last FP); ``"nan"`` says
  "not reached".
* ``plus_one=False``: continuous box coordinates (torchvision and pycocotools, which our detector and
  training targets use); ``True`` is 3DCE's inclusive-pixel IoU.
* ``exclude`` (per-box flags, e.g. DeepLesion's "possibly noisy"): with ``exclude_mode="ignore"`` the
  flagged boxes leave the denominator and a detection that matches only them counts as neither;
  ``"drop"`` deletes the boxes, so detections on them become FPs (the peers' dropping of rows).
* Equal scores cannot be split by a threshold: a tie enters the curve as one step.

Example:
    >>> import numpy as np
    >>> detections = [np.array([[0, 0, 10, 10, 0.9], [50, 50, 60, 60, 0.8]]), np.array([[0, 0, 5, 5, 0.7]])]
    >>> ground_truth = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 30, 30]])]
    >>> result = froc(detections, ground_truth, fps=(0.5, 1))
    >>> result.sensitivities.tolist(), result.num_lesions
    ([0.5, 0.5], 2)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lesionviewer.evaluation.boxes import as_box_list, as_detection_list, as_flag_list, box_iou

DEFAULT_FPS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: FP rates averaged into the peers' single number ("mFROC", "average sensitivity").
MEAN_RANGE = (0.5, 4.0)
NEVER = -1


@dataclass
class FROCResult:
    """Sensitivities at the requested FP rates, their mean over 0.5-4, and the whole curve.

    ``curve_*`` arrays have one point per distinct score threshold plus the origin (nothing accepted,
    threshold +inf). ``lesion_hit_point[i][j]`` is the curve point at which box ``j`` of image ``i`` is
    first hit (-1: never); ``lesion_counted[i][j]`` is False for excluded boxes.

    Example:
        >>> import numpy as np
        >>> r = froc([np.array([[0, 0, 4, 4, 0.6]])], [np.array([[0, 0, 4, 4]])], fps=(1,))
        >>> r.curve_fps_per_image.tolist(), r.curve_sensitivity.tolist(), r.mean_sensitivity
        ([0.0, 0.0], [0.0, 1.0], 1.0)
    """

    fps: np.ndarray
    sensitivities: np.ndarray
    mean_sensitivity: float
    curve_fps_per_image: np.ndarray
    curve_sensitivity: np.ndarray
    curve_thresholds: np.ndarray
    num_images: int
    num_lesions: int
    num_detections: int
    lesion_hit_point: list[np.ndarray] = field(repr=False)
    lesion_counted: list[np.ndarray] = field(repr=False)
    settings: dict = field(default_factory=dict)

    def operating_point(self, rate: float) -> int:
        """Index of the curve point used for ``rate`` FPs per image (-1 when ``beyond_last="nan"`` applies).

        Example:
            >>> import numpy as np
            >>> r = froc([np.array([[0, 0, 1, 1, 0.5]])], [np.zeros((0, 4))], fps=(1,))
            >>> r.operating_point(0.5), r.operating_point(1.0), r.operating_point(2.0)
            (0, 0, 1)
        """
        rate = float(rate)
        if not rate > 0:
            raise ValueError(f"FP rates must be positive; got {rate}")
        curve = self.curve_fps_per_image
        if rate > curve[-1]:
            mode = self.settings.get("beyond_last", "hold")
            if mode == "hold":
                return len(curve) - 1
            if mode == "nan":
                return NEVER
            rate = float(curve[-1])
        side: Literal["left", "right"] = "left" if self.settings.get("fp_budget", "strict") == "strict" else "right"
        index = int(np.searchsorted(curve, rate, side=side)) - 1
        return max(index, 0)

    def sensitivity_at(self, rate: float) -> float:
        """Sensitivity at ``rate`` FPs per image by this result's rule (NaN if not defined).

        Example:
            >>> import numpy as np
            >>> r = froc([np.array([[0, 0, 4, 4, 0.6]])], [np.array([[0, 0, 4, 4]])], fps=(1,))
            >>> r.sensitivity_at(0.25)
            1.0
        """
        index = self.operating_point(rate)
        return float("nan") if index == NEVER else float(self.curve_sensitivity[index])

    def score_threshold_at(self, rate: float) -> float:
        """The lowest accepted score at ``rate`` FPs per image (+inf: accept nothing; NaN: not defined).

        Example:
            >>> import numpy as np
            >>> r = froc([np.array([[0, 0, 4, 4, 0.6], [9, 9, 12, 12, 0.2]])], [np.array([[0, 0, 4, 4]])], fps=(1,))
            >>> r.score_threshold_at(1.0), r.score_threshold_at(2.0)
            (0.6, 0.2)
        """
        index = self.operating_point(rate)
        return float("nan") if index == NEVER else float(self.curve_thresholds[index])

    def detected_at(self, rate: float) -> list[np.ndarray]:
        """Per image, which ground-truth boxes are hit at ``rate`` FPs per image.

        Example:
            >>> import numpy as np
            >>> r = froc([np.array([[0, 0, 4, 4, 0.6]])], [np.array([[0, 0, 4, 4], [8, 8, 9, 9]])], fps=(1,))
            >>> r.detected_at(1.0)[0].tolist()
            [True, False]
        """
        index = self.operating_point(rate)
        if index == NEVER:
            return [np.zeros(len(h), dtype=bool) for h in self.lesion_hit_point]
        return [(h != NEVER) & (h <= index) for h in self.lesion_hit_point]

    def to_dict(self) -> dict:
        """A JSON-ready summary (sensitivities keyed by FP rate, the mean, counts, settings, the curve).

        Example:
            >>> import numpy as np, json
            >>> r = froc([np.array([[0, 0, 4, 4, 0.6]])], [np.array([[0, 0, 4, 4]])], fps=(1, 2))
            >>> json.loads(json.dumps(r.to_dict()))["sensitivity"]
            {'1': 1.0, '2': 1.0}
        """
        def number(x):
            x = float(x)
            return None if not np.isfinite(x) else x

        return {
            "sensitivity": {f"{f:g}": number(s) for f, s in zip(self.fps, self.sensitivities)},
            "mean_sensitivity": number(self.mean_sensitivity),
            "mean_range": list(self.settings.get("mean_range", MEAN_RANGE)),
            "num_images": self.num_images,
            "num_lesions": self.num_lesions,
            "num_detections": self.num_detections,
            "settings": dict(self.settings),
            "curve": {
                "fps_per_image": [float(x) for x in self.curve_fps_per_image],
                "sensitivity": [float(x) for x in self.curve_sensitivity],
                "score_threshold": [number(x) for x in self.curve_thresholds],
            },
        }


def froc(detections: Sequence, ground_truth: Sequence, fps: Sequence[float] = DEFAULT_FPS, iou: float = 0.5, *,
         exclude: Sequence | None = None, exclude_mode: Literal["ignore", "drop"] = "ignore",
         plus_one: bool = False, fp_budget: Literal["strict", "inclusive"] = "strict",
         beyond_last: Literal["hold", "clamp", "nan"] = "hold",
         mean_range: tuple[float, float] = MEAN_RANGE) -> FROCResult:
    """FROC of per-image detections ``[x1, y1, x2, y2, score]`` against ground-truth boxes ``[x1, y1, x2, y2]``.

    ``detections`` and ``ground_truth`` are sequences with one entry per image (numpy arrays, lists or
    CPU tensors; ``[]`` for none). The options are described in the module docstring. Raises
    ``ValueError`` for mismatched lengths, malformed arrays, non-positive FP rates or no images.

    Example:
        >>> import numpy as np
        >>> gt = [np.array([[10, 10, 20, 20], [30, 30, 40, 40]]), np.zeros((0, 4))]
        >>> det = [np.array([[10, 10, 20, 20, 0.9], [0, 0, 5, 5, 0.8], [30, 30, 40, 41, 0.3]]),
        ...        np.array([[1, 1, 2, 2, 0.5]])]
        >>> r = froc(det, gt, fps=(0.5, 1, 2))
        >>> r.sensitivities.tolist(), round(r.mean_sensitivity, 3)
        ([0.5, 0.5, 1.0], 0.667)
    """
    dets = as_detection_list(detections, "detections")
    gts = as_box_list(ground_truth, "ground_truth")
    if len(dets) != len(gts):
        raise ValueError(f"detections cover {len(dets)} images but ground_truth covers {len(gts)}")
    if not gts:
        raise ValueError("FROC needs at least one image")
    if exclude_mode not in ("ignore", "drop"):
        raise ValueError(f'exclude_mode must be "ignore" or "drop"; got {exclude_mode!r}')
    if fp_budget not in ("strict", "inclusive"):
        raise ValueError(f'fp_budget must be "strict" or "inclusive"; got {fp_budget!r}')
    if beyond_last not in ("hold", "clamp", "nan"):
        raise ValueError(f'beyond_last must be "hold", "clamp" or "nan"; got {beyond_last!r}')
    if not 0 < iou <= 1:
        raise ValueError(f"the IoU threshold must be in (0, 1]; got {iou}")
    rates = np.asarray(fps, dtype=np.float64).reshape(-1)
    if rates.size == 0 or np.any(~(rates > 0)):
        raise ValueError(f"FP rates must be positive numbers; got {list(fps)}")
    excluded = as_flag_list(exclude, gts, "exclude")

    scores = np.concatenate([d[:, 4] for d in dets]) if dets else np.zeros(0)
    thresholds = np.unique(scores)[::-1]  # descending distinct scores: one curve step each
    num_steps = thresholds.size
    fp_per_step = np.zeros(num_steps, dtype=np.int64)
    hit_per_step = np.zeros(num_steps, dtype=np.int64)
    hit_points: list[np.ndarray] = []
    counted: list[np.ndarray] = []
    for det, gt, flags in zip(dets, gts, excluded):
        step = num_steps - 1 - np.searchsorted(thresholds[::-1], det[:, 4])  # step index of each detection
        hit_point = np.full(len(gt), NEVER, dtype=np.int64)
        matchable = ~flags if exclude_mode == "drop" else np.ones(len(gt), dtype=bool)
        overlaps = box_iou(det, gt[matchable], plus_one=plus_one)
        if overlaps.shape[1] == 0:
            is_fp = np.ones(len(det), dtype=bool)
        else:
            is_fp = overlaps.max(axis=1) < iou
            enough = overlaps >= iou
            # Each box is hit by the best-scored detection overlapping it enough: its step + 1 (0 = origin).
            first = np.where(enough, step[:, None], num_steps).min(axis=0) if len(det) else \
                np.full(overlaps.shape[1], num_steps)
            hit_point[matchable] = np.where(first < num_steps, first + 1, NEVER)
        np.add.at(fp_per_step, step[is_fp], 1)
        counts = ~flags
        hits = hit_point[counts & (hit_point != NEVER)] - 1
        np.add.at(hit_per_step, hits, 1)
        hit_points.append(hit_point)
        counted.append(counts)

    num_images = len(gts)
    num_lesions = int(sum(c.sum() for c in counted))
    curve_fps = np.concatenate([[0.0], np.cumsum(fp_per_step) / num_images])
    with np.errstate(divide="ignore", invalid="ignore"):
        curve_sens = np.concatenate([[0], np.cumsum(hit_per_step)]) / (num_lesions if num_lesions else np.nan)
    settings = {"iou": float(iou), "plus_one": bool(plus_one), "fp_budget": fp_budget, "beyond_last": beyond_last,
                "exclude_mode": exclude_mode, "num_excluded": int(sum(f.sum() for f in excluded)),
                "mean_range": [float(mean_range[0]), float(mean_range[1])]}
    result = FROCResult(
        fps=rates, sensitivities=np.zeros(0), mean_sensitivity=float("nan"),
        curve_fps_per_image=curve_fps, curve_sensitivity=curve_sens,
        curve_thresholds=np.concatenate([[np.inf], thresholds]).astype(np.float64),
        num_images=num_images, num_lesions=num_lesions, num_detections=int(scores.size),
        lesion_hit_point=hit_points, lesion_counted=counted, settings=settings)
    result.sensitivities = np.array([result.sensitivity_at(r) for r in rates])
    in_range = (rates >= mean_range[0]) & (rates <= mean_range[1])
    if in_range.any():
        result.mean_sensitivity = float(np.mean(result.sensitivities[in_range]))
    return result
