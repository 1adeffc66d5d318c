"""``lesionviewer-risk ...`` (also ``lesionviewer-train risk ...``): phantoms, preprocessing, lists, training, evaluation and export of the risk model.

Subcommands (``lesionviewer-risk <command> --help`` for each)::

    phantoms    OUT_DIR --count N [--seed S] [--config FILE | --voxel-mm MM --crop Z Y X] [--dicom]
    preprocess  IN_DIR OUT_DIR [--config FILE | --voxel-mm MM --crop Z Y X]
    lists       LABELS_CSV NPZ_DIR OUT_DIR [--val-fraction F] [--seed S] [--all NAME]
    train       --config FILE [--set section.key=value ...] [--run-dir DIR] | --resume RUN_DIR
    evaluate    --run-dir DIR | --checkpoint FILE | --model FILE.safetensors  --list FILE [--out DIR]
    export      --run-dir DIR --out FILE.safetensors [--name NAME] [--metrics NAME=eval.json ...]

Several GPUs: ``torchrun --nproc_per_node N -m lesionviewer.training.cli risk train --config ...``.
Exit codes are ``lesionviewer.common.exit_codes`` (0 done, 2 bad arguments or config, 3 non-finite
losses, 4 run folder problem, 5 data or checkpoint unreadable).

Example:
    >>> main(["train", "--resume", "/nonexistent/run"])  # the message goes to stderr
    4
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from lesionviewer.common.exit_codes import EXIT_USAGE, fail


def add_risk_parser(sub) -> argparse.ArgumentParser:
    """Add the ``risk`` command and its subcommands to ``lesionviewer-train``'s subparsers.

    Example:
        >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
        >>> _ = add_risk_parser(sub)
        >>> parser.parse_args(["risk", "lists", "l.csv", "npz", "out"]).risk_command
        'lists'
    """
    risk = sub.add_parser("risk", help="the whole-volume lung-cancer risk model (I3D / MP3D classifier)",
                          description="Phantoms, preprocessing, lists, training, evaluation and export of the "
                                      "whole-volume risk model (docs/risk.md).")
    rs = risk.add_subparsers(dest="risk_command", required=True)

    ph = rs.add_parser("phantoms", help="write labelled synthetic chest CTs (preprocessed .npz, or DICOM folders)")
    ph.add_argument("out_dir", type=Path)
    ph.add_argument("--count", type=int, required=True, help="number of cases")
    ph.add_argument("--seed", type=int, default=0, help="cohort seed (case seeds are seed*1000 + i; default 0)")
    ph.add_argument("--positive-fraction", type=float, default=0.5)
    ph.add_argument("--matrix", type=int, default=96, help="in-plane pixels of the phantom CT (default 96)")
    ph.add_argument("--dicom", action="store_true", help="write DICOM series folders (for `preprocess`) instead of .npz")
    _settings_arguments(ph)

    pre = rs.add_parser("preprocess", help="resample, find the lungs, crop: one .npz per study (resumable)")
    pre.add_argument("in_dir", type=Path, help="folder of studies (DICOM sub-folders or volume files)")
    pre.add_argument("out_dir", type=Path)
    _settings_arguments(pre)

    li = rs.add_parser("lists", help="train.list / val.list from labels.csv by a seeded patient-level split")
    li.add_argument("labels", type=Path, help="labels.csv (study,patient_id,label)")
    li.add_argument("npz_dir", type=Path)
    li.add_argument("out_dir", type=Path)
    li.add_argument("--val-fraction", type=float, default=0.2)
    li.add_argument("--seed", type=int, default=0)
    li.add_argument("--all", metavar="NAME", help="no split: write every study to NAME.list (a held-out test set)")

    tr = rs.add_parser("train", help="train from a TOML config (resources/configs/risk_*.toml), or resume a run")
    tr.add_argument("--config", type=Path)
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    tr.add_argument("--run-dir", type=Path, help="run folder (default runs/<config name>)")
    tr.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR exactly from its last checkpoint")

    ev = rs.add_parser("evaluate", help="AUC (bootstrap CI), sensitivity/specificity and a ROC PNG on a list")
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--run-dir", type=Path, help="a run folder (its best checkpoint)")
    what.add_argument("--checkpoint", type=Path, help="a .pt checkpoint")
    what.add_argument("--model", type=Path, help="a risk model file (.safetensors)")
    ev.add_argument("--list", type=Path, required=True, help="the .list file to score")
    ev.add_argument("--out", type=Path, help="output folder (default: the run's eval/)")
    ev.add_argument("--name", help="output file name stem (default: the list's name)")
    ev.add_argument("--min-sensitivity", type=float, default=0.9, help="operating point (0 = Youden's J)")
    ev.add_argument("--device", default="auto")

    ex = rs.add_parser("export", help="write the viewer's risk model file (safetensors + risk card)")
    ex.add_argument("--run-dir", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--name", help="model name in the card (default: the config name)")
    ex.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ex.add_argument("--label-rule", help="what a positive meant in the training data (default: the phantom rule "
                                          "for phantom data)")
    ex.add_argument("--data-description", help="what the training data was")
    ex.add_argument("--metrics", action="append", default=[], metavar="NAME=EVAL.json",
                    help="add an evaluation's metrics to the card under NAME (repeatable)")
    ex.add_argument("--phantom-check", type=int, nargs=3, metavar=("SEED", "COUNT", "FIRST"),
                    help="score the FIRST cases of phantom cohort (SEED, COUNT) through the viewer's path and "
                         "record them in the card (the demo model's reproducibility test repeats this)")
    ex.add_argument("--matrix", type=int, default=64, help="phantom matrix for --phantom-check (default 64)")
    return risk


def _settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="take voxel size and crop from a risk config")
    parser.add_argument("--voxel-mm", type=float, help="isotropic voxel size (default 1.5)")
    parser.add_argument("--crop", type=int, nargs=3, metavar=("Z", "Y", "X"), help="crop size in voxels")
    parser.add_argument("--mask-outside-lungs", action="store_true", help="set everything outside the lungs to air")


def _settings(args):
    from lesionviewer.risk.preprocess import PreprocessSettings

    if args.config is not None:
        from lesionviewer.risk.config import load_risk_config

        base = load_risk_config(args.config).preprocess_settings()
    else:
        base = PreprocessSettings()
    changes = {"voxel_mm": args.voxel_mm or base.voxel_mm, "crop_shape": tuple(args.crop or base.crop_shape)}
    if args.mask_outside_lungs:
        changes["mask_outside_lungs"] = True
    return dataclasses.replace(base, **changes)


def _phantoms(args) -> int:
    from lesionviewer.risk.phantom_cohort import write_phantom_cohort

    settings = None if args.dicom else _settings(args)
    labels = write_phantom_cohort(args.out_dir, args.count, args.seed, args.positive_fraction, settings=settings,
                                  matrix=args.matrix, dicom=args.dicom, progress_bar=True)
    print(f"wrote {args.count} cases and {labels}")
    return 0


def _preprocess(args) -> int:
    from lesionviewer.risk.preprocess_folder import preprocess_folder

    result = preprocess_folder(args.in_dir, args.out_dir, _settings(args))
    print(result.summary())
    for study, reason in result.failed.items():
        print(f"  skipped {study}: {reason}")
    return 0


def _lists(args) -> int:
    from lesionviewer.risk.lists import make_lists, write_list
    from lesionviewer.risk.phantom_cohort import read_labels

    if args.all:
        rows = [r for r in read_labels(args.labels) if (args.npz_dir / f"{r['study']}.npz").is_file()]
        if not rows:
            raise ValueError(f"{args.npz_dir}: none of the studies in {args.labels} has a preprocessed .npz")
        path = write_list(args.out_dir / f"{args.all}.list", rows, args.npz_dir)
        print(f"{path}: {len(rows)} studies, {sum(r['label'] for r in rows)} positive")
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for path in make_lists(args.labels, args.npz_dir, args.out_dir, args.val_fraction, args.seed):
        from lesionviewer.risk.lists import read_list

        pairs = read_list(path)
        print(f"{path}: {len(pairs)} studies, {sum(y for _, y in pairs)} positive")
    return 0


def _train(args) -> int:
    from lesionviewer.risk.config import apply_overrides, load_risk_config, risk_config_from_json
    from lesionviewer.risk.trainer import train_risk
    from lesionviewer.training.loop import RunError, checkpoint_paths

    if args.resume is not None:
        if args.config is not None or args.run_dir is not None:
            raise _UsageError("--resume takes the config and run folder of the run it continues; "
                              "leave out --config and --run-dir (use --set to change a field)")
        config_path = checkpoint_paths(args.resume)["config"]
        if not config_path.is_file() or not checkpoint_paths(args.resume)["last"].is_file():
            raise RunError(f"cannot resume {args.resume}: it holds no training run "
                           f"(expected config.json and checkpoints/last.pt)")
        cfg = apply_overrides(risk_config_from_json(config_path.read_text(encoding="utf-8"), str(config_path)),
                              args.overrides)
        run_dir, resume = args.resume, True
    else:
        if args.config is None:
            raise _UsageError("risk train needs --config FILE (or --resume RUN_DIR)")
        cfg = load_risk_config(args.config, args.overrides)
        run_dir, resume = args.run_dir or Path("runs") / cfg.name, False
    summary = train_risk(cfg, run_dir, resume=resume)
    print(json.dumps({k: v for k, v in summary.items() if k != "training_data"}, indent=2, default=str))
    return 0


def _evaluate(args) -> int:
    from lesionviewer.risk.evaluate_run import evaluate_risk

    source = args.run_dir or args.checkpoint or args.model
    metrics = evaluate_risk(source, args.list, args.out, args.name, args.device,
                            min_sensitivity=args.min_sensitivity, progress=True)
    print(json.dumps(metrics, indent=2))
    return 0


def _export(args) -> int:
    from lesionviewer.risk.export import export_risk_run

    extra = {}
    for item in args.metrics:
        name, _, path = item.partition("=")
        if not name or not path:
            raise _UsageError(f"--metrics {item!r}: expected NAME=EVAL.json")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        extra[name] = data
    card = export_risk_run(args.run_dir, args.out, args.name, args.checkpoint, args.label_rule,
                           args.data_description, extra)
    if args.phantom_check:
        from lesionviewer.risk.export import phantom_check

        seed, count, first = args.phantom_check
        check = phantom_check(args.out, seed, count, first, matrix=args.matrix)
        print(f"phantom check: {len(check['labels'])} cases, AUC {check['auc']}")
    val = card["metrics"].get("val", {})
    print(f"wrote {args.out} ({card['backbone']}, {card['preprocessing']['voxel_mm']} mm voxels, "
          f"crop {card['preprocessing']['crop_shape']}, best val AUC {val.get('auc')})")
    return 0


class _UsageError(ValueError):
    """Bad combination of arguments (exit code 2)."""


HANDLERS = {"phantoms": _phantoms, "preprocess": _preprocess, "lists": _lists, "train": _train,
            "evaluate": _evaluate, "export": _export}


def run_risk(args) -> int:
    """Run the parsed ``risk`` subcommand; usage problems exit 2, the rest is mapped by ``lesionviewer-train``.

    Example:
        >>> run_risk(argparse.Namespace(risk_command="train", config=None, resume=None, overrides=[], run_dir=None))
        2
    """
    try:
        return HANDLERS[args.risk_command](args)
    except _UsageError as exc:
        return fail(str(exc), EXIT_USAGE)


def build_risk_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lesionviewer-risk`` (the ``risk`` command of ``lesionviewer-train`` on its own).

    Example:
        >>> build_risk_parser().parse_args(["lists", "l.csv", "npz", "out"]).risk_command
        'lists'
    """
    parser = argparse.ArgumentParser(prog="lesionviewer-risk", add_help=False)
    sub = parser.add_subparsers(dest="command")
    risk = add_risk_parser(sub)
    risk.prog = "lesionviewer-risk"
    return risk


def main(argv: list[str] | None = None) -> int:
    """Run ``lesionviewer-risk``; returns the exit code (see the module docstring).

    Example:
        >>> main(["train"])  # neither --config nor --resume: the message goes to stderr
        2
    """
    from lesionviewer.training.exit_mapping import run_command

    args = build_risk_parser().parse_args(argv)
    return run_command(run_risk, args, "lesionviewer-risk")


if __name__ == "__main__":
    sys.exit(main())
