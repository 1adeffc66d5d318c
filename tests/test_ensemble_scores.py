"""`lesionviewer-train ensemble-scores`: ensembles scored from stored evaluate records, no network run."""
from __future__ import annotations

import json

import numpy as np
import pytest

from test_training_run import tiny_config_file

from lesionviewer.training import cli
from lesionviewer.training.config import load_config
from lesionviewer.training.ensemble_scores import StoredDetectionsError, bootstrap_gap, fuse_stored, score_combinations
from lesionviewer.training.splits import build_split_datasets
from lesionviewer.training.toy_data import write_toy_deeplesion


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A toy data set's validation split, its config, and a record whose boxes are the truth plus misses."""
    work = tmp_path_factory.mktemp("ensemble_scores")
    config = tiny_config_file(work, write_toy_deeplesion(work / "toy", patients=8, size=64, slices=6))
    cfg = load_config(config)
    dataset = build_split_datasets(cfg, splits=("val",))["val"]
    ids = [k.image_id for k in dataset.key_slices]
    truth = [np.asarray(target["boxes"], np.float32).reshape(-1, 4) for _, target in
             (dataset[i] for i in range(len(ids)))]
    return work, config, cfg, dataset, ids, truth


def write_record(path, ids, boxes_per_image, scores_per_image):
    rows = [{"image": i, "boxes": np.asarray(b).reshape(-1, 4).tolist(), "scores": list(s)}
            for i, b, s in zip(ids, boxes_per_image, scores_per_image)]
    path.write_text(json.dumps({"detections": rows}))
    return path


def test_a_record_joined_with_itself_scores_as_itself_and_a_blind_third_does_not_outrank_it(split, tmp_path):
    work, config, cfg, dataset, ids, truth = split
    assert len(ids) >= 2 and all(len(t) for t in truth)
    hits = write_record(tmp_path / "hits.json", ids, truth, [[0.9] * len(t) for t in truth])
    far = [np.array([[40.0, 40.0, 44.0, 44.0]])] * len(ids)  # nowhere near a toy lesion
    blind = write_record(tmp_path / "blind.json", ids, far, [[0.95]] * len(ids))
    results = score_combinations([hits, hits, blind], dataset, cfg)
    by_records = {tuple(r["records"]): r for r in results}
    assert len(results) == 7  # three singles, three pairs, one triple
    alone = by_records[(str(hits),)]["sensitivity"]
    assert alone["0.5"] == 1.0 and by_records[(str(blind),)]["sensitivity"]["16"] == 0.0
    assert by_records[(str(hits), str(hits))]["sensitivity"] == alone
    # with the blind record the true boxes still rank first in every image (0.9 x 2/3 against 0.95 / 3)
    assert by_records[(str(hits), str(hits), str(blind))]["sensitivity"]["0.5"] == 1.0


def test_fusing_stored_rows_follows_the_ensemble_rule():
    a = np.array([[0, 0, 10, 10, 0.9]], np.float32)
    b = np.array([[0, 0, 10, 10, 0.6], [30, 30, 40, 40, 0.6]], np.float32)
    fused = fuse_stored([a, b])
    assert fused[:, 4].tolist() == pytest.approx([0.75, 0.3])
    assert np.array_equal(fuse_stored([a]), a)


def test_records_of_other_images_and_missing_files_are_refused_naming_the_file(split, tmp_path, capsys):
    work, config, cfg, dataset, ids, truth = split
    good = write_record(tmp_path / "good.json", ids, truth, [[0.5] * len(t) for t in truth])
    short = write_record(tmp_path / "short.json", ids[:-1], truth[:-1], [[0.5] * len(t) for t in truth[:-1]])
    with pytest.raises(StoredDetectionsError, match=r"short\.json: its images differ"):
        score_combinations([good, short], dataset, cfg)
    assert cli.main(["ensemble-scores", "--detections", str(good), "--detections", str(tmp_path / "none.json"),
                     "--config", config]) == 2
    assert "none.json: no such file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["ensemble-scores", "--detections", str(tmp_path / "bad.json"), "--config", config]) == 2
    assert "bad.json: not an evaluate record" in capsys.readouterr().err


def test_the_command_prints_one_row_per_combination(split, tmp_path, capsys):
    work, config, cfg, dataset, ids, truth = split
    a = write_record(tmp_path / "a.json", ids, truth, [[0.9] * len(t) for t in truth])
    b = write_record(tmp_path / "b.json", ids, truth, [[0.4] * len(t) for t in truth])
    assert cli.main(["ensemble-scores", "--detections", str(a), "--detections", str(b), "--config", config]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows[1:]] == [f"| {a}", f"| {b}", f"| {a} + {b}"]
    assert rows[1].split(" | ")[1] == "1.0000"


def test_the_bootstrap_compares_two_chosen_ensembles_and_refuses_bad_choices(split, tmp_path, capsys):
    work, config, cfg, dataset, ids, truth = split
    hits = write_record(tmp_path / "hits.json", ids, truth, [[0.9] * len(t) for t in truth])
    far = [np.array([[40.0, 40.0, 44.0, 44.0]])] * len(ids)
    blind = write_record(tmp_path / "blind.json", ids, far, [[0.95]] * len(ids))
    gap = bootstrap_gap([hits, blind], (1,), (0,), dataset, cfg, resamples=50)
    # the record that finds every lesion against the blind one: the whole sensitivity, on every draw
    assert gap["difference"] == pytest.approx(1.0) and gap["low"] == pytest.approx(1.0)
    assert gap["share_not_better"] == 0.0 and gap["challenger"] == [str(hits)]
    args = ["ensemble-scores", "--detections", str(hits), "--detections", str(blind), "--config", config]
    assert cli.main(args + ["--bootstrap", "40", "--baseline", "2", "--challenger", "1+2"]) == 0
    assert "challenger not better in 0.0% of draws" in capsys.readouterr().out
    assert cli.main(args + ["--bootstrap", "40", "--baseline", "3", "--challenger", "1"]) == 2
    assert "there are 2 records, numbered 1 to 2" in capsys.readouterr().err
    assert cli.main(args + ["--bootstrap", "40", "--baseline", "1"]) == 2
    assert cli.main(args + ["--challenger", "1"]) == 2
