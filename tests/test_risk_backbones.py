"""The MP3D risk backbone (initialised from a detector) and the online intensity normalisation."""
from __future__ import annotations

import numpy as np
import torch

from lesionviewer.detection.factory import build_detector
from lesionviewer.risk.intensity import normalise_crop
from lesionviewer.risk.mp3d_classifier import MP3DClassifier, load_detector_trunk


def test_detector_trunk_initialises_the_classifier_exactly(tmp_path):
    from safetensors.torch import save_file

    det = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    path = tmp_path / "det.safetensors"
    save_file({k: v.contiguous().clone() for k, v in det.state_dict().items()}, str(path))
    net = MP3DClassifier(width=8, blocks=(1, 1, 1, 1))
    report = load_detector_trunk(net, path)
    assert report.missing == [] and report.skipped == []
    torch.testing.assert_close(net.trunk.conv1.weight, det.backbone.body.conv1.weight)
    torch.testing.assert_close(net.trunk.layer4[0].conv1.weight, det.backbone.body.layer4[0].conv1.weight)


def test_classifier_gives_one_logit_per_volume_and_learns():
    torch.manual_seed(0)
    net = MP3DClassifier(width=8, blocks=(1, 1, 1, 1), dropout=0.0)
    x = torch.randn(4, 1, 8, 32, 32)
    y = torch.tensor([0.0, 1.0, 0.0, 1.0])
    x[y == 1] += 1.0
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_normalisation_window():
    out = normalise_crop(np.array([-1024, -1000, -300, 400, 1200], np.int16))
    assert out.dtype == np.float32 and out.tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0]
