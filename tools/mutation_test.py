"""Mutation testing of the core modules, one module at a time, with mutmut (slow: not part of CI).

For each module this makes a scratch copy of the project (``--work``, default
``/tmp/lesionviewer-mutation/<module>``), writes the project's ``[tool.mutmut]`` settings there with
``only_mutate`` set to that module and the tests that exercise it (its own doctests included) as
the test selection, runs ``mutmut run``, and prints the counts and the score,
``(killed + timeout) / (total - skipped)``. The diff of every surviving mutant goes to
``<work>/survivors.txt``, and one JSON line per module is appended to ``--record``.

    pip install "mutmut>=3.8,<4"
    nice -n 19 python tools/mutation_test.py                      # every module, smallest first
    nice -n 19 python tools/mutation_test.py lesionviewer/util/atomic.py --max-children 2
    nice -n 19 python tools/mutation_test.py lesionviewer/util/atomic.py --again   # survivors only, new tests

``--again`` re-runs only the mutants that survived the last run in the scratch folder, against the
tests as they are now (the killed ones stay killed: tests were only added). It needs the same test
files as that run (mutmut starts over when the selection changes, so put new tests in a listed file)
and the same module source (a changed module needs a full run).

The scores and every survivor's explanation are in docs/testing.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Core modules and the test files that exercise them, smallest module first (the order they run in).
MODULES: dict[str, list[str]] = {
    "lesionviewer/util/csv_safety.py": ["tests/test_review_properties.py", "tests/test_review_csv.py"],
    "lesionviewer/evaluation/boxes.py": ["tests/test_evaluation_boxes.py", "tests/test_evaluation_froc.py",
                                         "tests/test_evaluation_map.py"],
    "lesionviewer/evaluation/map.py": ["tests/test_evaluation_map.py"],
    "lesionviewer/review/review_json.py": ["tests/test_review_json.py", "tests/test_review_autosave.py",
                                           "tests/test_review_hostile_values.py"],
    "lesionviewer/detection/finding.py": ["tests/test_review_session.py", "tests/test_review_csv.py",
                                          "tests/test_review_sr.py", "tests/test_volume.py"],
    "lesionviewer/imaging/windowing.py": ["tests/test_imaging_windowing.py"],
    "lesionviewer/util/atomic.py": ["tests/test_atomic.py"],
    "lesionviewer/imaging/resampling.py": ["tests/test_imaging_resampling.py"],
    "lesionviewer/io/dicom_pixels.py": ["tests/test_io_dicom.py", "tests/test_io_bad_input.py",
                                        "tests/test_io_hostile_inputs.py"],
    "lesionviewer/review/review_file.py": ["tests/test_review_autosave.py", "tests/test_review_hostile_values.py",
                                           "tests/test_review_file.py"],
    "lesionviewer/imaging/context.py": ["tests/test_imaging_context.py"],
    "lesionviewer/evaluation/froc.py": ["tests/test_evaluation_froc.py", "tests/test_evaluation_breakdown.py"],
    "lesionviewer/io/slice_stack.py": ["tests/test_io_dicom.py", "tests/test_io_uneven_series.py",
                                       "tests/test_io_slice_stack.py"],
    "lesionviewer/io/dicom_series.py": ["tests/test_io_dicom.py", "tests/test_io_uneven_series.py",
                                        "tests/test_io_formats.py", "tests/test_io_dicom_series.py"],
    "lesionviewer/detection/model_file.py": ["tests/test_detection_model_file.py", "tests/test_detection_card_sizes.py"],
    "lesionviewer/review/session.py": ["tests/test_review_session.py", "tests/test_review_autosave.py",
                                       "tests/test_review_properties.py", "tests/test_review_session_rules.py"],
}

#: Copied into the scratch folder: what the tests import or read.
COPY = ["lesionviewer", "app", "tests", "tools", "resources", "conftest.py", "setup.py", "pyproject.toml"]


def score(stats: dict) -> float | None:
    """``(killed + timeout) / (total - skipped)``, as ``mutmut badge`` computes it; None when nothing ran.

    Example:
        >>> score({"killed": 45, "timeout": 0, "total": 50, "skipped": 0})
        0.9
        >>> score({"killed": 0, "timeout": 0, "total": 3, "skipped": 3}) is None
        True
    """
    tested = int(stats.get("total", 0)) - int(stats.get("skipped", 0))
    return None if tested <= 0 else (int(stats.get("killed", 0)) + int(stats.get("timeout", 0))) / tested


def mutmut_settings(module: str, tests: list[str], base: dict) -> str:
    """The ``[tool.mutmut]`` table for one module: the project's settings with ``only_mutate`` and the test
    selection (the module's own doctests first) set.

    Example:
        >>> text = mutmut_settings("lesionviewer/util/atomic.py", ["tests/test_atomic.py"], {"debug": False})
        >>> print(text)
        [tool.mutmut]
        debug = false
        only_mutate = ["lesionviewer/util/atomic.py"]
        pytest_add_cli_args_test_selection = ["lesionviewer/util/atomic.py", "tests/test_atomic.py"]
        <BLANKLINE>
    """
    table = {**base, "only_mutate": [module], "pytest_add_cli_args_test_selection": [module, *tests]}
    lines = ["[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _scratch_copy(work: Path, module: str, tests: list[str]) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.is_file():
            shutil.copy2(source, work / name)
    shared = ROOT.parent / "shared"
    if shared.is_dir():  # tests find the real CT at <project>/../shared/data, here <work>/shared
        (work / "shared").symlink_to(shared)
    pyproject = (work / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(pyproject).get("tool", {}).get("mutmut", {})
    head, _, rest = pyproject.partition("[tool.mutmut]")
    tail = rest[rest.find("\n["):] if "\n[" in rest else ""
    (work / "pyproject.toml").write_text(head + mutmut_settings(module, tests, base) + tail, encoding="utf-8")


def run_module(module: str, tests: list[str], work: Path, max_children: int, again: bool = False) -> dict:
    """Run mutmut on ``module`` in the scratch folder ``work``; returns the counts, score and seconds.

    With ``again``, only the survivors of the last run in ``work`` are run, with the current tests."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    names: list[str] = []
    if again:
        if not (work / "mutants").is_dir():
            raise SystemExit(f"--again: no earlier run in {work}")
        names = _survivors(work, env)
        shutil.copytree(ROOT / "tests", work / "tests", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # mutmut copies them on
    else:
        _scratch_copy(work, module, tests)
    start = time.monotonic()
    with open(work / "mutmut.log", "a" if again else "w", encoding="utf-8") as log:
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *names],
                             cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, env=env, stdout=log,
                       stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.is_file() else {}
    survivors = _survivors(work, env)
    with open(work / "survivors.txt", "w", encoding="utf-8") as out:
        for name in survivors:
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env,
                                   capture_output=True, text=True)
            out.write(f"=== {name}\n{shown.stdout}\n")
    return {"module": module, "tests": tests, "exit_code": run.returncode, **stats,
            "score": score(stats), "survivors": survivors, "seconds": round(seconds)}


def _survivors(work: Path, env: dict) -> list[str]:
    listed = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work, env=env,
                            capture_output=True, text=True).stdout
    names = []
    for line in listed.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status in ("survived", "no tests"):
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module paths (default: every core module, smallest first)")
    parser.add_argument("--work", default="/tmp/lesionviewer-mutation", help="scratch folder (one sub-folder per module)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default 2)")
    parser.add_argument("--record", default=None, help="append one JSON line per module to this file")
    parser.add_argument("--again", action="store_true",
                        help="re-run only the last run's survivors in the scratch folder, with the current tests")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not a core module: {', '.join(unknown)} (known: {', '.join(MODULES)})")
    for module in args.modules or list(MODULES):
        work = Path(args.work) / module.replace("/", "_").removesuffix(".py")
        result = run_module(module, MODULES[module], work, args.max_children, args.again)
        shown = "n/a" if result["score"] is None else f"{100 * result['score']:.1f} %"
        print(f"{module}: {shown}  killed {result.get('killed', 0)}, survived {result.get('survived', 0)}, "
              f"no tests {result.get('no_tests', 0)}, timeout {result.get('timeout', 0)}, "
              f"total {result.get('total', 0)}  ({result['seconds']} s; survivors in {work / 'survivors.txt'})",
              flush=True)
        if args.record:
            with open(args.record, "a", encoding="utf-8") as record:
                record.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
