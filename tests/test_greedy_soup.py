"""``lesionviewer-train soup``: the greedy rule, and the search written as run folders that resume."""
from __future__ import annotations

import json
import random

import pytest
import torch

from lesionviewer.commands.train_cli import main
from lesionviewer.training import runner
from lesionviewer.training.checkpoint import load_checkpoint
from lesionviewer.training.greedy_soup import choose_greedy_soup, greedy_soup
from lesionviewer.training.loop import RunError
from lesionviewer.training.toy_data import write_toy_deeplesion


def table_scorer(table: dict[tuple[str, ...], float], asked: list | None = None):
    def score(members):
        if asked is not None:
            asked.append(members)
        return table[members]
    return score


def test_candidates_are_tried_best_first_and_kept_only_when_validation_holds():
    table = {("a",): 0.60, ("b",): 0.62, ("c",): 0.58, ("d",): 0.40,
             ("b", "a"): 0.63,                # better: kept
             ("b", "a", "c"): 0.629,          # lower than 0.63: dropped
             ("b", "a", "d"): 0.63}           # equal: kept
    asked: list = []
    soup = choose_greedy_soup(["a", "b", "c", "d"], table_scorer(table, asked))
    assert soup.order == ("b", "a", "c", "d")
    assert soup.kept == ("b", "a", "d") and soup.score == 0.63
    assert [(s.candidate, s.kept) for s in soup.steps] == [("a", True), ("c", False), ("d", True)]
    # every candidate scored alone once, then one average per later candidate, nothing else
    assert asked[:4] == [("a",), ("b",), ("c",), ("d",)] and asked[4:] == [("b", "a"), ("b", "a", "c"), ("b", "a", "d")]


def test_ties_in_the_ingredients_keep_the_given_order():
    table = {("x",): 0.5, ("y",): 0.5, ("x", "y"): 0.4}
    soup = choose_greedy_soup(["x", "y"], table_scorer(table))
    assert soup.order == ("x", "y") and soup.kept == ("x",) and soup.score == 0.5


def test_the_soup_never_scores_below_its_best_ingredient():
    rng = random.Random(7)
    for _ in range(50):
        names = [f"r{i}" for i in range(rng.randint(2, 6))]
        cache: dict = {}
        soup = choose_greedy_soup(names, lambda m: cache.setdefault(m, rng.random()))
        best = max(soup.ingredient_scores.values())
        assert soup.score >= best
        assert soup.kept[0] == max(names, key=lambda n: (soup.ingredient_scores[n], -names.index(n)))
        assert [s.score for s in soup.steps if s.kept] == sorted(s.score for s in soup.steps if s.kept)


@pytest.mark.parametrize("names, score, message", [
    (["a"], lambda m: 0.5, "two or more"),
    (["a", "b", "a"], lambda m: 0.5, "given twice"),
    (["a", "b"], lambda m: float("inf") if m == ("a", "b") else 0.5, "finite"),
])
def test_bad_searches_are_refused(names, score, message):
    with pytest.raises(ValueError, match=message):
        choose_greedy_soup(names, score)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return write_toy_deeplesion(tmp_path_factory.mktemp("toy"), patients=8, size=64, slices=8)


def test_the_search_writes_the_chosen_average_and_its_record_and_resumes(tmp_path, toy_root, make_tiny_run,
                                                                          monkeypatch):
    runs = [make_tiny_run(tmp_path / name, seed) for name, seed in (("a", 1), ("b", 2), ("c", 3))]
    out = tmp_path / "soup"
    overrides = [f"data.root={toy_root}", "data.num_workers=0"]
    soup = greedy_soup(runs, out, overrides)

    record = json.loads((out / "soup.json").read_text())
    assert record["split"] == "val" and record["overrides"] == overrides and record["kept"] == list(soup.kept)
    files = [str(r / "checkpoints" / "best.pt") for r in runs]
    assert sorted(record["order"]) == sorted(files)
    # each score is the validation mean written by the evaluation of that step
    for i, name in enumerate(files):
        evaluated = json.loads((out / "steps" / f"ingredient_{i}" / "eval" / "val_best.json").read_text())
        assert soup.ingredient_scores[name] == pytest.approx(evaluated["mean_sensitivity"])
    for step in soup.steps:
        folder = out / "steps" / ("soup_" + "_".join(str(files.index(m)) for m in step.members))
        assert step.score == pytest.approx(json.loads((folder / "eval" / "val_best.json").read_text())["mean_sensitivity"])
    # the soup's weights are the equal mean of the kept runs
    chosen = load_checkpoint(out / "checkpoints" / "best.pt")["model"]
    kept = [load_checkpoint(m)["model"] for m in soup.kept]
    key = next(k for k, v in kept[0].items() if v.is_floating_point() and v.numel() > 8)
    torch.testing.assert_close(chosen[key], sum(k[key].double() for k in kept).float() / len(kept))

    # started again (the output's checkpoint gone, as if stopped before the end): nothing is scored twice
    (out / "checkpoints" / "best.pt").unlink()
    monkeypatch.setattr(runner, "evaluate_checkpoint", lambda *a, **k: pytest.fail("scored again"))
    again = greedy_soup(runs, out, overrides)
    assert again == soup and (out / "checkpoints" / "best.pt").is_file()

    # the same folder with the candidates in another order is another search: refused, nothing overwritten
    (out / "checkpoints" / "best.pt").unlink()
    before = (out / "steps" / "ingredient_0" / "score.json").read_bytes()
    with pytest.raises(RunError, match="another search"):
        greedy_soup(runs[::-1], out, overrides)
    assert (out / "steps" / "ingredient_0" / "score.json").read_bytes() == before
    # ... and so is the same search scored with other settings
    with pytest.raises(RunError, match="another search"):
        greedy_soup(runs, out, [*overrides, "eval.test_time_flip=true"])
    assert (out / "steps" / "ingredient_0" / "score.json").read_bytes() == before


def test_the_command_line_needs_two_candidates_and_a_new_folder(tmp_path, capsys, make_tiny_run):
    a, b = make_tiny_run(tmp_path / "a", 1), make_tiny_run(tmp_path / "b", 2)
    assert main(["soup", "--checkpoint", str(a), "--out-run-dir", str(tmp_path / "s")]) == 2
    assert "two or more --checkpoint" in capsys.readouterr().err
    assert main(["soup", "--checkpoint", str(a), "--checkpoint", str(b), "--out-run-dir", str(a)]) == 4
    assert "already holds a checkpoint" in capsys.readouterr().err
