"""Sensitivity by lesion type and by size, at the overall FROC operating points."""
import numpy as np
import pytest

from lesionviewer.evaluation import (
    LESION_TYPES,
    diameters_px_to_mm,
    froc,
    sensitivity_by_group,
    sensitivity_by_lesion_type,
    sensitivity_by_size,
    size_bucket,
)

A, B, C, D = [0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 60, 70, 70]


def case():
    # image 0: lesions A (liver), B (lung); image 1: C (liver), D (bone)
    # ranked: A hit (.9), FP (.8), C hit (.7), FP (.6), B hit (.5); D never found
    detections = [np.array([A + [0.9], [80, 80, 90, 90, 0.8], B + [0.5]]),
                  np.array([C + [0.7], [80, 0, 90, 10, 0.6]])]
    return froc(detections, [np.array([A, B]), np.array([C, D])], fps=(0.5, 1, 2)), [[4, 5], [4, 1]]


def test_by_lesion_type_uses_the_overall_thresholds():
    result, types = case()
    table = sensitivity_by_lesion_type(result, types, fps=(0.5, 1, 2))
    assert set(table) == {"liver", "lung", "bone"}
    # 0.5 FP/image (fewer than 1 FP): only A; 1 FP/image (fewer than 2): A and C; 2: beyond -> all (A, B, C)
    assert table["liver"] == {"num_lesions": 2, "sensitivity": {"0.5": 0.5, "1": 1.0, "2": 1.0}}
    assert table["lung"]["sensitivity"] == {"0.5": 0.0, "1": 0.0, "2": 1.0}
    assert table["bone"]["sensitivity"] == {"0.5": 0.0, "1": 0.0, "2": 0.0}
    overall = result.sensitivities
    weighted = [sum(v["num_lesions"] * v["sensitivity"][k] for v in table.values()) / 4 for k in ("0.5", "1", "2")]
    np.testing.assert_allclose(weighted, overall)  # groups partition the lesions


def test_deeplesion_type_names():
    assert [LESION_TYPES[i] for i in range(1, 9)] == ["bone", "abdomen", "mediastinum", "liver", "lung",
                                                     "kidney", "soft tissue", "pelvis"]
    assert LESION_TYPES[-1] == "unknown"


def test_by_size_with_spacing():
    result, _ = case()
    long_px = [[8.0, 40.0], [20.0, 50.0]]
    spacing = [0.8, 0.7]
    long_mm = [diameters_px_to_mm(d, s) for d, s in zip(long_px, spacing)]  # 6.4, 32 | 14, 35 mm
    table = sensitivity_by_size(result, long_mm, fps=(1,))
    assert {k: (v["num_lesions"], v["sensitivity"]["1"]) for k, v in table.items()} == {
        "<10 mm": (1, 1.0), "10-30 mm": (1, 1.0), ">=30 mm": (2, 0.0)}


@pytest.mark.parametrize("diameter, label", [(0.0, "<10 mm"), (9.99, "<10 mm"), (10.0, "10-30 mm"),
                                             (29.99, "10-30 mm"), (30.0, ">=30 mm"), (200.0, ">=30 mm")])
def test_size_buckets(diameter, label):
    assert size_bucket(diameter) == label


def test_excluded_lesions_are_left_out_of_groups():
    detections = [np.array([A + [0.9]])]
    result = froc(detections, [np.array([A, B])], fps=(1,), exclude=[[False, True]])
    table = sensitivity_by_group(result, [["x", "y"]], fps=(1,))
    assert table == {"x": {"num_lesions": 1, "sensitivity": {"1": 1.0}}}


def test_group_labels_must_match_the_boxes():
    result, _ = case()
    with pytest.raises(ValueError, match="3 labels for 2"):
        sensitivity_by_group(result, [[1, 2, 3], [1, 2]], fps=(1,))
    with pytest.raises(ValueError, match="increasing"):
        size_bucket(5.0, edges_mm=(30, 10))
