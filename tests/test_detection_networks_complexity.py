"""Faithfulness of size and cost to the MP3D paper (counted on the meta device: no compute)."""
from __future__ import annotations

import pytest
import torch

from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.networks.complexity import count_parameters, detector_macs


def macs(arch: str, num_slices: int) -> dict[str, int]:
    with torch.device("meta"):
        model = build_detector(arch, num_slices)
    return detector_macs(model, num_slices, size=512, num_rois=1000)


def test_mp3d63_costs_248_93_giga_macs_at_9_slices():
    assert macs("mp3d63", 9)["total"] / 1e9 == pytest.approx(248.93, rel=0.05)


@pytest.mark.parametrize("num_slices, paper", [(5, 156.84), (7, 202.88), (11, 294.97)])
def test_mp3d63_cost_per_number_of_slices_matches_table_2(num_slices, paper):
    assert macs("mp3d63", num_slices)["total"] / 1e9 == pytest.approx(paper, rel=0.05)


def test_each_extra_slice_adds_about_23_giga_macs():
    per_slice = [(macs("mp3d63", d + 2)["total"] - macs("mp3d63", d)["total"]) / 2e9 for d in (5, 7, 9)]
    assert per_slice == pytest.approx([23.03] * 3, rel=0.05)


def test_the_slice_independent_parts_cost_the_same_for_every_depth():
    a, b = macs("mp3d63", 5), macs("mp3d63", 11)
    assert (a["fpn"], a["rpn"], a["roi_head"]) == (b["fpn"], b["rpn"], b["roi_head"])
    # two shared FC layers on 1000 RoIs: 1000 * (12544 * 1024 + 1024 * 1024) plus the predictor
    assert a["roi_head"] == 1000 * (256 * 49 * 1024 + 1024 * 1024 + 1024 * (2 + 8))


def test_mr3d_has_64_03_million_parameters():
    with torch.device("meta"):
        model = build_detector("mr3d50", 9)
    assert count_parameters(model) == pytest.approx(64.03e6, rel=0.02)


def test_mp3d_is_much_cheaper_than_mr3d():
    assert macs("mp3d63", 9)["total"] < 0.7 * macs("mr3d50", 9)["total"]


def test_the_small_variant_keeps_the_design_at_a_fraction_of_the_cost():
    with torch.device("meta"):
        small = build_detector("mp3d_small", 9)
    assert count_parameters(small) == 3_568_201  # the size stated in docs/models.md
    assert macs("mp3d_small", 9)["total"] < 0.06 * macs("mp3d63", 9)["total"]
    variants = [b.variant for stage in range(1, 5) for b in getattr(small.backbone.body, f"layer{stage}")]
    assert "".join(variants) == "ABCABCABC"
