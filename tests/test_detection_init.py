"""Initialisation: a D=3 detector into any D, and a 2D torchvision ResNet-50 into the 3D trunks."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.initialization import (
    load_pretrained_detector, load_resnet50_2d, read_state_dict, resample_depth)
from lesionviewer.detection.networks.normalization import norm_layer
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck

TINY = dict(width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64)
# ResNet-50 widths with one block per stage: variants A, B, C, A and every weight kind, quickly
SHORT = dict(blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


# ---------------------------------------------------------------- (a) D=3 checkpoint into any D

@pytest.mark.parametrize("num_slices", [3, 5, 9, 11])
def test_gtm_weights_map_so_a_depth_constant_map_gives_the_same_output(num_slices):
    source = randomize(build_detector("mp3d63", 3, num_classes=81, **TINY))
    target = build_detector("mp3d63", num_slices, **TINY)
    report = load_pretrained_detector(target, source.state_dict())
    assert len(report.adapted) == (0 if num_slices == 3 else 4)
    for src, tgt, c in zip(source.backbone.to_2d, target.backbone.to_2d, (32, 64, 128, 256)):
        x = torch.rand(2, c, 1, 4, 4)
        assert torch.allclose(tgt(x.expand(2, c, num_slices, 4, 4)), src(x.expand(2, c, 3, 4, 4)), atol=1e-5)


def test_everything_but_the_depth_weights_and_mismatched_heads_is_copied_exactly():
    source = randomize(build_detector("mp3d63", 3, num_classes=81, **TINY))
    target = build_detector("mp3d63", 9, **TINY)
    report = load_pretrained_detector(target, source.state_dict())
    assert report.skipped == [f"roi_heads.box_predictor.{k}" for k in
                              ("bbox_pred.bias", "bbox_pred.weight", "cls_score.bias", "cls_score.weight")]
    assert report.missing == []
    src, tgt = source.state_dict(), target.state_dict()
    for name in report.loaded:
        assert torch.equal(src[name], tgt[name]), name
    assert target.roi_heads.box_predictor.cls_score.out_features == 2  # the lesion head stays its own


def test_same_depth_checkpoint_reproduces_the_detections(tmp_path):
    source = randomize(build_detector("mp3d63", 3, **TINY, min_size=64, max_size=64)).eval()
    path = tmp_path / "coco.safetensors"
    save_file(source.state_dict(), str(path))
    target = build_detector("mp3d63", 3, **TINY, min_size=64, max_size=64).eval()
    load_pretrained_detector(target, path)
    image = [torch.rand(3, 64, 64) * 255]
    with torch.no_grad():
        a, b = source.backbone(image[0][None]), target.backbone(image[0][None])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_depth_conv_alternative_is_resampled_too():
    source = randomize(build_detector("mp3d63", 3, depth_to_2d="conv3d", **TINY))
    target = build_detector("mp3d63", 7, depth_to_2d="conv3d", **TINY)
    report = load_pretrained_detector(target, source.state_dict())
    assert len(report.adapted) == 4
    x = torch.rand(1, 32, 1, 3, 3)
    a = source.backbone.to_2d[0](x.expand(1, 32, 3, 3, 3))
    b = target.backbone.to_2d[0](x.expand(1, 32, 7, 3, 3))
    assert torch.allclose(a, b, atol=1e-5)


def test_resample_keeps_each_channels_sum_even_when_it_is_zero():
    w = torch.tensor([[1.0, -2.0, 1.0], [0.5, 0.2, 0.1]])
    r = resample_depth(w, 9, dim=1)
    assert r.shape == (2, 9)
    assert torch.allclose(r.sum(1), w.sum(1), atol=1e-6)
    assert torch.equal(resample_depth(w, 3, dim=1), w)


def test_a3d_mixing_matrices_are_not_forced_into_another_depth():
    source = build_detector("a3d", 3, **TINY)
    target = build_detector("a3d", 5, **TINY)
    report = load_pretrained_detector(target, source.state_dict())
    assert any(k.endswith("conv2.mixing") for k in report.skipped)
    assert target.backbone.body.layer1[0].conv2.mixing.shape == (32 // 4, 5, 5)


class RunsOnLoad:
    """Any class outside torch's allow-list stands for a pickle that would run code."""


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.ones(1)}, "hook": RunsOnLoad()}, path)
    with pytest.raises(ValueError, match="evil.pth: not a readable weights file"):
        read_state_dict(path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        read_state_dict(tmp_path / "missing.pth")


# ---------------------------------------------------------------- (b) 2D ResNet-50 into 3D

def resnet_2d(blocks=(1, 1, 1, 1), norm=None, seed=0) -> ResNet:
    torch.manual_seed(seed)
    model = ResNet(Bottleneck, list(blocks), norm_layer=norm)
    return randomize(model, seed).eval() if norm is not None else model.eval()


def stages_2d(resnet: ResNet, image: torch.Tensor) -> list[torch.Tensor]:
    x = resnet.maxpool(resnet.relu(resnet.bn1(resnet.conv1(image))))
    out = []
    for layer in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
        x = layer(x)
        out.append(x)
    return out


def assert_equal_at_every_depth(stages_3d, stages_2d_ref, rtol=1e-4):
    for s3, s2 in zip(stages_3d, stages_2d_ref):
        scale = s2.abs().max()
        for d in range(s3.shape[2]):
            assert torch.allclose(s3[:, :, d], s2, atol=rtol * scale), f"depth {d}"


IDENTITY = lambda channels: nn.Identity()  # noqa: E731


@pytest.mark.parametrize("arch", ["mp3d63", "mr3d50", "a3d"])
def test_without_normalisation_the_3d_trunk_equals_the_2d_resnet_on_a_constant_stack(arch):
    resnet = resnet_2d(norm=IDENTITY)
    model = build_detector(arch, 3, norm="none", stride_on="spatial", **SHORT).eval()
    report = load_resnet50_2d(model, resnet.state_dict())
    assert report.missing == [] and report.skipped == ["fc.bias", "fc.weight"]
    if arch == "a3d":  # A3D starts at identity + noise by design; test the conv mapping exactly
        with torch.no_grad():
            for m in model.modules():
                if hasattr(m, "mixing"):
                    m.mixing.copy_(torch.eye(3).expand_as(m.mixing))
    gray = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        reference = stages_2d(resnet, gray.expand(1, 3, 64, 64))
        stages = model.backbone.body(gray.unsqueeze(2).expand(1, 1, 3, 64, 64))
        features = model.backbone.features_2d(gray.expand(1, 3, 64, 64))
    assert_equal_at_every_depth(stages, reference)
    for f2, ref in zip(features.values(), reference):  # GTM starts as the mean over depth
        assert torch.allclose(f2, ref, atol=1e-4 * ref.abs().max())


def test_with_mp3d_stride_placement_res2_is_exact_and_later_stages_differ():
    resnet = resnet_2d(norm=IDENTITY)
    model = build_detector("mp3d63", 3, norm="none", **SHORT).eval()
    load_resnet50_2d(model, resnet.state_dict())
    gray = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        reference = stages_2d(resnet, gray.expand(1, 3, 64, 64))
        stages = model.backbone.body(gray.unsqueeze(2).expand(1, 1, 3, 64, 64))
    assert_equal_at_every_depth(stages[:1], reference[:1])
    assert not torch.allclose(stages[1][:, :, 1], reference[1], atol=1e-3 * reference[1].abs().max())


@pytest.mark.parametrize("variant", ["B", "C"])
def test_with_groupnorm_parallel_p3d_blocks_equal_the_2d_gn_bottleneck(variant):
    torch.manual_seed(0)
    block_2d = randomize(Bottleneck(256, 64, norm_layer=norm_layer)).eval()
    block_3d = P3DBottleneck(256, 64, variant=variant).eval()
    resnet_like = {f"layer1.0.{k}": v for k, v in block_2d.state_dict().items()}
    resnet_like.update(conv1=torch.zeros(1), **{"conv1.weight": torch.zeros(64, 3, 7, 7)})
    trunk = nn.Module()
    trunk.layer1 = nn.Sequential(block_3d)
    load_resnet50_2d(trunk, resnet_like)
    x = torch.rand(1, 256, 16, 16)
    with torch.no_grad():
        y2 = block_2d(x)
        y3 = block_3d(x.unsqueeze(2).expand(1, 256, 5, 16, 16))
    for d in range(5):
        assert torch.allclose(y3[:, :, d], y2, atol=1e-5)


def test_groupnorm_affine_comes_from_batchnorm_affine_and_t_norm_starts_neutral():
    resnet = randomize(resnet_2d())
    model = build_detector("mp3d63", 3, **SHORT)
    load_resnet50_2d(model, resnet.state_dict())
    block = model.backbone.body.layer1[0]
    assert torch.equal(block.norm_s.weight, resnet.layer1[0].bn2.weight)
    assert torch.equal(block.norm1.bias, resnet.layer1[0].bn1.bias)
    assert torch.all(block.norm_t.weight == 1) and torch.all(block.norm_t.bias == 0)
    assert torch.equal(block.conv_t.weight[:, :, 1, 0, 0], torch.eye(64))  # block 0 is P3D-A
    assert torch.all(model.backbone.body.layer1[0].conv_s.weight[:, :, 0] == resnet.layer1[0].conv2.weight)


def test_fpn3dce_with_frozen_bn_is_torchvisions_resnet50_exactly(tmp_path):
    resnet = resnet_2d()
    with torch.no_grad():
        for m in resnet.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet50.pth"
    torch.save(resnet.state_dict(), path)
    model = build_detector("fpn3dce", 3, norm="frozen_bn", **SHORT).eval()
    load_resnet50_2d(model, path)
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        reference = stages_2d(resnet, image)
        stages = model.backbone.body(image.unsqueeze(1))
    for s3, s2 in zip(stages, reference):
        assert torch.allclose(s3[:, :, 0], s2, atol=1e-5)


def test_a_network_of_other_widths_is_refused_clearly():
    model = build_detector("mp3d_small", 3)
    with pytest.raises(ValueError, match="not the ResNet-50 layout"):
        load_resnet50_2d(model, resnet_2d().state_dict())
    with pytest.raises(ValueError, match="not a torchvision ResNet"):
        load_resnet50_2d(model, {"w": torch.ones(1)})


def test_with_groupnorm_the_2d_initialised_trunk_is_the_same_at_every_depth_of_a_constant_stack():
    # GN's statistics span all slices, and the T convs start as identity or zero, so a constant
    # stack stays constant over depth through every stage (the values differ from the 2D network
    # only through P3D-A's extra GN; see initialization.py).
    model = build_detector("mp3d63", 5, **SHORT).eval()
    load_resnet50_2d(model, resnet_2d(norm=norm_layer).state_dict())
    gray = torch.rand(1, 1, 1, 64, 64)
    with torch.no_grad():
        stages = model.backbone.body(gray.expand(1, 1, 5, 64, 64))
    for s in stages:
        assert torch.allclose(s, s[:, :, 2:3].expand_as(s), atol=1e-5 * s.abs().max())
