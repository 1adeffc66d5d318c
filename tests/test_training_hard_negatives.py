"""Hard-negative sampling for the box head (lesionviewer.training.hard_negatives)."""
import pytest
import torch
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.ops import batched_nms

from lesionviewer.training.config import ConfigError, TrainingConfig
from lesionviewer.training.hard_negatives import HardNegativeSampler


def _chosen(mask):
    return torch.where(mask)[0].tolist()


def test_with_no_hard_share_it_draws_exactly_what_torchvision_draws():
    labels = torch.tensor([0] * 40 + [1] * 5 + [-1] * 3 + [0] * 20)
    for seed in range(5):
        torch.manual_seed(seed)
        theirs = BalancedPositiveNegativeSampler(16, 0.25)([labels])
        torch.manual_seed(seed)
        ours = HardNegativeSampler(16, 0.25, 0.0)([labels])
        assert _chosen(ours[0][0]) == _chosen(theirs[0][0]) and _chosen(ours[1][0]) == _chosen(theirs[1][0])


def test_all_hard_takes_the_best_ranked_negatives_and_keeps_the_positive_share():
    # 10 proposals best first: lesions at 1 and 4, one ignored at 2; 4 samples with 25 % positives
    labels = torch.tensor([0, 1, -1, 0, 1, 0, 0, 0, 0, 0])
    pos, neg = HardNegativeSampler(4, 0.25, 1.0)([labels])
    assert len(_chosen(pos[0])) == 1 and _chosen(pos[0])[0] in (1, 4)
    assert _chosen(neg[0]) == [0, 3, 5]  # the three best negatives, the ignored proposal skipped


def test_half_hard_takes_half_from_the_top_and_half_from_the_rest():
    labels = torch.zeros(300, dtype=torch.int64)
    for seed in range(5):
        torch.manual_seed(seed)
        _, neg = HardNegativeSampler(64, 0.25, 0.5)([labels])
        chosen = _chosen(neg[0])
        # no positives: all 64 samples are negatives, 32 the best-ranked, 32 from proposals 32-299
        assert len(chosen) == 64 and chosen[:32] == list(range(32)) and all(i >= 32 for i in chosen[32:])


def test_a_small_image_with_few_negatives_gives_what_it_has():
    pos, neg = HardNegativeSampler(64, 0.25, 0.5)([torch.tensor([1, 0, 0, 1, 1])])
    assert _chosen(pos[0]) == [0, 3, 4] and _chosen(neg[0]) == [1, 2]


def test_the_region_proposals_arrive_best_first():
    # the sampler's premise: torchvision keeps proposals in the order batched_nms returns, best score first
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 20], dim=1)
    scores = torch.rand(200, generator=g)
    levels = torch.randint(0, 4, (200,), generator=g)
    keep = batched_nms(boxes, scores, levels, 0.7)
    assert len(keep) > 50 and bool(torch.all(scores[keep][:-1] >= scores[keep][1:]))


def test_the_config_puts_the_sampler_in_the_box_head_and_a_training_step_runs(tmp_path):
    from lesionviewer.training.model_setup import build_model

    cfg = TrainingConfig.from_dict({
        "data": {"num_slices": 3, "train_sizes": [64], "max_size": 64},
        "model": {"arch": "mp3d_small", "hard_negative_fraction": 0.5,
                  "options": {"width": 4, "blocks": [1, 1, 1, 1], "fpn_channels": 8, "representation_size": 16,
                              "box_batch_size_per_image": 32}}})
    model = build_model(cfg)
    sampler = model.roi_heads.fg_bg_sampler
    assert isinstance(sampler, HardNegativeSampler)
    assert (sampler.batch_size_per_image, sampler.positive_fraction, sampler.hard_fraction) == (32, 0.25, 0.5)
    model.train()
    torch.manual_seed(0)
    losses = model([torch.rand(3, 64, 64) * 255], [{"boxes": torch.tensor([[10.0, 10.0, 30.0, 30.0]]),
                                                    "labels": torch.tensor([1])}])
    assert bool(torch.isfinite(sum(losses.values())))
    plain = build_model(TrainingConfig.from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"],
                                                                               "hard_negative_fraction": 0.0}}))
    assert type(plain.roi_heads.fg_bg_sampler) is BalancedPositiveNegativeSampler


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_an_out_of_range_share_is_a_config_error_naming_the_key(value):
    with pytest.raises(ConfigError, match="model.hard_negative_fraction"):
        TrainingConfig.from_dict({"model": {"hard_negative_fraction": value}}).validate()
    with pytest.raises(ValueError, match="hard_fraction"):
        HardNegativeSampler(8, 0.25, value)
