"""Extra HU windows as input channels (model.options.input_windows): exact windows, a widened stem that
starts as the network it continues, the fast CPU trunk, model files and the config's checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lesionviewer.common.config_tree import ConfigError
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.flat_trunk import FlatTrunk
from lesionviewer.detection.initialization import load_pretrained_detector
from lesionviewer.detection.model_file import load_model, read_card, save_model
from lesionviewer.imaging.windowing import MP3D_MEAN as PIXEL_MEAN
from lesionviewer.imaging.windowing import MP3D_STD as PIXEL_STD
from lesionviewer.detection.networks.input_windows import InputWindows
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.model_options_check import model_options_problem
from lesionviewer.training.model_setup import build_model

TINY = dict(width=8, blocks=[1, 1, 1, 1], fpn_channels=32, representation_size=64,
            rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50)
SOFT_TISSUE = [[-160.0, 240.0]]
CLIP = [-1000.0, 400.0]


def as_input(hu: torch.Tensor, clip=CLIP) -> torch.Tensor:
    """HU as the detector's normalised input: clipped to ``clip``, scaled to 0..255, normalised."""
    low, high = clip
    return ((hu.clamp(low, high) - low) * 255.0 / (high - low) - PIXEL_MEAN) / PIXEL_STD


def window_hu(channel: torch.Tensor, window) -> torch.Tensor:
    low, high = window
    return low + (channel * PIXEL_STD + PIXEL_MEAN) * (high - low) / 255.0


def windowed(seed=0, **extra):
    torch.manual_seed(seed)
    return build_detector("mp3d_small", 3, **TINY, input_windows=SOFT_TISSUE, input_hu_clip=CLIP, **extra).eval()


def test_the_window_channel_holds_the_hu_clipped_to_the_window():
    hu = torch.tensor([-1000.0, -300.0, -160.0, -30.0, 40.0, 75.5, 240.0, 390.0])
    out = InputWindows(SOFT_TISSUE, CLIP)(as_input(hu).reshape(1, 1, 1, 1, -1))
    assert torch.equal(out[0, 0].flatten(), as_input(hu))  # the input passes unchanged
    recovered = window_hu(out[0, 1].flatten(), SOFT_TISSUE[0])
    np.testing.assert_allclose(recovered.numpy(), hu.clamp(-160, 240).numpy(), atol=1e-3)
    # 30 HU in the soft-tissue window span 3.5 times as many input units as in the input's own window
    step = lambda channel: float(channel[4] - channel[3])  # noqa: E731 - -30 -> 40 HU
    assert step(out[0, 1].flatten()) / step(out[0, 0].flatten()) == pytest.approx(1400 / 400, rel=1e-4)


def test_windows_must_be_ranges():
    with pytest.raises(ValueError, match="high > low"):
        InputWindows([[240, -160]], CLIP)
    with pytest.raises(ValueError, match="at least one"):
        InputWindows([], CLIP)
    with pytest.raises(ValueError, match="one input channel"):
        InputWindows(SOFT_TISSUE, CLIP)(torch.zeros(1, 2, 1, 4, 4))


def test_a_windowed_stem_started_from_a_plain_detector_computes_what_it_computed():
    torch.manual_seed(3)
    plain = build_detector("mp3d_small", 3, **TINY).eval()
    model = windowed(seed=7)
    report = load_pretrained_detector(model, plain.state_dict())
    assert report.adapted == ["backbone.body.conv1.weight"] and not report.skipped
    stem = model.backbone.body.conv1.weight
    assert stem.shape[1] == 2 and torch.equal(stem[:, :1], plain.backbone.body.conv1.weight)
    assert float(stem[:, 1:].detach().abs().sum()) == 0.0
    images = [torch.rand(3, 96, 96) * 255]
    with torch.no_grad():
        ours, theirs = model(images)[0], plain(images)[0]
    assert len(theirs["scores"]) > 0
    torch.testing.assert_close(ours["scores"], theirs["scores"])
    torch.testing.assert_close(ours["boxes"], theirs["boxes"])


def test_the_flat_cpu_trunk_reads_the_windows_as_the_3d_trunk_does():
    trunk = windowed().backbone.body
    with torch.no_grad():
        trunk.conv1.weight.normal_()
    x = torch.randn(2, 1, 3, 32, 32)
    with torch.no_grad():
        flat = FlatTrunk(trunk, window=None, valid=False)(x.permute(0, 2, 3, 4, 1))
        full = trunk(x)
    for (ours, _), theirs in zip(flat, full):
        torch.testing.assert_close(ours.permute(0, 4, 1, 2, 3), theirs, atol=1e-4, rtol=1e-4)


def test_a_windowed_model_file_keeps_its_windows(tmp_path):
    model = windowed()
    with torch.no_grad():
        model.backbone.body.conv1.weight.normal_()
    card = dict(name="tiny-windows", slice_interval_mm=2.0, hu_clip=CLIP,
                training_data={"dataset": "none (random weights)"})
    path = tmp_path / "w.safetensors"
    save_model(path, model, card)
    options = read_card(path).architecture_options
    assert options["input_windows"] == SOFT_TISSUE and options["input_hu_clip"] == CLIP
    loaded, _ = load_model(path)
    images = [torch.rand(3, 96, 96) * 255]
    with torch.no_grad():
        torch.testing.assert_close(loaded(images)[0]["scores"], model(images)[0]["scores"])


def test_windows_need_the_input_range_and_an_mp3d_trunk():
    with pytest.raises(ValueError, match="input_hu_clip"):
        build_detector("mp3d_small", 3, **TINY, input_windows=SOFT_TISSUE)
    with pytest.raises(ValueError, match="unknown option 'input_windows'"):
        build_detector("mr3d50", 3, input_windows=SOFT_TISSUE, input_hu_clip=CLIP)
    assert "high > low" in model_options_problem("mp3d_small", {"input_windows": [[0, 0]]})
    assert "input_hu_clip" in model_options_problem("mp3d_small", {"input_hu_clip": [400, -1000]})
    assert model_options_problem("mp3d_small", {"input_windows": SOFT_TISSUE, "input_hu_clip": CLIP}) is None


def test_the_trainer_takes_the_input_range_from_the_data_and_refuses_another():
    small = {**TINY, "input_windows": SOFT_TISSUE}
    cfg = TrainingConfig.from_dict({"model": {"arch": "mp3d_small", "options": small},
                                    "data": {"num_slices": 3, "hu_clip": CLIP, "train_sizes": [64], "test_size": 64}})
    model = build_model(cfg)
    assert model.build_config["options"]["input_hu_clip"] == CLIP
    assert model.backbone.body.conv1.weight.shape[1] == 2
    with pytest.raises(ConfigError, match=r"input_hu_clip must be data.hu_clip \[-1000.0, 400.0\]"):
        TrainingConfig.from_dict({"model": {"arch": "mp3d_small", "options": {**small, "input_hu_clip": [-1024, 1050]}},
                                  "data": {"hu_clip": CLIP}})


@pytest.mark.parametrize("mode", ["window", "volume"])
def test_the_viewers_fast_trunk_finds_what_the_3d_trunk_finds_with_windows(mode):
    from lesionviewer.detection.engine import Detector
    from lesionviewer.io import Volume

    def detector(flat):
        torch.manual_seed(0)
        net = build_detector("mp3d_small", 3, norm="none", **TINY, input_windows=SOFT_TISSUE, input_hu_clip=CLIP)
        with torch.no_grad():
            net.backbone.body.conv1.weight[:, 1:].normal_(std=0.2)
        card = {"name": "tiny", "architecture": "mp3d_small", "num_slices": 3, "slice_interval_mm": 2.5,
                "input_min_size": 64, "input_max_size": 96, "hu_clip": CLIP}
        return Detector(net, card, device="cpu", score_floor=0.0, mode=mode, flat=flat, volume_chunk=4)

    rng = np.random.default_rng(0)
    hu = rng.normal(40, 30, (8, 48, 48)).astype(np.int16)
    hu[:, 10:20, 12:24] -= 40  # a hypodense block: visible mostly in the soft-tissue window
    volume = Volume(hu, spacing=(2.5, 0.8, 0.8))
    fast, plain = detector(True), detector(False)
    assert fast.flat and not plain.flat
    a, b = fast.detect(volume), plain.detect(volume)
    assert len(a) > 0 and [f.slice_index for f in a] == [f.slice_index for f in b]
    np.testing.assert_allclose([f.score for f in a], [f.score for f in b], atol=1e-3)
    np.testing.assert_allclose([f.box_px for f in a], [f.box_px for f in b], atol=0.1)
