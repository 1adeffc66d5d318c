"""Volume mode and device-side preprocessing: what must equal window mode does, and the rest is stable."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from lesionviewer.detection.device_input import DeviceVolume, network_slices
from lesionviewer.detection.engine import Detector
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.networks.depth_to_2d import DepthConv, GroupTransform
from lesionviewer.detection.volume_mode import windows_to_2d
from lesionviewer.imaging.context import ContextStacker
from lesionviewer.imaging.context_grid import context_grids
from lesionviewer.imaging.windowing import clip_and_scale_mp3d
from lesionviewer.io import Volume

TINY = dict(width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64,
            rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50)


def tiny_detector(num_slices=3, interval=2.5, norm="gn", **options):
    torch.manual_seed(0)
    net = build_detector("mp3d_small", num_slices, norm=norm, **TINY)
    card = {"name": "tiny", "architecture": "mp3d_small", "num_slices": num_slices,
            "slice_interval_mm": interval, "input_min_size": 64, "input_max_size": 96}
    return Detector(net, card, device="cpu", score_floor=0.0, **options)


def blob_volume(num_slices=12, size=48, spacing=2.5, seed=0):
    rng = np.random.default_rng(seed)
    hu = rng.normal(0, 200, (num_slices, size, size)).astype(np.int16)
    hu[:, 10:20, 12:24] += 400
    return Volume(hu, spacing=(spacing, 0.8, 0.8))


def by_slice(findings):
    rows = {}
    for f in findings:
        rows.setdefault(f.slice_index, []).append((round(f.score, 4), *(round(v, 2) for v in f.box_px)))
    return {k: sorted(v) for k, v in rows.items()}


def assert_same_findings(a, b, atol=1e-3):
    assert [f.slice_index for f in a] == [f.slice_index for f in b]
    np.testing.assert_allclose([f.score for f in a], [f.score for f in b], atol=atol)
    np.testing.assert_allclose([f.box_px for f in a], [f.box_px for f in b], atol=atol * 100)


@pytest.mark.parametrize("positions", [2.5, 1.25, 5.0, 0.625, 0.7, [0.0, 1.0, 3.5, 4.0, 6.5, 9.0, 10.0],
                                       [30.0, 27.5, 25.0, 20.0, 17.5, 15.0, 12.5]])
def test_every_grid_window_is_its_centres_context_stack(positions):
    num = 7 if isinstance(positions, list) else 15
    hu = np.random.default_rng(1).integers(-1000, 1000, (num, 4, 5)).astype(np.int16)
    stacker = ContextStacker(hu.astype(np.float32), positions, num_slices=5, interval_mm=2.5)
    source = DeviceVolume(hu, "cpu")
    covered = []
    for grid in context_grids(positions, num, range(num), 2.5):
        for centre, k in zip(grid.centres.tolist(), grid.centre_index.tolist()):
            window = source.blend(*grid.sample_points(range(k - 2, k + 3)))
            np.testing.assert_allclose(window.numpy(), stacker.stack(centre), atol=1e-3)
            covered.append(centre)
    assert sorted(covered) == list(range(num))


def test_grids_share_one_lattice_when_slices_make_whole_intervals():
    assert len(context_grids(2.5, 30, range(30), 2.5)) == 1
    assert len(context_grids(5.0, 30, range(30), 2.5)) == 1
    assert len(context_grids(0.625, 30, range(30), 2.5)) == 4


def test_device_inputs_equal_the_networks_transform_of_the_cpu_stacks():
    detector = tiny_detector(num_slices=3)
    volume = blob_volume(6, size=40)
    stacks = ContextStacker(volume.hu, 2.5, 3, 2.5).stacks([1, 4])
    images, _ = detector.model.transform(list(clip_and_scale_mp3d(torch.as_tensor(stacks), -1024, 1050)))
    source = DeviceVolume(volume.hu, "cpu")
    lower, upper, weight = (np.concatenate(p) for p in zip(*[ContextStacker(volume.hu, 2.5, 3, 2.5).sample_points(c)
                                                              for c in (1, 4)]))
    slices, size = network_slices(source.blend(lower, upper, weight), detector.model.transform, (-1024, 1050))
    np.testing.assert_allclose(slices.reshape(images.tensors.shape).numpy(), images.tensors.numpy(), atol=1e-4)
    assert [size, size] == images.image_sizes


def test_window_mode_gives_what_the_unrolled_network_gives_on_cpu_stacks():
    detector = tiny_detector(num_slices=3, mode="window")
    volume = blob_volume(5)
    found = detector.detect(volume, slices=[2])
    raw = detector.predict_stacks(ContextStacker(volume.hu, 2.5, 3, 2.5).stacks([2]))[0]
    np.testing.assert_allclose(sorted(f.score for f in found), sorted(raw["scores"].tolist()), atol=1e-4)


@pytest.mark.parametrize("convert", [GroupTransform(6, 5), DepthConv(6, 5)])
def test_windows_over_shared_features_equal_the_module_on_each_window(convert):
    torch.manual_seed(0)
    for p in convert.parameters():
        torch.nn.init.normal_(p)
    features = torch.randn(1, 6, 9, 3, 4)
    with torch.no_grad():
        shared = windows_to_2d(convert, features, 5)
        each = torch.cat([convert(features[:, :, i:i + 5]) for i in range(5)])
    torch.testing.assert_close(shared, each, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("spacing", [2.5, 5.0, 1.25])
def test_without_normalisation_a_one_window_chunk_is_exactly_window_mode(spacing):
    # No GroupNorm and chunks of one window with no halo: the trunk sees exactly the context stack
    # and pads its edges with zeros, as window mode does, so everything downstream must agree.
    volume = blob_volume(8, spacing=spacing)
    window = tiny_detector(num_slices=3, norm="none", mode="window").detect(volume)
    shared = tiny_detector(num_slices=3, norm="none", mode="volume", volume_chunk=1, volume_halo=0).detect(volume)
    assert_same_findings(window, shared)


def test_without_normalisation_the_halo_makes_chunking_invisible():
    volume = blob_volume(14)
    small = tiny_detector(num_slices=3, norm="none", mode="volume", volume_chunk=2).detect(volume)
    whole = tiny_detector(num_slices=3, norm="none", mode="volume", volume_chunk=64).detect(volume)
    assert_same_findings(small, whole)


def test_a_slices_findings_do_not_depend_on_which_slices_were_asked_for():
    detector = tiny_detector(num_slices=3, mode="volume", volume_chunk=4)
    volume = blob_volume(12, spacing=1.25)
    everything = by_slice(detector.detect(volume))
    for index in (0, 5, 11):
        assert by_slice(detector.detect(volume, slices=[index])) == {index: everything[index]}


def test_volume_mode_reports_the_first_requested_slice_first_and_every_slice_once():
    detector = tiny_detector(num_slices=3, mode="volume", volume_chunk=4)
    order = [6, 7, 5, 8, 4, 9, 3, 10, 2, 11, 1, 0]
    reported = []
    detector.detect(blob_volume(12), slices=order, on_findings=lambda index, found: reported.append(index))
    assert reported[0] == 6 and sorted(reported) == sorted(order)


def test_cancel_in_volume_mode_returns_the_slices_finished():
    detector = tiny_detector(num_slices=3, mode="volume", volume_chunk=4, batch_size=1)
    event = threading.Event()
    reported = []

    def on_findings(index, found):
        reported.append(index)
        event.set()

    findings = detector.detect(blob_volume(12), cancel=event, on_findings=on_findings)
    assert reported == [0] and {f.slice_index for f in findings} <= {0}


def test_auto_mode_takes_volume_mode_only_where_the_network_allows_it(monkeypatch):
    import lesionviewer.detection.engine as engine

    monkeypatch.setattr(engine, "AUTO_MODE", "volume")
    assert tiny_detector().mode == "volume"
    torch.manual_seed(0)
    pooled = build_detector("mp3d_small", 3, depth_pooling=True, **TINY)
    card = {"name": "p", "architecture": "mp3d_small", "num_slices": 3, "slice_interval_mm": 2.5}
    assert Detector(pooled, card, device="cpu").mode == "window"
    with pytest.raises(ValueError, match="pools depth"):
        Detector(pooled, card, device="cpu", mode="volume")


def test_the_environment_variable_chooses_the_mode_of_auto(monkeypatch):
    monkeypatch.setenv("LESIONVIEWER_DETECT_MODE", "volume")
    assert tiny_detector().mode == "volume"
    monkeypatch.setenv("LESIONVIEWER_DETECT_MODE", "window")
    assert tiny_detector().mode == "window"
    assert tiny_detector(mode="volume").mode == "volume"  # an explicit choice wins
    monkeypatch.setenv("LESIONVIEWER_DETECT_MODE", "sideways")
    with pytest.raises(ValueError, match="sideways"):
        tiny_detector()


def test_the_2d_forms_of_slice_convs_and_stem_pool_change_no_trunk_output():
    from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
    from lesionviewer.detection.networks.resnet3d import mr3d_trunk
    from lesionviewer.detection.trunk_rewrites import rewrite_trunk

    x = torch.randn(1, 1, 7, 32, 32)
    for build in (mp3d_trunk, mr3d_trunk):
        torch.manual_seed(0)
        trunk = build(width=8, blocks=(1, 1, 1, 1)).eval()
        with torch.no_grad():
            before = trunk(x)
            after = rewrite_trunk(trunk)(x)
        for a, b in zip(before, after):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("mode", ["window", "volume"])
def test_the_flat_trunk_finds_what_the_3d_trunk_finds(mode):
    # window mode: the same computation; volume mode with the halo: the same where GroupNorm's
    # windows do not reach the chunk's cropped ends (without normalisation: everywhere)
    volume = blob_volume(10)
    norm = "gn" if mode == "window" else "none"
    flat = tiny_detector(norm=norm, mode=mode, flat=True, volume_chunk=4)
    plain = tiny_detector(norm=norm, mode=mode, flat=False, volume_chunk=4)
    assert flat.flat and not plain.flat
    assert_same_findings(flat.detect(volume), plain.detect(volume))


def test_proposals_caps_the_rpn_at_test_time():
    detector = tiny_detector(proposals=7)
    assert detector.model.rpn.post_nms_top_n() == 7
    assert len(detector.detect(blob_volume(4), slices=[1])) <= 7
    with pytest.raises(ValueError, match="proposals"):
        tiny_detector(proposals=0)


def test_flipping_gives_the_same_fused_findings_in_window_and_volume_mode():
    # without normalisation a one-window chunk is exactly window mode (above); the mirrored pass must follow
    # the same route in both, and on a real network its boxes must be fused, not just appended
    volume = blob_volume(5)
    window = tiny_detector(num_slices=3, norm="none", mode="window", flip=True).detect(volume)
    shared = tiny_detector(num_slices=3, norm="none", mode="volume", volume_chunk=1, volume_halo=0,
                           flip=True).detect(volume)
    assert_same_findings(window, shared)
    plain = tiny_detector(num_slices=3, norm="none", mode="window").detect(volume)
    assert by_slice(window) != by_slice(plain)
    predicted = tiny_detector(num_slices=3, norm="none", flip=True).predict_stacks(
        ContextStacker(volume.hu, 2.5, 3, 2.5).stacks([2]))[0]
    np.testing.assert_allclose(sorted(f.score for f in window if f.slice_index == 2),
                               sorted(predicted["scores"].tolist()), atol=1e-4)
