"""``lesionviewer-train``: train, evaluate, export and pre-train LesionViewer detectors.

Subcommands (``lesionviewer-train <command> --help`` for each)::

    train     --config FILE [--set section.key=value ...] [--run-dir DIR] | --resume DIR
    evaluate  --checkpoint FILE|RUN_DIR --split val|test [--out DIR]
    export    --run-dir DIR --out model.safetensors [--name NAME]
    average   --checkpoint A --checkpoint B [--weight W ...] --out-run-dir DIR  (a weight average; model soup)
    soup      --checkpoint A --checkpoint B [...] --out-run-dir DIR [--set ...]  (a greedy soup chosen on
              the validation split; lesionviewer.training.greedy_soup)
    pretrain  --coco-json FILE --images DIR [--config FILE] [--run-dir DIR] [--set ...]
    synthesize --host CT [--host ...] --out DIR [--samples N] [--merge DIR]  (real CT + synthetic lesions;
              lesionviewer.synthesis)
    risk      phantoms|preprocess|lists|train|evaluate|export ...  (the whole-volume risk model;
              lesionviewer.risk.cli, docs/risk.md)
    evaluate-real --model M.safetensors [--deeplesion-keyslices DIR] [--lidc DIR] [--lesion-free PATH ...]
              [--organs CT LABELS] [--threshold 0.5] [--out result.json]  (a detector file on real CT;
              lesionviewer.evaluation.real_ct_cli)

Several GPUs or nodes: ``torchrun --nproc_per_node 8 -m lesionviewer.training.cli train --config ...``.
Phantom training data: make it with ``lesionviewer-phantom`` (same layout as DeepLesion).

Exit codes: 0 done (or stopped on purpose by ``train.stop_after_steps``), 2 bad arguments or config,
3 too many non-finite losses, 4 run folder problem (nothing to resume, or a run already there),
5 data or checkpoint could not be read.

``lesionviewer.training.cli`` is this module's older name (``torchrun -m lesionviewer.training.cli``
still works).

Example:
    >>> main(["train", "--resume", "/nonexistent/run"])  # the message goes to stderr
    4
"""
from __future__ import annotations

import argparse
import sys

from lesionviewer.common.exit_codes import EXIT_DATA, EXIT_NONFINITE, EXIT_OK, EXIT_RUN, EXIT_USAGE, fail
from lesionviewer.evaluation.real_ct_cli import add_evaluate_real_parser, run_evaluate_real
from lesionviewer.risk.cli import add_risk_parser, run_risk
from lesionviewer.synthesis.cli import add_synthesize_parser, run_synthesize
from lesionviewer.training.commands import HANDLERS as DETECTOR_HANDLERS
from lesionviewer.training.commands import add_detector_parsers
from lesionviewer.training.exit_mapping import run_command

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_USAGE", "EXIT_NONFINITE", "EXIT_RUN", "EXIT_DATA"]

#: Every subcommand's handler, by name.
HANDLERS = {**DETECTOR_HANDLERS, "risk": run_risk, "evaluate-real": run_evaluate_real, "synthesize": run_synthesize}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lesionviewer-train``.

    Example:
        >>> build_parser().parse_args(["export", "--run-dir", "r", "--out", "m.safetensors"]).command
        'export'
    """
    parser = argparse.ArgumentParser(
        prog="lesionviewer-train",
        description="Train, evaluate and export LesionViewer lesion detectors (MP3D FPN and its peers) on "
                    "DeepLesion-layout data (Images_png/ + DL_info.csv). Phantom data for a quick start: "
                    "make it with lesionviewer-phantom, then train resources/configs/demo_small_phantom.toml.",
        epilog="Multi-GPU / multi-node: torchrun --nproc_per_node N -m lesionviewer.training.cli train ...")
    sub = parser.add_subparsers(dest="command", required=True)

    add_detector_parsers(sub)
    add_risk_parser(sub)
    add_synthesize_parser(sub)
    add_evaluate_real_parser(sub)  # a detector file on real CT (lesionviewer.evaluation.real_ct_cli)
    return parser


def _fail(message: str, code: int) -> int:
    return fail(message, code, "lesionviewer-train")


def main(argv: list[str] | None = None) -> int:
    """Run ``lesionviewer-train``; returns the exit code (see the module docstring).

    Example:
        >>> main(["train"])
        2
    """
    args = build_parser().parse_args(argv)
    return run_command(HANDLERS[args.command], args, "lesionviewer-train")


if __name__ == "__main__":
    sys.exit(main())
