"""The inflated I3D: a constant-over-depth volume gives the 2D GoogLeNet's response on its slice."""
from __future__ import annotations

import pytest
import torch
from torchvision.models import googlenet

from lesionviewer.risk.i3d import InceptionI3D
from lesionviewer.risk.inflation import inflate_conv_weight, load_googlenet_2d


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    net2d = googlenet(weights=None, aux_logits=False, init_weights=True).eval()
    # Calibrate BN statistics on random images: with GoogLeNet's tiny initial weights and unit
    # running variances the signal would fade to the BN biases, and every input would give the same
    # features (the comparison below would then prove nothing).
    for module in net2d.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration batches
    net2d.train()
    with torch.no_grad():
        for _ in range(3):
            net2d(torch.randn(4, 3, 64, 64))
    net2d.eval()
    # float64 throughout (the inflation too), so that the comparison is exact up to rounding: the
    # calibrated BN layers amplify float32's error in w / k summed k times to ~1e-4.
    net2d.double()
    net3d = InceptionI3D(width=1.0).double()
    report = load_googlenet_2d(net3d, net2d.state_dict())
    return net2d, net3d.eval(), report


def test_every_googlenet_tensor_but_the_classifier_is_used(nets):
    _, net3d, report = nets
    assert report.missing == []
    assert report.skipped == ["fc.bias", "fc.weight"]
    assert len(report.adapted) == sum(1 for m in net3d.modules() if isinstance(m, torch.nn.Conv3d))


def test_constant_over_depth_volume_gives_the_2d_response(nets):
    net2d, net3d, _ = nets
    torch.manual_seed(1)
    image = torch.randn(2, 1, 64, 64, dtype=torch.float64)
    volume = image.unsqueeze(2).repeat(1, 1, 24, 1, 1)  # (N, 1, D, H, W), every slice the same
    with torch.no_grad():
        feats2d = torch.flatten(net2d.avgpool(_trunk_2d(net2d, image.repeat(1, 3, 1, 1))), 1)
        feats3d = net3d.features(volume)
        logits2d = net2d(image.repeat(1, 3, 1, 1))
        net3d.fc.weight.copy_(net2d.fc.weight[:1])
        net3d.fc.bias.copy_(net2d.fc.bias[:1])
        logit3d = net3d(volume)
    assert feats3d.shape == feats2d.shape == (2, 1024)
    assert float((feats2d[0] - feats2d[1]).abs().max()) > 0.1  # the features depend on the image
    torch.testing.assert_close(feats3d, feats2d, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(logit3d, logits2d[:, 0], rtol=1e-9, atol=1e-9)


def test_a_volume_that_varies_over_depth_differs_from_its_middle_slice(nets):
    net2d, net3d, _ = nets
    torch.manual_seed(2)
    volume = torch.zeros(1, 1, 24, 64, 64, dtype=torch.float64)
    volume[:, :, 12:] = 2.0 * torch.randn(1, 1, 1, 64, 64, dtype=torch.float64)  # the upper half differs from the lower (empty) half
    with torch.no_grad():
        feats3d = net3d.features(volume)
        feats2d = torch.flatten(net2d.avgpool(_trunk_2d(net2d, volume[:, :, 12].repeat(1, 3, 1, 1))), 1)
    assert float((feats3d - feats2d).abs().max()) > 1e-2 * float(feats2d.abs().max())


def test_inflated_filter_sums_to_the_2d_filter():
    w = torch.randn(4, 2, 3, 3)
    inflated = inflate_conv_weight(w)
    assert inflated.shape == (4, 2, 3, 3, 3)
    torch.testing.assert_close(inflated.sum(dim=2), w)


def test_narrow_network_refuses_googlenet_weights():
    with pytest.raises(ValueError, match="width=1"):
        load_googlenet_2d(InceptionI3D(width=0.125), googlenet(weights=None, aux_logits=False,
                                                              init_weights=False).state_dict())


def test_weights_file_round_trip(tmp_path):
    from safetensors.torch import save_file

    state = googlenet(weights=None, aux_logits=False, init_weights=False).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "googlenet.safetensors"))
    torch.save(state, tmp_path / "googlenet.pth")
    a, b = InceptionI3D(), InceptionI3D()
    load_googlenet_2d(a, tmp_path / "googlenet.safetensors")
    load_googlenet_2d(b, tmp_path / "googlenet.pth")
    torch.testing.assert_close(a.conv3.conv.weight, b.conv3.conv.weight)
    torch.testing.assert_close(a.conv3.conv.weight.sum(2), state["conv3.conv.weight"])


def test_not_a_googlenet_is_a_clear_error():
    with pytest.raises(ValueError, match="not a torchvision GoogLeNet"):
        load_googlenet_2d(InceptionI3D(), {"conv1.weight": torch.zeros(1)})


def _trunk_2d(net, x):
    x = net.maxpool1(net.conv1(x))
    x = net.maxpool2(net.conv3(net.conv2(x)))
    x = net.maxpool3(net.inception3b(net.inception3a(x)))
    for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
        x = getattr(net, name)(x)
    return net.inception5b(net.inception5a(net.maxpool4(x)))
