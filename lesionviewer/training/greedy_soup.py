"""Greedy model soup: add runs to a weight average one at a time, keeping each only if validation holds.

Wortsman et al. ("Model soups", ICML 2022) rank the candidate runs by their own validation score, start
from the best, and try each next one in turn: the equal average of the runs kept so far plus the
candidate is scored, and the candidate stays if that score is at least the soup's so far. The soup
therefore never scores below its best ingredient on the split that chose it (with nothing added it
*is* that ingredient). The choice is made on the validation split only; the test split stays unseen.

:func:`choose_greedy_soup` is the rule, with the scoring passed in. :func:`greedy_soup` scores by
writing each average as a run folder under ``<out_run_dir>/steps/`` (with
:func:`~lesionviewer.training.weight_average.average_checkpoints`) and evaluating it (with
:func:`~lesionviewer.training.runner.evaluate_checkpoint`); it writes the chosen average as
``out_run_dir`` and every score and decision to ``out_run_dir/soup.json``. A stopped search started
again with the same candidates reuses the steps it already scored.

Example:
    >>> scores = {("a",): 0.60, ("b",): 0.62, ("c",): 0.55, ("b", "a"): 0.63, ("b", "a", "c"): 0.61}
    >>> soup = choose_greedy_soup(["a", "b", "c"], lambda members: scores[members])
    >>> soup.order, soup.kept, soup.score
    (('b', 'a', 'c'), ('b', 'a'), 0.63)
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from lesionviewer.training.checkpoint import load_checkpoint
from lesionviewer.training.loop import RunError, checkpoint_paths
from lesionviewer.util.atomic import atomic_open

#: The file in each step folder (and the name of the search's record in the output folder).
SCORE_FILE = "score.json"
SOUP_FILE = "soup.json"


@dataclass(frozen=True)
class SoupStep:
    """One tried addition: the ``candidate``, the ``members`` of the average scored, its ``score``, whether ``kept``.

    Example:
        >>> SoupStep("b", ("a", "b"), 0.61, True).members
        ('a', 'b')
    """

    candidate: str
    members: tuple[str, ...]
    score: float
    kept: bool


@dataclass(frozen=True)
class GreedySoup:
    """The outcome of a greedy search: each candidate's own score, the order tried, the steps, the soup.

    Example:
        >>> soup = GreedySoup({"a": 0.5, "b": 0.4}, ("a", "b"), (SoupStep("b", ("a", "b"), 0.45, False),), ("a",), 0.5)
        >>> soup.to_dict()["kept"], soup.to_dict()["steps"][0]["kept"]
        (['a'], False)
    """

    ingredient_scores: dict[str, float]
    order: tuple[str, ...]
    steps: tuple[SoupStep, ...]
    kept: tuple[str, ...]
    score: float

    def to_dict(self) -> dict:
        """A JSON-ready record of the search.

        Example:
            >>> GreedySoup({"a": 0.5}, ("a",), (), ("a",), 0.5).to_dict()["order"]
            ['a']
        """
        return {"ingredient_scores": dict(self.ingredient_scores), "order": list(self.order),
                "steps": [{**asdict(s), "members": list(s.members)} for s in self.steps],
                "kept": list(self.kept), "score": self.score}


def choose_greedy_soup(candidates: Sequence[str], score: Callable[[tuple[str, ...]], float]) -> GreedySoup:
    """Run the greedy rule over ``candidates``; ``score(members)`` scores the equal average of ``members``.

    Candidates are ranked by their own score (ties keep the given order); each next one is kept when
    the average with it scores at least the soup's so far. Raises ``ValueError`` for fewer than two
    candidates, a repeated one, or a score that is not a finite number.

    Example:
        >>> choose_greedy_soup(["a", "b"], lambda m: {("a",): 0.5, ("b",): 0.5, ("a", "b"): 0.5}[m]).kept
        ('a', 'b')
        >>> choose_greedy_soup(["a", "b"], lambda m: float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: the soup ('a',) scored nan: a greedy soup needs finite validation scores
    """
    names = list(candidates)
    if len(names) < 2:
        raise ValueError("a greedy soup needs two or more candidates")
    if len(set(names)) != len(names):
        raise ValueError(f"a candidate is given twice: {sorted(n for n in set(names) if names.count(n) > 1)}")

    def finite(members: tuple[str, ...]) -> float:
        value = float(score(members))
        if not math.isfinite(value):
            raise ValueError(f"the soup {members} scored {value}: a greedy soup needs finite validation scores")
        return value

    own = {name: finite((name,)) for name in names}
    order = tuple(sorted(names, key=lambda n: -own[n]))
    kept, best, steps = [order[0]], own[order[0]], []
    for candidate in order[1:]:
        members = (*kept, candidate)
        value = finite(members)
        steps.append(SoupStep(candidate, members, value, value >= best))
        if value >= best:
            kept.append(candidate)
            best = value
    return GreedySoup(own, order, tuple(steps), tuple(kept), best)


def greedy_soup(checkpoints: Sequence[str | Path], out_run_dir: str | Path, overrides: Sequence[str] = (),
                device: str = "auto") -> GreedySoup:
    """Choose a greedy soup of ``checkpoints`` on the validation split and write it as ``out_run_dir``.

    ``overrides`` change fields of the checkpoints' config for scoring (e.g. ``data.root=...``,
    ``eval.test_time_flip=true``), as ``lesionviewer-train evaluate --set`` does. Each scored average
    is a run folder ``<out_run_dir>/steps/soup_<i>_<j>...`` (indices into ``checkpoints``), each lone
    candidate's score is kept in ``steps/ingredient_<i>``; a folder that already holds a score for
    the same members and overrides is not scored again. Raises :class:`~lesionviewer.training.loop.RunError` when
    ``out_run_dir`` already holds a checkpoint, or a step folder of a search over other candidates.

    Example:
        >>> greedy_soup(["/nonexistent/a"], "/tmp/never")
        Traceback (most recent call last):
        ...
        ValueError: a greedy soup needs two or more candidates
    """
    from lesionviewer.training.runner import evaluate_checkpoint, resolve_checkpoint
    from lesionviewer.training.weight_average import average_checkpoints

    out = Path(out_run_dir)
    paths = checkpoint_paths(out)
    if paths["best"].exists() or paths["last"].exists():
        raise RunError(f"{out}: already holds a checkpoint; choose a new folder for the soup")
    files = [str(resolve_checkpoint(c)) for c in checkpoints]
    index = {name: i for i, name in enumerate(files)}

    def score(members: tuple[str, ...]) -> float:
        numbers = [index[m] for m in members]
        single = len(members) == 1
        folder = out / "steps" / (f"ingredient_{numbers[0]}" if single else "soup_" + "_".join(map(str, numbers)))
        recorded = folder / SCORE_FILE
        step = {"members": list(members), "overrides": list(overrides)}
        if recorded.is_file():
            saved = json.loads(recorded.read_text(encoding="utf-8"))
            if {key: saved.get(key) for key in step} != step:
                raise RunError(f"{folder}: holds a step of another search ({saved.get('members')}, "
                               f"--set {saved.get('overrides')}); give the same candidates in the same order "
                               f"and the same --set, or a new output folder")
            return float(saved["mean_sensitivity"])
        if single:
            target: str | Path = members[0]
        else:
            target = folder
            written = checkpoint_paths(folder)["best"]
            if not written.is_file():
                average_checkpoints(list(members), folder)
            elif [s["checkpoint"] for s in json.loads(load_checkpoint(written)["averaged_from"])] != list(members):
                raise RunError(f"{written}: is not the average of {list(members)}; "
                               f"give the same candidates in the same order, or a new output folder")
        metrics = evaluate_checkpoint(target, "val", folder / "eval", list(overrides), device)
        value = float(metrics["mean_sensitivity"])
        with atomic_open(recorded, "w") as handle:
            handle.write(json.dumps({**step, "mean_sensitivity": value}, indent=2))
        return value

    soup = choose_greedy_soup(files, score)
    average_checkpoints(list(soup.kept), out)
    with atomic_open(out / SOUP_FILE, "w") as handle:
        handle.write(json.dumps({"split": "val", "overrides": list(overrides), **soup.to_dict()}, indent=2))
    return soup
