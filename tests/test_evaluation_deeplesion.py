"""FROC and breakdowns on the real DeepLesion test-split annotations (DL_info_test.csv).

The annotations' own boxes serve as perfect detections, so every expected number is a count from the
table itself (and matches ../shared/data/deeplesion/SOURCE.md and the MP3D reference: 4,927 test lesions,
4,912 without the "possibly noisy" ones, on 4,831 key slices).
"""
import csv
from collections import defaultdict

import numpy as np
import pytest

from lesionviewer.evaluation import box_iou, diameters_px_to_mm, froc, sensitivity_by_lesion_type, sensitivity_by_size


@pytest.fixture(scope="module")
def test_split(shared_data):
    path = shared_data / "deeplesion" / "DL_info_test.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    images = defaultdict(lambda: {"boxes": [], "noisy": [], "types": [], "long_mm": []})
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            image = images[row["File_name"]]
            image["boxes"].append([float(v) for v in row["Bounding_boxes"].split(",")])
            image["noisy"].append(row["Possibly_noisy"].strip() == "1")
            image["types"].append(int(row["Coarse_lesion_type"]))
            long_px = float(row["Lesion_diameters_Pixel_"].split(",")[0])
            image["long_mm"].append(float(diameters_px_to_mm(long_px, float(row["Spacing_mm_px_"].split(",")[0]))))
    names = sorted(images)
    return {key: [images[n][key] for n in names] for key in ("boxes", "noisy", "types", "long_mm")}


def perfect_detections(boxes):
    rng = np.random.default_rng(0)
    return [np.hstack([np.array(b), rng.uniform(0.5, 1.0, (len(b), 1))]) for b in boxes]


def test_counts_and_perfect_sensitivity(test_split):
    boxes = test_split["boxes"]
    result = froc(perfect_detections(boxes), boxes)
    assert (result.num_images, result.num_lesions) == (4831, 4927)
    assert result.sensitivities.tolist() == [1.0] * 6 and result.curve_fps_per_image[-1] == 0.0


def test_noisy_lesions_ignored_or_dropped(test_split):
    boxes, noisy = test_split["boxes"], test_split["noisy"]
    detections = perfect_detections(boxes)
    ignored = froc(detections, boxes, exclude=noisy)
    assert ignored.num_lesions == 4912 and ignored.curve_fps_per_image[-1] == 0.0
    dropped = froc(detections, boxes, exclude=noisy, exclude_mode="drop")
    # each noisy lesion's own box becomes a false positive once the lesion is dropped
    assert dropped.num_lesions == 4912 and dropped.curve_fps_per_image[-1] == pytest.approx(15 / 4831)


def test_breakdown_groups_match_the_table(test_split):
    boxes = test_split["boxes"]
    # find only the first lesion of each image: types and sizes then get different sensitivities
    detections = [np.array([b[0] + [0.9]]) for b in boxes]
    result = froc(detections, boxes, fps=(4,))
    by_type = sensitivity_by_lesion_type(result, test_split["types"], fps=(4,))
    counts = {name: v["num_lesions"] for name, v in by_type.items()}
    assert counts == {"bone": 108, "abdomen": 1173, "mediastinum": 864, "liver": 700, "lung": 1100,
                      "kidney": 234, "soft tissue": 339, "pelvis": 409}
    # a first box also hits any other lesion of its image it overlaps at IoU >= 0.5 (a few near-duplicates)
    expected_hits = sum(int((box_iou(np.array(b[:1]), np.array(b))[0] >= 0.5).sum()) for b in boxes)
    assert 4831 < expected_hits < 4840
    overall = result.sensitivities[0]
    assert overall == pytest.approx(expected_hits / 4927)
    weighted = sum(v["num_lesions"] * v["sensitivity"]["4"] for v in by_type.values()) / 4927
    assert weighted == pytest.approx(overall)
    by_size = sensitivity_by_size(result, test_split["long_mm"], fps=(4,))
    assert sum(v["num_lesions"] for v in by_size.values()) == 4927
    assert set(by_size) == {"<10 mm", "10-30 mm", ">=30 mm"}
