"""Ensemble model files: two to four detectors in one safetensors file, opened by the engine as one detector."""
import json
import threading

import numpy as np
import pytest
import torch

from lesionviewer.detection.card_metrics import set_card_metric
from lesionviewer.detection.engine import Detector
from lesionviewer.detection.ensemble import ENSEMBLE_BLOCK, EnsembleDetector
from lesionviewer.detection.ensemble_file import load_ensemble, member_prefix, save_ensemble
from lesionviewer.detection.factory import build_detector
from lesionviewer.detection.model_card import ModelCard, ModelCardError
from lesionviewer.detection.model_file import ModelFileError, load_model, read_card, read_tensors, save_model
from lesionviewer.detection.model_status import demonstration_reason
from lesionviewer.io import Volume

CARD = {"slice_interval_mm": 2.5, "input_min_size": 64, "input_max_size": 64}


def tiny(seed):
    torch.manual_seed(seed)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32,
                         box_score_thresh=0.0)
    # a bias that makes the untrained box head score every proposal around 0.5, so findings exist
    with torch.no_grad():
        net.roi_heads.box_predictor.cls_score.bias.copy_(torch.tensor([0.0, 0.1 * seed]))
    return net


@pytest.fixture()
def members(tmp_path):
    paths = []
    for seed, name in ((1, "a"), (2, "b")):
        path = tmp_path / f"{name}.safetensors"
        save_model(path, tiny(seed), {"name": name, **CARD, "training_data": {"real_lesions": 3 * seed}})
        paths.append(path)
    return paths


def phantom_volume():
    rng = np.random.default_rng(0)
    hu = rng.normal(0, 30, (5, 64, 64)).astype(np.int16)
    hu[:, 20:30, 20:30] += 200
    return Volume(hu, (2.5, 1.0, 1.0))


def test_the_file_keeps_both_members_weights_and_cards_unchanged(members, tmp_path):
    out = tmp_path / "ab.safetensors"
    card = save_ensemble(out, members, "a+b", "two seeds", {"note": "test"})
    assert card.name == "a+b" and card.training_data == {"note": "test"}
    assert [c.name for c in read_card(out).member_cards] == ["a", "b"]
    stored = read_tensors(out)
    for index, path in enumerate(members):
        own = read_tensors(path)
        assert len(own) > 10
        for key, value in own.items():
            assert torch.equal(stored[member_prefix(index) + key], value)
    assert len(stored) == sum(len(read_tensors(p)) for p in members)
    loaded = load_ensemble(out)
    assert [c.training_data["real_lesions"] for _, c in loaded] == [3, 6]
    assert loaded[1][0].transform.min_size == (64,)  # each member's own card is applied


def test_the_engine_opens_it_as_the_ensemble_of_the_two_files(members, tmp_path):
    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b")
    from_file = Detector.from_file(out, device="cpu")
    assert isinstance(from_file, EnsembleDetector) and from_file.model_name == "a+b"
    by_hand = EnsembleDetector([Detector.from_file(p, device="cpu") for p in members])
    volume = phantom_volume()
    got, expected = from_file.detect(volume), by_hand.detect(volume)
    assert len(expected) > 0
    assert [(f.slice_index, f.box_px, f.score) for f in got] == [(f.slice_index, f.box_px, f.score) for f in expected]
    assert {f.model_name for f in got} == {"a+b"}


def test_a_three_member_file_runs_as_the_three_files_run_together(members, tmp_path):
    third = tmp_path / "c.safetensors"
    save_model(third, tiny(3), {"name": "c", **CARD})
    out = tmp_path / "abc.safetensors"
    save_ensemble(out, [*members, third], "a+b+c")
    from_file = Detector.from_file(out, device="cpu")
    assert [c.name for c in read_card(out).member_cards] == ["a", "b", "c"]
    assert "Three detectors read every slice" in from_file.device_description
    alone = [Detector.from_file(p, device="cpu") for p in (*members, third)]
    volume = phantom_volume()
    got = from_file.detect(volume, slices=[2])
    expected = EnsembleDetector(alone).detect(volume, slices=[2])
    assert len(got) > 0
    assert [(f.slice_index, f.box_px, f.score) for f in got] == [(f.slice_index, f.box_px, f.score) for f in expected]
    # a fused finding scores the sum of the matching members' scores over three: never above the best member's
    best_alone = max(f.score for d in alone for f in d.detect(volume, slices=[2]))
    assert max(f.score for f in got) <= best_alone + 1e-6


def test_a_single_network_loader_refuses_an_ensemble_and_the_writer_refuses_bad_members(members, tmp_path):
    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b")
    with pytest.raises(ModelFileError, match="holds an ensemble of 2 detectors"):
        load_model(out)
    with pytest.raises(ModelFileError, match=r"ab\.safetensors: this file holds an ensemble"):
        save_ensemble(tmp_path / "nested.safetensors", [out, members[0]], "nested")
    with pytest.raises(ModelFileError, match="holds 2 to 4 detectors, not 5"):
        save_ensemble(tmp_path / "five.safetensors", [*members, *members, members[0]], "five")
    with pytest.raises(ModelFileError, match="holds 2 to 4 detectors, not 1"):
        save_ensemble(tmp_path / "one.safetensors", members[:1], "one")
    with pytest.raises(ModelFileError, match="holds one detector, not an ensemble"):
        load_ensemble(members[0])
    assert not (tmp_path / "five.safetensors").exists() and not (tmp_path / "one.safetensors").exists()


def test_a_stray_or_misshapen_tensor_is_refused_naming_the_member(members, tmp_path):
    import safetensors.torch

    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b")
    metadata = {"format": "pt", "lesionviewer.model_card": json.dumps(read_card(out).to_dict())}
    tensors = read_tensors(out)
    stray = tmp_path / "stray.safetensors"
    stray.write_bytes(safetensors.torch.save({**tensors, "extra.weight": torch.zeros(2)}, metadata=metadata))
    with pytest.raises(ModelFileError, match="1 tensors belong to no ensemble member"):
        load_ensemble(stray)
    key = next(k for k in tensors if k.startswith("members.1.") and k.endswith("cls_score.bias"))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(safetensors.torch.save({**tensors, key: torch.zeros(5)}, metadata=metadata))
    with pytest.raises(ModelFileError, match=r"ensemble member 'members.1' \(b\): .*wrong shape"):
        Detector.from_file(bad, device="cpu")


def test_the_card_holds_two_to_four_plain_member_cards():
    one = ModelCard("a", "mp3d_small", 3, 2.5).to_dict()
    assert len(ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one, one]).member_cards) == 2
    assert len(ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one, one, one]).member_cards) == 3
    assert len(ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one] * 4).member_cards) == 4
    with pytest.raises(ModelCardError, match="holds 2 to 4 detectors, not 5"):
        ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one] * 5)
    with pytest.raises(ModelCardError, match="holds 2 to 4 detectors, not 1"):
        ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one])
    nested = ModelCard("n", "mp3d_small", 3, 2.5, ensemble_members=[one, one]).to_dict()
    with pytest.raises(ModelCardError, match="ensemble member 0 is itself an ensemble"):
        ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[nested, one])
    with pytest.raises(ModelCardError, match="ensemble member 1: .*lacks required fields"):
        ModelCard("e", "mp3d_small", 3, 2.5, ensemble_members=[one, {"layout_version": 3}])


def test_a_layout_2_card_reads_as_one_detector():
    old = ModelCard("a", "mp3d_small", 3, 2.5).to_dict()
    del old["ensemble_members"]
    old["layout_version"] = 2
    card = ModelCard.from_dict(old)
    assert card.layout_version == 3 and card.ensemble_members == []


def test_recording_a_metric_changes_the_ensemble_card_only(members, tmp_path):
    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b", metrics={"val": {"mean_sensitivity": 0.5}})
    before = read_tensors(out)
    set_card_metric(out, "real_ct", {"torso_findings_per_slice": 0.9})
    card = read_card(out)
    assert card.metrics == {"val": {"mean_sensitivity": 0.5}, "real_ct": {"torso_findings_per_slice": 0.9}}
    assert [c.metrics for c in card.member_cards] == [{}, {}]
    after = read_tensors(out)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_the_demonstration_banner_counts_the_member_that_saw_fewest_real_lesions(members, tmp_path):
    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b")
    assert demonstration_reason(read_card(out)) == (
        "Demonstration model: not for diagnosis (trained on 3 real annotated lesions)")
    save_ensemble(out, members, "a+b", training_data={"real_lesions": 5000})
    assert demonstration_reason(read_card(out)) is None


def recording_member(name, calls):
    class Member:
        model_name = name
        flip = False
        card = ModelCard(name, "mp3d_small", 3, 2.5, test_time_flip=(name == "a"))

        def detect(self, volume, slices=None, cancel=None, **options):
            calls.append((name, list(slices)))
            from lesionviewer.detection.finding import Finding

            return [Finding(i, (0, 0, 10, 10), 0.8, name) for i in slices]

    return Member()


def test_findings_stream_block_by_block_in_visiting_order():
    calls, reported, progress = [], [], []
    ensemble = EnsembleDetector([recording_member("a", calls), recording_member("b", calls)])
    volume = Volume(np.zeros((ENSEMBLE_BLOCK + 3, 16, 16), np.int16), (1.0, 1.0, 1.0))
    order = [5, 4, 6, *[i for i in range(volume.num_slices) if i not in (4, 5, 6)]]
    found = ensemble.detect(volume, slices=order, progress=lambda d, t: progress.append((d, t)),
                            on_findings=lambda index, findings: reported.append((index, len(findings))))
    assert calls == [("a", order[:ENSEMBLE_BLOCK]), ("b", order[:ENSEMBLE_BLOCK]),
                     ("a", order[ENSEMBLE_BLOCK:]), ("b", order[ENSEMBLE_BLOCK:])]
    assert [index for index, _ in reported] == order and {n for _, n in reported} == {1}
    assert progress == [(ENSEMBLE_BLOCK, len(order)), (len(order), len(order))]
    assert [f.slice_index for f in found] == sorted(order)


def test_cancelling_returns_only_blocks_both_members_finished():
    calls = []
    stop = threading.Event()
    a, b = recording_member("a", calls), recording_member("b", calls)
    inner = b.detect

    def b_then_stop(volume, slices=None, **options):
        found = inner(volume, slices=slices, **options)
        if len(calls) == 2:
            return found
        stop.set()  # cancelled while b reads the second block
        return found[:1]

    b.detect = b_then_stop
    volume = Volume(np.zeros((2 * ENSEMBLE_BLOCK, 16, 16), np.int16), (1.0, 1.0, 1.0))
    found = EnsembleDetector([a, b]).detect(volume, cancel=stop)
    assert sorted({f.slice_index for f in found}) == list(range(ENSEMBLE_BLOCK))


def test_turning_the_mirrored_pass_off_and_on_follows_each_members_card():
    calls = []
    ensemble = EnsembleDetector([recording_member("a", calls), recording_member("b", calls)])
    ensemble.flip = True
    assert [m.flip for m in ensemble.members] == [True, False] and ensemble.flip
    ensemble.flip = False
    assert [m.flip for m in ensemble.members] == [False, False] and not ensemble.flip


def test_the_series_goes_to_the_device_and_is_mirrored_once_for_all_members_and_blocks(members, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lesionviewer.detection import device_input, ensemble

    monkeypatch.setattr(ensemble, "ENSEMBLE_BLOCK", 2)  # three blocks of a five-slice series
    out = tmp_path / "ab.safetensors"
    save_ensemble(out, members, "a+b")
    ensemble = Detector.from_file(out, device="cpu")
    for member in ensemble.members:
        member.flip = True  # as the shipped cards ask
    rng = np.random.default_rng(1)
    hu = rng.normal(0, 30, (5, 64, 64)).astype(np.int16)
    hu[:, 20:30, 20:30] += 200
    volume = Volume(hu, (2.5, 1.0, 1.0))
    made = []
    original_init = device_input.DeviceVolume.__init__
    monkeypatch.setattr(device_input.DeviceVolume, "__init__",
                        lambda self, *a, **k: (made.append(1), original_init(self, *a, **k))[1])
    got = ensemble.detect(volume)
    assert len(made) == 2  # the series and its mirror image: not 2 per member per block of slices (12)
    # the same findings as members that each put the series on the device for every block themselves
    unprepared = [SimpleNamespace(model_name=m.model_name, device=m.device, model=m.model, detect=m.detect)
                  for m in ensemble.members]
    made.clear()
    expected = EnsembleDetector(unprepared, card=ensemble.card).detect(volume)
    assert len(made) == 12 and len(expected) > 0
    assert [(f.slice_index, f.box_px, f.score) for f in got] == [(f.slice_index, f.box_px, f.score) for f in expected]


def ensemble_cli(members, out, *options):
    """Exit code of ``lesionviewer-train ensemble`` writing ``members`` to ``out`` with ``options``."""
    from lesionviewer.training import cli

    given = [option for member in members for option in ("--model", str(member))]
    return cli.main(["ensemble", *given, "--out", str(out), "--name", out.stem, *options])


def test_an_input_size_is_set_on_every_member_and_a_size_no_card_allows_is_refused(members, tmp_path, capsys):
    out = tmp_path / "ab96.safetensors"
    assert ensemble_cli(members, out, "--input-size", "96") == 0
    card = read_card(out)
    assert card.input_min_size == 96 and [c.input_min_size for c in card.member_cards] == [96, 96]
    assert [c.input_max_size for c in card.member_cards] == [96, 96]  # grown from the members' 64
    assert [m.transform.min_size for m, _ in load_ensemble(out)] == [(96,), (96,)]
    stored, own = read_tensors(out), read_tensors(members[0])
    assert all(torch.equal(stored[member_prefix(0) + k], v) for k, v in own.items())  # weights unchanged
    huge = tmp_path / "huge.safetensors"
    assert ensemble_cli(members, huge, "--input-size", "40000") == 2
    assert "huge.safetensors: cannot write the ensemble: " in capsys.readouterr().err and not huge.exists()


def test_proposal_counts_are_set_on_every_member_for_reading_only_and_zero_is_refused(members, tmp_path, capsys):
    out = tmp_path / "ab_p50.safetensors"
    assert ensemble_cli(members, out, "--proposals", "50") == 0
    own_model, _ = load_model(members[0])
    for model, card in load_ensemble(out):
        assert model.rpn._pre_nms_top_n == {"training": own_model.rpn._pre_nms_top_n["training"], "testing": 50}
        assert model.rpn._post_nms_top_n == {"training": own_model.rpn._post_nms_top_n["training"], "testing": 50}
        assert own_model.rpn._post_nms_top_n["testing"] != 50
        assert card.architecture_options["width"] == 8 and card.architecture_options["rpn_post_nms_top_n_test"] == 50
    assert read_card(members[0]).architecture_options.get("rpn_post_nms_top_n_test") is None  # the member file as it was
    stored, own = read_tensors(out), read_tensors(members[1])
    assert all(torch.equal(stored[member_prefix(1) + k], v) for k, v in own.items())  # weights unchanged
    none = tmp_path / "none.safetensors"
    assert ensemble_cli(members, none, "--proposals", "0") == 2
    assert "none.safetensors: proposals must be at least 1, not 0" in capsys.readouterr().err and not none.exists()


def test_four_members_fit_in_one_file_and_flipping_is_set_on_every_member(members, tmp_path):
    mirrored = []
    for seed, name in ((3, "c"), (4, "d")):  # two members whose own cards ask for the mirrored reading
        mirrored.append(tmp_path / f"{name}.safetensors")
        save_model(mirrored[-1], tiny(seed), {"name": name, **CARD, "test_time_flip": True})
    four = [*members, *mirrored]
    own, flipped, once = (tmp_path / f"four_{how}.safetensors" for how in ("own", "on", "off"))
    assert ensemble_cli(four, own) == 0 and ensemble_cli(four, flipped, "--test-time-flip", "on") == 0
    assert ensemble_cli(four, once, "--test-time-flip", "off") == 0
    assert [card.test_time_flip for _, card in load_ensemble(own)] == [False, False, True, True]
    assert [card.test_time_flip for _, card in load_ensemble(flipped)] == [True] * 4
    assert [card.test_time_flip for _, card in load_ensemble(once)] == [False] * 4
    assert read_card(flipped).test_time_flip is True and read_card(once).test_time_flip is False
    assert [c.name for c in read_card(once).member_cards] == ["a", "b", "c", "d"]
    stored, weights = read_tensors(once), read_tensors(mirrored[1])
    assert all(torch.equal(stored[member_prefix(3) + k], v) for k, v in weights.items())  # the fourth member's weights
