"""Backbones of the MP3D family: shapes for every variant and D, gradients, depth behaviour."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection.factory import ARCHITECTURES, build_detector
from lesionviewer.detection.networks.a3d import A3DConv
from lesionviewer.detection.networks.depth_to_2d import CenterSlice, GroupTransform
from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
from lesionviewer.detection.networks.pseudo3d import P3DBottleneck

TINY = dict(width=8, blocks=(1, 1, 1, 1), fpn_channels=32, representation_size=64, min_size=64, max_size=64)
TINY_3DCE = dict(TINY, width=8)


def slices_for(arch: str) -> list[int]:
    return [3, 9] if arch == "fpn3dce" else [3, 5, 7, 9, 11]


CASES = [(arch, d) for arch in ARCHITECTURES for d in slices_for(arch)]


def tiny_detector(arch: str, num_slices: int):
    torch.manual_seed(0)
    return build_detector(arch, num_slices, **TINY)


@pytest.mark.parametrize("arch, num_slices", CASES)
def test_fpn_outputs_have_the_expected_shapes(arch, num_slices):
    model = tiny_detector(arch, num_slices)
    with torch.no_grad():
        feats = model.backbone(torch.rand(2, num_slices, 64, 96))
    assert list(feats) == ["0", "1", "2", "3", "pool"]
    expected = [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]
    assert [tuple(f.shape) for f in feats.values()] == [(2, 32, h, w) for h, w in expected]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_every_parameter_receives_a_gradient_in_training(arch):
    num_slices = 9 if arch == "fpn3dce" else 5
    model = tiny_detector(arch, num_slices).train()
    images = [torch.rand(num_slices, 64, 64) * 255 for _ in range(2)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 40.0, 36.0]]), "labels": torch.tensor([1])}] * 2
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    sum(losses.values()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    # the backbone really learns: its first conv gets a non-zero gradient
    first = next(p for name, p in model.named_parameters() if name.startswith("backbone.body"))
    assert first.grad.abs().sum() > 0


def test_p3d_blocks_cycle_a_b_c_over_all_sixteen_blocks():
    trunk = mp3d_trunk()
    variants = [b.variant for stage in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4) for b in stage]
    assert "".join(variants) == "ABCABCABCABCABCA"
    convs = [m for m in trunk.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(m.bias is None and m.stride[0] == 1 for m in convs)  # no bias, depth never strided


@pytest.mark.parametrize("variant", "ABC")
def test_p3d_block_is_per_slice_without_its_slice_conv(variant):
    torch.manual_seed(0)
    block = P3DBottleneck(32, 8, variant=variant).eval()
    torch.nn.init.zeros_(block.conv_t.weight)
    x = torch.rand(1, 32, 1, 6, 6).expand(1, 32, 5, 6, 6).contiguous()
    y = block(x)
    assert torch.allclose(y, y[:, :, 2:3].expand_as(y), atol=1e-6)


def test_slice_conv_carries_context_between_slices():
    torch.manual_seed(0)
    block = P3DBottleneck(32, 8, variant="A", norm=lambda c: torch.nn.Identity()).eval()
    x = torch.rand(1, 32, 5, 6, 6)
    changed = x.clone()
    changed[:, :, 1] += 1.0
    diff = (block(changed) - block(x)).abs().amax(dim=(0, 1, 3, 4))
    assert diff[0] > 0 and diff[2] > 0  # neighbours of slice 1 see the change
    assert diff[3] == 0 and diff[4] == 0  # one 3x1x1 conv reaches one slice only


@pytest.mark.parametrize("depth_pooling", [False, True])
def test_constant_stack_gives_identical_features_at_every_depth_when_slice_convs_are_off(depth_pooling):
    torch.manual_seed(0)
    trunk = mp3d_trunk(width=8, blocks=(1, 1, 1, 1), depth_pooling=depth_pooling).eval()
    for module in trunk.modules():
        if isinstance(module, P3DBottleneck):
            torch.nn.init.zeros_(module.conv_t.weight)
    image = torch.rand(1, 1, 1, 64, 64)
    with torch.no_grad():
        stages = trunk(image.expand(1, 1, 9, 64, 64))
    assert [s.shape[2] for s in stages] == ([9, 5, 3, 2] if depth_pooling else [9, 9, 9, 9])
    for s in stages:
        assert torch.allclose(s, s[:, :, :1].expand_as(s), atol=1e-5)


def test_the_full_network_uses_context_slices():
    model = tiny_detector("mp3d63", 5).eval()
    x = torch.rand(1, 5, 64, 64)
    changed = x.clone()
    changed[:, 0] = 0.0
    with torch.no_grad():
        a, b = model.backbone(x)["0"], model.backbone(changed)["0"]
    assert not torch.allclose(a, b)


def test_gtm_of_a_depth_constant_map_is_the_map_times_the_weight_sum():
    torch.manual_seed(0)
    gtm = GroupTransform(4, 5)
    x = torch.rand(2, 4, 1, 3, 3).expand(2, 4, 5, 3, 3)
    expected = x[:, :, 0] * gtm.conv.weight.sum(dim=1).view(1, 4, 1, 1)
    assert torch.allclose(gtm(x), expected, atol=1e-6)


def test_gtm_mixes_each_channel_only_with_its_own_slices():
    gtm = GroupTransform(3, 4)
    torch.nn.init.ones_(gtm.conv.weight)
    x = torch.zeros(1, 3, 4, 1, 1)
    x[0, 1, 2] = 5.0
    assert gtm(x).flatten().tolist() == [0.0, 5.0, 0.0]


def test_ctm_takes_the_centre_slice():
    x = torch.arange(7.0).view(1, 1, 7, 1, 1)
    assert CenterSlice()(x).item() == 3.0


def test_a3d_mixing_starts_near_identity_and_is_asymmetric():
    torch.manual_seed(0)
    op = A3DConv(16, 16, depth=5)
    eye = torch.eye(5).expand(16, 5, 5)
    off = op.mixing.detach() - eye
    assert off.abs().max() <= 0.1 and off.abs().max() > 0.05
    assert not torch.allclose(op.mixing[0], op.mixing[1])  # a matrix per channel


def test_a3d_with_identity_mixing_is_a_per_slice_conv():
    torch.manual_seed(0)
    op = A3DConv(4, 6, depth=3)
    with torch.no_grad():
        op.mixing.copy_(torch.eye(3).expand(4, 3, 3))
    x = torch.rand(1, 4, 3, 5, 5)
    per_slice = torch.nn.functional.conv2d(x[:, :, 1], op.conv.weight[:, :, 0], padding=1)
    assert torch.allclose(op(x)[:, :, 1], per_slice, atol=1e-6)


def test_backbone_rejects_a_wrong_number_of_slices_clearly():
    model = tiny_detector("mp3d63", 9)
    with pytest.raises(ValueError, match="9 slices, got .*5"):
        model.backbone(torch.rand(1, 5, 64, 64))
    with pytest.raises(ValueError, match=r"\(N, D, H, W\)"):
        model.backbone(torch.rand(5, 64, 64))


def test_fpn3dce_needs_a_multiple_of_three_slices():
    with pytest.raises(ValueError, match="multiple of 3"):
        build_detector("fpn3dce", 7, **TINY)
