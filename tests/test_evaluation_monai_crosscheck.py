"""Cross-checks against MONAI (a test-only dependency; skipped where it is not installed).

* FROC: MONAI's FROC (``monai.metrics.froc``, from the CAMELYON16 challenge) calls a detection a hit
  when its centre point lies inside a lesion's mask, ours when its box overlaps the lesion's box at
  IoU >= 0.5. Both count a detection on an already-hit lesion as neither TP nor FP. The test data are
  built so that both conventions agree: every detection is either an exact copy of a lesion box
  (IoU 1, centre inside) or lies well away from all lesions (IoU 0, centre outside). The curves are
  compared point by point at MONAI's thresholds (MONAI leaves out its lowest-score point), and the
  score at which each lesion is first hit is compared with MONAI's per-lesion probability.
* mAP: MONAI's ``COCOMetric`` is an independent numpy re-implementation of COCO's 101-point AP
  (from nnDetection); ours goes through pycocotools.
"""
import math

import numpy as np
import pytest

from lesionviewer.evaluation import froc, mean_average_precision

monai_froc = pytest.importorskip("monai.metrics.froc")
monai_coco = pytest.importorskip("monai.apps.detection.metrics.coco")
monai_matching = pytest.importorskip("monai.apps.detection.metrics.matching")
monai_box_utils = pytest.importorskip("monai.data.box_utils")

SIZE = 96  # image side; lesions live on a 3x3 grid of 32-pixel cells, background boxes in the gaps


def agreeing_case(seed, num_images=10):
    """Lesions in grid cells; detections are exact copies of lesions or boxes in free cells."""
    rng = np.random.default_rng(seed)
    cells = [(r, c) for r in range(3) for c in range(3)]
    detections, gts = [], []
    for _ in range(num_images):
        order = rng.permutation(len(cells))
        num_lesions = int(rng.integers(0, 4))
        lesion_cells = [cells[i] for i in order[:num_lesions]]
        free_cells = [cells[i] for i in order[num_lesions:]]
        gt = np.array([[c * 32 + 4, r * 32 + 4, c * 32 + 4 + int(rng.integers(8, 24)),
                        r * 32 + 4 + int(rng.integers(8, 24))] for r, c in lesion_cells], float).reshape(-1, 4)
        rows = [box for box in gt for _ in range(int(rng.integers(0, 3)))]  # 0, 1 or 2 copies per lesion
        for r, c in free_cells[: int(rng.integers(0, 4))]:
            rows.append(np.array([c * 32 + 6, r * 32 + 6, c * 32 + 20, r * 32 + 20], float))
        rows = np.array(rows, float).reshape(-1, 4)
        # float32-representable scores: MONAI keeps per-lesion probabilities in float32
        scores = rng.uniform(0.01, 1.0, size=(len(rows), 1)).astype(np.float32).astype(np.float64)
        detections.append(np.hstack([rows, scores]))
        gts.append(gt)
    return detections, gts


def monai_froc_curve(detections, gts):
    fp_all, tp_all, targets = [], [], 0
    for det, gt in zip(detections, gts):
        mask = np.zeros((SIZE, SIZE), dtype=np.int64)
        for label, (x1, y1, x2, y2) in enumerate(gt.astype(int), start=1):
            mask[y1:y2, x1:x2] = label
        centre_x = ((det[:, 0] + det[:, 2]) / 2).astype(int)
        centre_y = ((det[:, 1] + det[:, 3]) / 2).astype(int)
        fp, tp, n = monai_froc.compute_fp_tp_probs(det[:, 4], centre_y, centre_x, mask)
        fp_all.append(np.asarray(fp, dtype=np.float64))
        tp_all.append(np.asarray(tp, dtype=np.float64))
        targets += n
    fp_all, tp_all = np.concatenate(fp_all), np.concatenate(tp_all)
    fps, sens = monai_froc.compute_froc_curve_data(fp_all, tp_all, targets, len(gts))
    thresholds = sorted(set(fp_all.tolist()) | set(tp_all.tolist()))[1:]
    return np.array(thresholds), fps[:-1], sens[:-1], tp_all  # drop MONAI's appended (0, 0)


@pytest.mark.parametrize("seed", range(4))
def test_froc_curve_matches_monai_where_conventions_agree(seed):
    detections, gts = agreeing_case(seed)
    ours = froc(detections, gts)
    thresholds, monai_fps, monai_sens, monai_lesion_scores = monai_froc_curve(detections, gts)
    assert len(thresholds) > 5
    index = {t: i for i, t in enumerate(ours.curve_thresholds.tolist())}
    for t, fp, s in zip(thresholds, monai_fps, monai_sens):
        if t == 0.0:  # MONAI's placeholder probability for a missed lesion is not a detection threshold
            continue
        i = index[t]
        assert ours.curve_fps_per_image[i] == pytest.approx(fp)
        assert ours.curve_sensitivity[i] == pytest.approx(s)
    hit_scores = np.concatenate([np.where(h >= 0, ours.curve_thresholds[np.maximum(h, 0)], 0.0)
                                 for h in ours.lesion_hit_point])
    np.testing.assert_array_equal(hit_scores, monai_lesion_scores)


def random_map_case(seed, num_images=15):
    rng = np.random.default_rng(seed)
    detections, gts = [], []
    for _ in range(num_images):
        n = int(rng.integers(0, 4))
        xy = rng.uniform(0, 300, (n, 2))
        gt = np.hstack([xy, xy + rng.uniform(10, 50, (n, 2))])
        rows = [box + rng.normal(0, 3, 4) for box in gt for _ in range(int(rng.integers(0, 3)))]
        for _ in range(int(rng.integers(0, 5))):
            p = rng.uniform(0, 350, 2)
            rows.append(np.r_[p, p + rng.uniform(5, 40, 2)])
        rows = np.array(rows, float).reshape(-1, 4)
        rows[:, 2:] = np.maximum(rows[:, 2:], rows[:, :2] + 1)
        detections.append(np.hstack([rows, rng.uniform(0, 1, (len(rows), 1))]))
        gts.append(gt)
    # MONAI computes recall in float32, so a recall of exactly k/n = j/100 can round below the recall
    # threshold j/100 and shift its precision lookup by one detection; pycocotools works in float64.
    # A lesion count coprime with 10 keeps k/n off the thresholds (extra lesions are simply missed).
    while math.gcd(sum(len(g) for g in gts), 10) != 1:
        gts[0] = np.vstack([gts[0], [[500.0, 500.0 + 20 * len(gts[0]), 510.0, 510.0 + 20 * len(gts[0])]]])
    return detections, gts


@pytest.mark.parametrize("seed", range(4))
def test_map_matches_monai_coco_metric(seed):
    detections, gts = random_map_case(seed)
    metric = monai_coco.COCOMetric(classes=["lesion"], iou_list=[0.5], iou_range=(0.5, 0.5, 0.05),
                                   max_detection=[100], verbose=False)
    matches = monai_matching.matching_batch(
        iou_fn=monai_box_utils.box_iou, iou_thresholds=metric.iou_thresholds,
        pred_boxes=[d[:, :4] for d in detections], pred_classes=[np.zeros(len(d), int) for d in detections],
        pred_scores=[d[:, 4] for d in detections], gt_boxes=gts, gt_classes=[np.zeros(len(g), int) for g in gts],
        max_detections=100)
    expected = metric(matches)[0]["AP_IoU_0.50_MaxDet_100"]
    ours = mean_average_precision(detections, gts)
    assert 0.05 < ours < 0.99  # a case with both misses and false positives
    assert ours == pytest.approx(expected, abs=1e-6)
