"""The engine on a real CT series (../shared/data): real geometry, real slice positions, real HU."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection import Detector
from lesionviewer.detection.engine import slice_positions_of
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.finding import Finding
from lesionviewer.detection.model_file import save_model
from lesionviewer.io import load_volume


@pytest.fixture(scope="module")
def abdomen(shared_data):
    return load_volume(shared_data / "ct_abdomen_totalseg")


def test_detects_on_a_real_series_with_its_own_slice_positions(abdomen, tmp_path):
    torch.manual_seed(0)
    net = build_detector("mp3d_small", 9, width=8, blocks=(1, 1, 1, 1), fpn_channels=32,
                         representation_size=64, rpn_post_nms_top_n_test=50)
    path = tmp_path / "tiny.safetensors"
    save_model(path, net, {"name": "tiny", "slice_interval_mm": 2.5, "input_min_size": 128, "input_max_size": 128})
    detector = Detector.from_file(path, device="cpu", score_floor=0.0)

    positions = slice_positions_of(abdomen)
    assert isinstance(positions, list) and len(positions) == abdomen.num_slices  # from the DICOM headers
    order = [abdomen.num_slices // 2, 0, abdomen.num_slices - 1]
    seen = []
    findings = detector.detect(abdomen, slices=order, on_findings=lambda i, f: seen.append(i))
    assert seen == order and findings
    height, width = abdomen.hu.shape[1:]
    for f in findings:
        x1, y1, x2, y2 = f.box_px
        assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        assert f.z_mm == pytest.approx(float(abdomen.index_to_patient(f.slice_index, 0, 0)[2]))
        assert f == Finding.from_pixel_box(abdomen, f.slice_index, f.box_px, f.score, "tiny")
