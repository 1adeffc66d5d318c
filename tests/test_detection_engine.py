"""The inference engine: preprocessing per the card, exact box mapping, order, progress, cancel, thin volumes."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.transform import GeneralizedRCNNTransform

from lesionviewer.detection import Detector
from lesionviewer.detection.engine import slice_positions_of, to_channels_last
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.finding import Finding
from lesionviewer.detection.model_file import save_model
from lesionviewer.imaging.context import context_stack
from lesionviewer.imaging.windowing import clip_and_scale_mp3d
from lesionviewer.io import Volume

# Box the stub "finds", as fractions (x1, y1, x2, y2) of the image it is given (after resize).
FRACTIONS = (0.25, 0.5, 0.75, 1.0)


class _SeeingBackbone(nn.Module):
    """Passes the transformed batch through and keeps a copy, so tests see the network's input."""

    def __init__(self):
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return OrderedDict([("0", x)])


class _NoProposals(nn.Module):
    def forward(self, images, features, targets=None):
        return [torch.zeros(0, 4)] * len(images.image_sizes), {}


class _FixedBoxes(nn.Module):
    """One box at FRACTIONS of each (resized) image, score 0.9, and one at score 0.01 (below the floor)."""

    def forward(self, features, proposals, image_sizes, targets=None):
        out = []
        for h, w in image_sizes:
            box = torch.tensor([[FRACTIONS[0] * w, FRACTIONS[1] * h, FRACTIONS[2] * w, FRACTIONS[3] * h]])
            out.append({"boxes": torch.cat([box, box / 2]), "scores": torch.tensor([0.9, 0.01]),
                        "labels": torch.ones(2, dtype=torch.int64)})
        return out, {}


def stub_model(num_slices):
    transform = GeneralizedRCNNTransform(64, 256, [0.0] * num_slices, [1.0] * num_slices)
    return GeneralizedRCNN(_SeeingBackbone(), _NoProposals(), _FixedBoxes(), transform).eval()


def stub_detector(num_slices=3, interval=2.0, min_size=64, **overrides):
    # Mean 0 / std 1, so the network input shows the 0..255 values directly.
    card = dict(name="stub", architecture="stub", num_slices=num_slices, slice_interval_mm=interval,
                input_min_size=min_size, input_max_size=4 * min_size, pixel_mean=0.0, pixel_std=1.0)
    card.update(overrides)
    return Detector(stub_model(num_slices), card, device="cpu")


def ramp_volume(num_slices, height=40, width=50, spacing=(1.0, 0.8, 0.6), **kw):
    # Slice k holds HU 100 k - 500 everywhere, so every stack value tells which slices it came from.
    hu = (np.arange(num_slices, dtype=np.int16)[:, None, None] * 100 - 500) * np.ones((1, height, width), np.int16)
    return Volume(hu.astype(np.int16), spacing=spacing, **kw)


def test_boxes_map_back_exactly_through_resize_and_padding():
    # 40 x 50 is resized to 64 x 80 and padded to 64 x 96: the box must come back on the 40 x 50 grid.
    detector = stub_detector()
    volume = ramp_volume(5, origin=(-10.0, 20.0, 30.0))
    findings = detector.detect(volume, slices=[2])
    assert len(findings) == 1  # the 0.01 box is below the score floor
    (finding,) = findings
    np.testing.assert_allclose(finding.box_px, (12.5, 20.0, 37.5, 40.0), atol=1e-4)
    assert detector.model.backbone.seen[0].shape[-2:] == (64, 96)
    assert finding == Finding.from_pixel_box(volume, 2, finding.box_px, finding.score, "stub")
    assert finding.z_mm == pytest.approx(32.0) and finding.width_mm == pytest.approx(25 * 0.6, abs=1e-4)


def test_network_input_is_the_cards_context_stack_clipped_and_scaled():
    # Uneven real positions (a 3 mm gap): the stack must interpolate by millimetres, not by index.
    positions = [0.0, 1.0, 2.0, 5.0, 6.0, 7.0]
    volume = ramp_volume(6, height=64, width=64, meta={"slice_positions_mm": positions})
    volume.hu[:, :, :32] = 2000  # beyond the clip: must saturate at 255
    detector = stub_detector(num_slices=5, interval=1.5, min_size=64)
    detector.detect(volume, slices=[3, 0], batch_size=2)
    seen = detector.model.backbone.seen[0]
    for row, centre in enumerate([3, 0]):
        expected = clip_and_scale_mp3d(context_stack(volume.hu, positions, centre, 5, 1.5))
        np.testing.assert_allclose(seen[row].numpy(), expected, atol=1e-3)
    assert float(seen[0, :, 0, 0].max()) == pytest.approx(255.0)
    # Centre 3 sits at 5 mm; its stack samples 2, 3.5, 5, 6.5 and 8 mm: slice 2, halfway across the
    # 3 mm gap, slice 3, halfway between slices 4 and 5, then slice 5 repeated past the end.
    expected_hu = np.array([-300.0, -250.0, -200.0, -50.0, 0.0])
    np.testing.assert_allclose(seen[0, :, 0, 40].numpy(), clip_and_scale_mp3d(expected_hu), atol=1e-3)


def test_card_hu_clip_and_normalisation_are_applied():
    volume = ramp_volume(3, height=64, width=64)  # slice 1 is -400 HU
    detector = stub_detector(num_slices=1, hu_clip=(-500.0, -300.0), pixel_mean=100.0, pixel_std=2.0)
    detector.detect(volume, slices=[1])
    assert float(detector.model.backbone.seen[0][0, 0, 5, 5]) == pytest.approx((255.0 / 2 - 100.0) / 2.0)


def test_slice_order_is_respected_and_every_slice_reported():
    calls = []
    detector = stub_detector()
    order = [3, 4, 2, 5, 1, 6, 0]
    findings = detector.detect(ramp_volume(7), slices=order, batch_size=3,
                               on_findings=lambda index, found: calls.append((index, len(found))))
    assert calls == [(i, 1) for i in order]
    # The network saw the stacks in that order: the centre channel identifies the slice.
    centres = [v for batch in detector.model.backbone.seen for v in batch[:, 1, 0, 0].tolist()]
    expected = [float(clip_and_scale_mp3d(np.float32(100 * i - 500))) for i in order]
    np.testing.assert_allclose(centres, expected, atol=1e-3)
    assert [f.slice_index for f in findings] == sorted(order)


def test_the_volume_goes_to_the_device_once_as_int16(monkeypatch):
    import lesionviewer.detection.engine as engine

    uploads = []

    class CountingVolume(engine.DeviceVolume):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            uploads.append(self.hu.dtype)

    monkeypatch.setattr(engine, "DeviceVolume", CountingVolume)
    stub_detector(num_slices=3, interval=1.0).detect(ramp_volume(9), batch_size=3)
    assert uploads == [torch.int16]


def test_repeated_indices_are_visited_once_and_bad_ones_refused():
    detector = stub_detector()
    assert [f.slice_index for f in detector.detect(ramp_volume(3), slices=[1, 1, 0])] == [0, 1]
    with pytest.raises(IndexError, match="outside"):
        detector.detect(ramp_volume(3), slices=[3])


def test_progress_is_monotonic_and_ends_at_total():
    seen = []
    stub_detector().detect(ramp_volume(7), batch_size=3, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(3, 7), (6, 7), (7, 7)]


@pytest.mark.parametrize("as_event", [True, False])
def test_cancel_stops_after_the_current_batch_and_returns_what_was_found(as_event):
    event = threading.Event()
    cancel = event if as_event else event.is_set
    detector = stub_detector()
    findings = detector.detect(ramp_volume(9), slices=[4, 5, 3, 6, 2], batch_size=2, cancel=cancel,
                               progress=lambda done, total: event.set())
    assert sorted(f.slice_index for f in findings) == [4, 5]
    assert len(detector.model.backbone.seen) == 1


def test_an_empty_selection_or_volume_gives_no_findings():
    detector = stub_detector()
    assert detector.detect(ramp_volume(3), slices=[]) == []
    assert detector.detect(Volume(np.zeros((0, 8, 8), np.int16), (1.0, 1.0, 1.0))) == []
    assert detector.model.backbone.seen == []


def test_cancel_before_start_returns_nothing():
    detector = stub_detector()
    assert detector.detect(ramp_volume(3), cancel=lambda: True) == []
    assert detector.model.backbone.seen == []


@pytest.mark.parametrize("num_slices", [1, 2])
def test_volumes_thinner_than_the_context_repeat_the_edge(num_slices):
    detector = stub_detector(num_slices=9, interval=2.5)
    findings = detector.detect(ramp_volume(num_slices, spacing=(5.0, 1.0, 1.0)))
    assert [f.slice_index for f in findings] == list(range(num_slices))
    last = detector.model.backbone.seen[-1][0, :, 0, 0].numpy()
    # The last stack is centred on the last slice: 2.5 mm steps over 5 mm slices, edges repeated.
    if num_slices == 1:
        expected_hu = [-500.0] * 9
    else:
        expected_hu = [-500.0] * 3 + [-450.0] + [-400.0] * 5
    np.testing.assert_allclose(last, clip_and_scale_mp3d(np.array(expected_hu)), atol=1e-3)


def test_positions_from_meta_are_used_only_when_usable():
    good = ramp_volume(3, meta={"slice_positions_mm": [10.0, 8.0, 1.0]})
    assert slice_positions_of(good) == [10.0, 8.0, 1.0]
    for bad in ([0.0, 0.0, 1.0], [0.0, 1.0], [0.0, float("nan"), 2.0], "x"):
        assert slice_positions_of(ramp_volume(3, meta={"slice_positions_mm": bad})) == 1.0


def test_batched_and_single_slice_runs_agree_on_the_real_small_network(tmp_path):
    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32,
                         representation_size=64, rpn_post_nms_top_n_test=50)
    path = tmp_path / "tiny.safetensors"
    save_model(path, net, {"name": "tiny", "slice_interval_mm": 2.0, "input_min_size": 64, "input_max_size": 128})
    detector = Detector.from_file(path, device="cpu", score_floor=0.0)
    rng = np.random.default_rng(0)
    volume = Volume(rng.integers(-1000, 1000, (4, 48, 48)).astype(np.int16), spacing=(2.0, 0.7, 0.7))
    one = detector.detect(volume, batch_size=1)
    four = detector.detect(volume, batch_size=4)
    assert len(one) == len(four) > 0
    np.testing.assert_allclose([f.box_px for f in one], [f.box_px for f in four], atol=1e-2)
    assert all(0 <= f.box_px[0] <= f.box_px[2] <= 48 and 0 <= f.box_px[1] <= f.box_px[3] <= 48 for f in one)
    # The backbone under autocast (bf16 on the CPU here; bf16/fp16 on a GPU) still gives float32 boxes.
    amp = Detector.from_file(path, device="cpu", amp=True, score_floor=0.0)
    assert amp.predict_stacks(np.zeros((1, 3, 48, 48), np.float32))[0]["boxes"].dtype == torch.float32


def test_channels_last_weights_compute_the_same_features():
    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32).eval()
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.inference_mode():
        before = net.backbone(x)["0"].clone()
        after = to_channels_last(net).backbone(x)["0"]
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)


def test_default_amp_leaves_the_small_model_in_float32_on_cuda():
    # measured on an H200: bf16 gave the small model no speed and moved its findings (docs/benchmarks.md)
    from lesionviewer.detection.engine import default_amp

    assert default_amp("cuda", "mp3d_small") is False
    assert default_amp("cuda", "mp3d63") is True
    assert default_amp("mps", "mp3d63") is False
    assert stub_detector().amp is False  # on the CPU, off unless CPU_BF16_BY_DEFAULT
