"""The flat (2D, channels-last) trunk computes what the 3D trunk computes."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection.flat_trunk import FlatTrunk, flat_trunk_problem, flat_windows_to_2d
from lesionviewer.detection.networks.depth_to_2d import CenterSlice, DepthConv, GroupTransform
from lesionviewer.detection.networks.mp3d_resnet import mp3d_trunk
from lesionviewer.detection.networks.normalization import no_norm
from lesionviewer.detection.networks.resnet3d import mr3d_trunk
from lesionviewer.detection.volume_mode import shared_trunk, z_halo


def _trunk(build=mp3d_trunk, **options):
    torch.manual_seed(0)
    trunk = build(width=8, blocks=(1, 1, 2, 1), **options).eval()
    with torch.no_grad():  # GroupNorm affine parameters away from 1 and 0, so they are tested too
        for module in trunk.modules():
            if isinstance(module, torch.nn.GroupNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return trunk


def _as_3d(flat: torch.Tensor) -> torch.Tensor:
    return flat.permute(0, 4, 1, 2, 3)


@pytest.mark.parametrize("build", [mp3d_trunk, mr3d_trunk])
def test_window_mode_equals_the_3d_trunk_on_every_stage(build):
    trunk = _trunk(build)
    x = torch.randn(2, 1, 5, 48, 40) * 2
    with torch.no_grad():
        theirs = trunk(x)
        ours = FlatTrunk(trunk, window=None, valid=False)(x.permute(0, 2, 3, 4, 1))
    for (flat, lost), reference in zip(ours, theirs):
        assert lost == 0
        torch.testing.assert_close(_as_3d(flat), reference, atol=2e-4, rtol=2e-4)


@pytest.mark.parametrize("build", [mp3d_trunk, mr3d_trunk])
def test_a_valid_run_without_norm_equals_the_padded_trunk_where_no_padding_reaches(build):
    trunk = _trunk(build, norm=no_norm)
    x = torch.randn(1, 1, 16, 32, 32)
    flat = FlatTrunk(trunk, window=3, valid=True)
    assert flat.depth_loss() == z_halo(trunk)
    with torch.no_grad():
        theirs = trunk(x)
        ours = flat(x.permute(0, 2, 3, 4, 1))
    for (out, lost), reference in zip(ours, theirs):
        inner = reference[:, :, lost:16 - lost]
        torch.testing.assert_close(_as_3d(out), inner, atol=1e-4, rtol=1e-4)
    assert ours[-1][1] == z_halo(trunk)


def test_a_valid_run_equals_the_shared_trunk_far_from_its_ends():
    # GroupNorm statistics of each position come from the 3 around it: far enough from the ends of
    # the run, the cropping of the flat trunk changes nothing
    trunk = _trunk()
    x = torch.randn(1, 1, 64, 32, 32)
    with torch.no_grad():
        theirs = shared_trunk(trunk, 3)(x)
        ours = FlatTrunk(trunk, window=3, valid=True)(x.permute(0, 2, 3, 4, 1))
    for (out, lost), reference in zip(ours, theirs):
        torch.testing.assert_close(_as_3d(out)[:, :, 24 - lost:40 - lost], reference[:, :, 24:40], atol=1e-4, rtol=1e-4)


def test_bfloat16_is_about_as_close_to_float32_as_torchs_autocast_of_the_3d_trunk():
    trunk = _trunk()
    x = torch.randn(1, 1, 20, 32, 32)
    with torch.no_grad():
        full, lost = FlatTrunk(trunk, window=3, valid=True)(x.permute(0, 2, 3, 4, 1))[-1]
        half = FlatTrunk(trunk, window=3, valid=True, dtype=torch.bfloat16)(x.permute(0, 2, 3, 4, 1))[-1][0]
        reference = shared_trunk(trunk, 3)(x)[-1][:, :, lost:20 - lost]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = shared_trunk(trunk, 3)(x)[-1][:, :, lost:20 - lost]
    assert half.dtype == torch.bfloat16
    error = float((half.float() - full).norm() / full.norm())
    autocast_error = float((autocast.float() - reference).norm() / reference.norm())
    assert 0 < error < 1.5 * autocast_error


@pytest.mark.parametrize("convert", [GroupTransform(6, 3), DepthConv(6, 3), CenterSlice()])
def test_windows_of_a_flat_stage_equal_the_module_on_each_window(convert):
    torch.manual_seed(0)
    for p in convert.parameters():
        torch.nn.init.normal_(p)
    stage = torch.randn(2, 7, 3, 4, 6)
    starts = [(1, 4), (0, 0), (1, 2)]
    with torch.no_grad():
        ours = flat_windows_to_2d(convert, stage, starts, 3)
        each = torch.cat([convert(_as_3d(stage)[b:b + 1, :, p:p + 3]) for b, p in starts])
    torch.testing.assert_close(ours, each, atol=1e-5, rtol=1e-5)


def test_trunks_it_cannot_run_are_named():
    assert flat_trunk_problem(torch.nn.Conv3d(1, 1, 1)) == "the trunk is Conv3d, not a 3D ResNet trunk"
    assert flat_trunk_problem(_trunk(depth_pooling=True)) == "the trunk pools depth (isotropic pooling)"
    with pytest.raises(ValueError, match="pools depth"):
        FlatTrunk(_trunk(depth_pooling=True), window=3, valid=True)
