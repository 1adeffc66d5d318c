"""FROC by the DeepLesion rule: hand-computed cases, every option, and the peers' formulation."""
import json

import numpy as np
import pytest
import torch
from scipy.interpolate import interp1d

from lesionviewer.evaluation import box_iou, froc


def dets(*rows):
    return np.array(rows, dtype=float).reshape(-1, 5)


def boxes(*rows):
    return np.array(rows, dtype=float).reshape(-1, 4)


A, B, C = [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]


def test_hand_computed_two_images():
    # image 0: lesions A, B; image 1: lesion C.
    # score order: .9 hits A | .8 FP | .7 hits C | .6 overlaps A again: neither | .5 FP | .4 hits B
    detections = [dets(A + [0.9], [60, 60, 70, 70, 0.8], A + [0.6], [0, 20, 10, 30, 0.5], B + [0.4]),
                  dets(C + [0.7])]
    r = froc(detections, [boxes(A, B), boxes(C)], fps=(0.25, 0.5, 1, 2))
    np.testing.assert_allclose(r.curve_fps_per_image, [0, 0, .5, .5, .5, 1, 1])
    np.testing.assert_allclose(r.curve_sensitivity, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
    # 0.25 and 0.5 FP/image: fewer than 1 (0.5*2) FP -> the .9 step; 1 FP/image: fewer than 2 FPs -> .6 step
    assert r.sensitivities.tolist() == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0])
    assert r.mean_sensitivity == pytest.approx((1 / 3 + 2 / 3 + 1) / 3)
    assert (r.num_images, r.num_lesions, r.num_detections) == (2, 3, 6)
    assert r.score_threshold_at(1.0) == 0.6


def test_detection_overlapping_two_lesions_hits_both():
    gt = boxes([0, 0, 10, 10], [0, 0, 10, 11])  # two near-identical boxes
    r = froc([dets([0, 0, 10, 10, 0.9])], [gt], fps=(1,))
    assert r.sensitivities.tolist() == [1.0]
    assert [h.tolist() for h in r.detected_at(1)] == [[True, True]]


def test_only_already_hit_overlap_is_neither_tp_nor_fp():
    r = froc([dets(A + [0.9], A + [0.8], A + [0.7])], [boxes(A)], fps=(1,))
    assert r.curve_fps_per_image.tolist() == [0, 0, 0, 0]
    assert r.curve_sensitivity.tolist() == [0, 1, 1, 1]


def test_images_without_lesions_and_without_detections_count_in_the_fp_rate():
    detections = [dets(A + [0.9]), dets([0, 0, 5, 5, 0.8], [5, 5, 9, 9, 0.7]), dets(), []]
    r = froc(detections, [boxes(A), boxes(), boxes(), boxes(B)], fps=(0.25, 0.5, 1))
    assert r.num_images == 4 and r.num_lesions == 2
    np.testing.assert_allclose(r.curve_fps_per_image, [0, 0, 0.25, 0.5])
    # 0.25: fewer than 1 FP -> .5; 0.5: fewer than 2 FPs -> .5; 1: beyond the last rate, held
    assert r.sensitivities.tolist() == [0.5, 0.5, 0.5]


def test_no_detections_at_all():
    r = froc([dets(), dets()], [boxes(A), boxes()], fps=(1, 4))
    assert r.sensitivities.tolist() == [0.0, 0.0] and r.num_detections == 0


def test_no_lesions_gives_nan_sensitivity_not_an_error():
    r = froc([dets(A + [0.5])], [boxes()], fps=(1,))
    assert r.num_lesions == 0 and np.isnan(r.sensitivities[0])


def test_tied_scores_form_one_step_whatever_the_input_order():
    tp, fp = A + [0.5], [60, 60, 70, 70, 0.5]
    first = froc([dets(tp, fp)], [boxes(A)], fps=(1, 2))
    second = froc([dets(fp, tp)], [boxes(A)], fps=(1, 2))
    for r in (first, second):
        assert r.curve_fps_per_image.tolist() == [0, 1] and r.curve_sensitivity.tolist() == [0, 1]
        # at 1 FP/image the budget is "fewer than 1 FP": the tie brings an FP, so nothing is accepted
        assert r.sensitivities.tolist() == [0.0, 1.0]


def test_result_does_not_depend_on_detection_order_within_images():
    rng = np.random.default_rng(3)
    detections, gts = random_case(rng, 12)
    shuffled = [d[rng.permutation(len(d))] for d in detections]
    a, b = froc(detections, gts), froc(shuffled, gts)
    np.testing.assert_array_equal(a.sensitivities, b.sensitivities)
    np.testing.assert_array_equal(a.curve_sensitivity, b.curve_sensitivity)


def test_iou_threshold_is_inclusive():
    half = [0, 0, 10, 5]  # IoU with A is exactly 0.5
    assert box_iou(boxes(half), boxes(A))[0, 0] == 0.5
    assert froc([dets(half + [0.9])], [boxes(A)], fps=(1,)).sensitivities[0] == 1.0
    assert froc([dets(half + [0.9])], [boxes(A)], fps=(1,), iou=0.51).sensitivities[0] == 0.0


def test_plus_one_pixel_convention():
    det, gt = dets([0, 0, 4, 9, 0.9]), boxes([0, 0, 9, 9])  # continuous IoU 36/81; inclusive 50/100
    assert froc([det], [gt], fps=(1,)).sensitivities[0] == 0.0
    r = froc([det], [gt], fps=(1,), plus_one=True)
    assert r.sensitivities[0] == 1.0 and r.settings["plus_one"] is True


def test_fp_budget_strict_versus_inclusive_at_whole_fp_counts():
    # one image: FP (.9) then TP (.8). At 1 FP/image: strict allows 0 FPs, inclusive allows 1.
    case = ([dets([60, 60, 70, 70, 0.9], A + [0.8])], [boxes(A)])
    assert froc(*case, fps=(1, 1.5)).sensitivities.tolist() == [0.0, 1.0]
    assert froc(*case, fps=(1, 1.5), fp_budget="inclusive").sensitivities.tolist() == [1.0, 1.0]


def test_beyond_the_last_fp_rate_hold_clamp_or_nan():
    # one image: FP (.9), FP (.8), TP (.7). Largest rate reached: 2 FPs/image.
    case = ([dets([60, 60, 70, 70, 0.9], [80, 80, 90, 90, 0.8], A + [0.7])], [boxes(A)])
    assert froc(*case, fps=(4,)).sensitivities.tolist() == [1.0]                        # hold: all boxes
    assert froc(*case, fps=(4,), beyond_last="clamp").sensitivities.tolist() == [0.0]   # curve at 2 FPs (strict)
    assert np.isnan(froc(*case, fps=(4,), beyond_last="nan").sensitivities[0])
    assert froc(*case, fps=(4,), beyond_last="clamp", fp_budget="inclusive").sensitivities.tolist() == [1.0]


def test_excluded_lesions_ignore_versus_drop():
    detections = [dets(A + [0.9], B + [0.8])]
    gts = [boxes(A, B)]
    noisy = [np.array([False, True])]
    ignored = froc(detections, gts, fps=(1,), exclude=noisy)
    assert ignored.num_lesions == 1 and ignored.curve_fps_per_image.tolist() == [0, 0, 0]  # B's match is neutral
    dropped = froc(detections, gts, fps=(1,), exclude=noisy, exclude_mode="drop")
    assert dropped.num_lesions == 1 and dropped.curve_fps_per_image.tolist() == [0, 0, 1]  # B's match is an FP
    assert ignored.sensitivities.tolist() == dropped.sensitivities.tolist() == [1.0]
    assert ignored.settings["num_excluded"] == 1


def test_mean_covers_only_rates_from_half_to_four():
    r = froc([dets([60, 60, 70, 70, 0.9], A + [0.8])], [boxes(A)], fps=(0.125, 0.5, 4, 16))
    assert r.sensitivities.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert r.mean_sensitivity == 0.5


def test_torch_and_list_inputs_are_accepted():
    r = froc([torch.tensor([A + [0.9]]), [B + [0.5]]], [torch.tensor([A], dtype=torch.float32), [B]], fps=(1,))
    assert r.sensitivities.tolist() == [1.0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(detections=[dets()], ground_truth=[boxes(), boxes()]), "1 images"),
    (dict(detections=[], ground_truth=[]), "at least one image"),
    (dict(detections=[np.zeros((1, 4))], ground_truth=[boxes()]), r"\(N, 5\)"),
    (dict(detections=[dets([0, 0, 1, np.nan, 0.5])], ground_truth=[boxes()]), "NaN"),
    (dict(detections=[dets()], ground_truth=[boxes()], fps=(0, 1)), "positive"),
    (dict(detections=[dets()], ground_truth=[boxes()], iou=0), "IoU"),
    (dict(detections=[dets()], ground_truth=[boxes(A)], exclude=[[True, False]]), "1 ground-truth"),
    (dict(detections=[dets()], ground_truth=[boxes()], beyond_last="extrapolate"), "beyond_last"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        froc(**kwargs)


def test_to_dict_is_json_ready():
    r = froc([dets(A + [0.9])], [boxes(A)], fps=(0.5, 1), beyond_last="nan")
    data = json.loads(json.dumps(r.to_dict()))
    assert data["sensitivity"] == {"0.5": None, "1": None}  # never reached any FP: not defined
    assert data["curve"]["score_threshold"] == [None, 0.9] and data["num_lesions"] == 1


def random_case(rng, num_images):
    detections, gts = [], []
    for _ in range(num_images):
        n = rng.integers(0, 4)
        xy = rng.uniform(0, 400, size=(n, 2))
        size = rng.uniform(8, 60, size=(n, 2))
        gt = np.hstack([xy, xy + size])
        rows = []
        for box, wh in zip(gt, size):  # jittered copies: some above, some below IoU 0.5
            for _ in range(rng.integers(0, 3)):
                rows.append(box + rng.normal(0, 0.15, 4) * np.r_[wh, wh])
        for _ in range(rng.integers(0, 6)):  # background detections
            p = rng.uniform(0, 450, 2)
            rows.append(np.r_[p, p + rng.uniform(5, 40, 2)])
        rows = np.array(rows).reshape(-1, 4)
        rows[:, 2:] = np.maximum(rows[:, 2:], rows[:, :2] + 1)
        detections.append(np.hstack([rows, rng.uniform(0, 1, (len(rows), 1))]))
        gts.append(gt)
    return detections, gts


def peers_curve(detections, gts, iou=0.5):
    """The peers' formulation: a per-detection curve walked in score order (one point per detection)."""
    image_of = np.concatenate([[i] * len(d) for i, d in enumerate(detections)]).astype(int)
    pooled = np.vstack(detections)
    order = np.argsort(-pooled[:, 4], kind="stable")
    hit = [np.zeros(len(g), bool) for g in gts]
    fp = tp = 0
    fps, tps = [], []
    for k in order:
        overlaps = box_iou(pooled[k:k + 1], gts[image_of[k]])[0]
        if overlaps.size == 0 or overlaps.max() < iou:
            fp += 1
        else:
            new = (overlaps >= iou) & ~hit[image_of[k]]
            tp += new.sum()
            hit[image_of[k]] |= new
        fps.append(fp)
        tps.append(tp)
    return np.array(fps) / len(gts), np.array(tps) / sum(len(g) for g in gts)


RATES = (0.5, 1, 2, 3, 4, 0.55, 1.25, 8, 16)  # with 20 images most of these are whole FP counts


@pytest.mark.parametrize("seed", range(6))
def test_strict_budget_matches_3dce_interp1d_with_extrapolate(seed):
    detections, gts = random_case(np.random.default_rng(seed), 20)
    fps, sens = peers_curve(detections, gts)
    # 3DCE-style copies: interp1d(..., fill_value="extrapolate") on the per-detection curve;
    # past the last FP rate we hold the final sensitivity (our default) instead of extrapolating.
    read = interp1d(fps, sens, fill_value="extrapolate")
    expected = [float(read(r)) if r <= fps[-1] else sens[-1] for r in RATES]
    ours = froc(detections, gts, fps=RATES)
    np.testing.assert_allclose(ours.sensitivities, expected, atol=1e-12)
    assert 0 < ours.sensitivities[0] < ours.sensitivities[-1]  # the case exercises the curve, not a corner


@pytest.mark.parametrize("seed", range(6))
def test_inclusive_budget_matches_mulan_interp1d_without_extrapolate(seed):
    detections, gts = random_case(np.random.default_rng(seed), 20)
    fps, sens = peers_curve(detections, gts)
    read = interp1d(fps, sens)  # modern SciPy delegates this to numpy.interp: last of equal x values
    expected = [float(read(r)) if r <= fps[-1] else sens[-1] for r in RATES]
    ours = froc(detections, gts, fps=RATES, fp_budget="inclusive")
    np.testing.assert_allclose(ours.sensitivities, expected, atol=1e-12)


def test_the_two_budgets_differ_on_these_cases():
    differs = 0
    for seed in range(6):
        detections, gts = random_case(np.random.default_rng(seed), 20)
        a = froc(detections, gts, fps=RATES).sensitivities
        b = froc(detections, gts, fps=RATES, fp_budget="inclusive").sensitivities
        assert np.all(b >= a)
        differs += int(np.any(b > a))
    assert differs > 0  # so the two tests above really tell the rules apart


@pytest.mark.parametrize("seed", range(3))
def test_image_order_does_not_matter_and_sensitivity_never_falls(seed):
    rng = np.random.default_rng(100 + seed)
    detections, gts = random_case(rng, 15)
    order = rng.permutation(15)
    rates = (0.25, 0.5, 1, 2, 4, 8, 16, 32)
    a = froc(detections, gts, fps=rates)
    b = froc([detections[i] for i in order], [gts[i] for i in order], fps=rates)
    np.testing.assert_array_equal(a.sensitivities, b.sensitivities)
    assert np.all(np.diff(a.sensitivities) >= 0) and np.all(np.diff(a.curve_sensitivity) >= 0)


# --- found by mutation testing (docs/testing.md) ---------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(exclude_mode="skip"), r"^exclude_mode must be \"ignore\" or \"drop\"; got 'skip'$"),
    (dict(fp_budget="loose"), r"^fp_budget must be \"strict\" or \"inclusive\"; got 'loose'$"),
    (dict(beyond_last="extrapolate"), r"^beyond_last must be \"hold\", \"clamp\" or \"nan\"; got 'extrapolate'$"),
    (dict(iou=1.5), r"^the IoU threshold must be in \(0, 1\]; got 1.5$"),
    (dict(fps=()), r"^FP rates must be positive numbers; got \[\]$"),
    (dict(fps=(0, 1)), r"^FP rates must be positive numbers; got \[0, 1\]$"),
    (dict(fps=(1, float("nan"))), r"^FP rates must be positive numbers; got \[1, nan\]$"),
])
def test_each_bad_option_is_named_with_the_value_given(kwargs, message):
    with pytest.raises(ValueError, match=message):
        froc([dets()], [boxes()], **kwargs)


def test_mismatched_inputs_name_which_argument():
    with pytest.raises(ValueError, match=r"^detections\[0\] must be a \(N, 5\) array"):
        froc([np.zeros((1, 4))], [boxes()])
    with pytest.raises(ValueError, match=r"^ground_truth\[0\] must be a \(N, 4\) array"):
        froc([dets()], [np.zeros((1, 5))])
    with pytest.raises(ValueError, match=r"^exclude has 2 images but ground_truth has 1"):
        froc([dets()], [boxes()], exclude=[[], []])
    with pytest.raises(ValueError, match=r"^detections cover 1 images but ground_truth covers 2$"):
        froc([dets()], [boxes(), boxes()])
    with pytest.raises(ValueError, match=r"^FROC needs at least one image$"):
        froc([], [])


def test_an_iou_threshold_of_one_needs_an_identical_box():
    # IoU of A with A shifted by 1 px: 9*10 / (100 + 100 - 90) = 90/110 = 0.818 (< 1: a FP at iou=1)
    r = froc([dets(A + [0.9], [1, 0, 11, 10, 0.8])], [boxes(A)], fps=(1,), iou=1)
    assert r.curve_fps_per_image.tolist() == [0, 0, 1] and r.sensitivities.tolist() == [1.0]


def test_the_settings_record_every_option_as_given():
    r = froc([dets(A + [0.9])], [boxes(A, B)], fps=(1,), iou=0.3, exclude=[[False, True]], exclude_mode="drop",
             plus_one=True, fp_budget="inclusive", beyond_last="clamp", mean_range=(1, 2))
    assert r.settings == {"iou": 0.3, "plus_one": True, "fp_budget": "inclusive", "beyond_last": "clamp",
                          "exclude_mode": "drop", "num_excluded": 1, "mean_range": [1.0, 2.0]}
    assert r.to_dict()["mean_range"] == [1.0, 2.0]


def test_a_custom_mean_range_averages_only_its_rates():
    # FP (.9) then TP (.8) on one image: sensitivity 0 below 1 FP/image (strict), 1 from 1.5 on
    r = froc([dets([60, 60, 70, 70, 0.9], A + [0.8])], [boxes(A)], fps=(0.5, 1, 2, 8), mean_range=(2, 8))
    assert r.sensitivities.tolist() == [0.0, 0.0, 1.0, 1.0] and r.mean_sensitivity == 1.0
    none_in_range = froc([dets(A + [0.9])], [boxes(A)], fps=(8,), mean_range=(0.5, 4))
    assert np.isnan(none_in_range.mean_sensitivity)


def test_operating_point_refuses_rates_that_are_not_positive():
    r = froc([dets(A + [0.9])], [boxes(A)], fps=(1,))
    for rate in (0, -1, float("nan")):
        with pytest.raises(ValueError, match=r"^FP rates must be positive; got "):
            r.operating_point(rate)


def test_a_result_built_without_settings_reads_its_curve_strict_and_holds_past_the_end():
    from lesionviewer.evaluation.froc import FROCResult

    # curve: origin, then 1 FP/image at 50 %, then 2 FPs/image at 100 %
    r = FROCResult(fps=np.array([1.0]), sensitivities=np.zeros(1), mean_sensitivity=float("nan"),
                   curve_fps_per_image=np.array([0.0, 1.0, 2.0]), curve_sensitivity=np.array([0.0, 0.5, 1.0]),
                   curve_thresholds=np.array([np.inf, 0.9, 0.8]), num_images=1, num_lesions=2, num_detections=2,
                   lesion_hit_point=[np.array([1, 2])], lesion_counted=[np.array([True, True])])
    assert r.sensitivity_at(1.0) == 0.0  # strict: fewer than 1 FP/image
    assert r.sensitivity_at(1.5) == 0.5
    assert r.sensitivity_at(5.0) == 1.0  # hold: past the last rate, everything accepted
    assert r.to_dict()["mean_range"] == [0.5, 4.0]


def _one_hit_one_fp(**options):
    # one image, lesions A and B; A found at score .9, a FP at .8. Curve points (FPs/image, sensitivity):
    # origin (0, 0), after .9 (0, 1/2), after .8 (1, 1/2)
    return froc([dets(A + [0.9], [60, 60, 70, 70, 0.8])], [boxes(A, B)], fps=(0.5, 1, 8), **options)


def test_to_dict_holds_every_number_and_none_where_undefined():
    data = json.loads(json.dumps(_one_hit_one_fp(beyond_last="nan").to_dict()))
    assert data == {
        # strict budget: at 0.5 and at 1 FP/image only the .9 detection is accepted; 8 is never reached
        "sensitivity": {"0.5": 0.5, "1": 0.5, "8": None},
        "mean_sensitivity": 0.5,  # the rates from 0.5 to 4: 0.5 and 1
        "mean_range": [0.5, 4.0],
        "num_images": 1, "num_lesions": 2, "num_detections": 2,
        "settings": {"iou": 0.5, "plus_one": False, "fp_budget": "strict", "beyond_last": "nan",
                     "exclude_mode": "ignore", "num_excluded": 0, "mean_range": [0.5, 4.0]},
        "curve": {"fps_per_image": [0.0, 0.0, 1.0], "sensitivity": [0.0, 0.5, 0.5],
                  "score_threshold": [None, 0.9, 0.8]},
    }
    no_lesions = froc([dets([0, 0, 1, 1, 0.5])], [boxes()], fps=(1,)).to_dict()
    assert no_lesions["mean_sensitivity"] is None and no_lesions["sensitivity"] == {"1": None}


def test_threshold_and_detected_boxes_at_a_rate_and_where_it_is_not_reached():
    r = _one_hit_one_fp(beyond_last="nan")
    assert r.score_threshold_at(0.5) == r.score_threshold_at(1) == 0.9
    assert [d.tolist() for d in r.detected_at(1)] == [[True, False]]
    assert np.isnan(r.sensitivity_at(8)) and np.isnan(r.score_threshold_at(8))
    assert [d.tolist() for d in r.detected_at(8)] == [[False, False]] and r.detected_at(8)[0].dtype == bool
    held = _one_hit_one_fp()  # hold: past 1 FP/image everything is accepted
    assert held.score_threshold_at(8) == 0.8 and held.sensitivity_at(8) == 0.5
    assert [d.tolist() for d in held.detected_at(8)] == [[True, False]]
    clamped = _one_hit_one_fp(beyond_last="clamp")  # read at the largest rate reached, 1 FP/image: strict
    assert clamped.sensitivity_at(8) == 0.5 and clamped.score_threshold_at(8) == 0.9
