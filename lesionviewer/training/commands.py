"""The detector's ``lesionviewer-train`` subcommands: train, evaluate, export, average, soup and pretrain.

``lesionviewer.commands.train_cli`` puts them beside the risk model's and the other data tools'
subcommands; this module only adds their arguments and runs them.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
    >>> add_detector_parsers(sub)
    >>> parser.parse_args(["export", "--run-dir", "r", "--out", "m.safetensors"]).checkpoint
    'best'
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lesionviewer.common.exit_codes import EXIT_OK, EXIT_USAGE, fail


def add_detector_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate``, ``export``, ``ensemble``, ``ensemble-scores``, ``average``, ``soup`` and ``pretrain`` to a ``lesionviewer-train`` parser's subparsers.

    Example:
        >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
        >>> add_detector_parsers(sub)
        >>> parser.parse_args(["evaluate", "--checkpoint", "run"]).split
        'test'
    """
    train = sub.add_parser("train", help="train a detector from a TOML config (or resume a run)")
    train.add_argument("--config", type=Path, help="TOML config (see resources/configs/)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field, e.g. --set optim.lr=0.01 (repeatable)")
    train.add_argument("--run-dir", type=Path, help="run folder (default runs/<config name>)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR exactly where its last checkpoint left it")

    ev = sub.add_parser("evaluate", help="FROC + mAP of a checkpoint or a model file on a split (JSON + FROC PNG)")
    what = ev.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="a .pt checkpoint or a run folder (its best)")
    what.add_argument("--model", type=Path, help="a model file (.safetensors; one detector or an ensemble), read "
                                                 "as the viewer reads it (its card's input size and flipping); "
                                                 "needs --config for the data")
    ev.add_argument("--config", type=Path, help="with --model: the TOML config whose data and scoring to use")
    ev.add_argument("--split", choices=("val", "test"), default="test")
    ev.add_argument("--out", type=Path, help="output folder (default: the run's eval/; with --model required)")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field of the checkpoint's config, e.g. --set data.root=/data/DeepLesion")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--record-in-card", type=Path, metavar="MODEL",
                    help="write the scores into MODEL's card as metrics.<split> (the engine's settings, e.g. "
                         "test_time_flip, should match the ones evaluated)")

    ex = sub.add_parser("export", help="write the viewer's model file (safetensors + model card)")
    ex.add_argument("--run-dir", type=Path, required=True)
    ex.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    ex.add_argument("--name", help="model name in the card (default: the config name)")
    ex.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ex.add_argument("--description", help="the card's description (default: the config's)")
    ex.add_argument("--data", dest="data_notes", action="append", default=[], metavar="KEY=VALUE",
                    help="add a note to the card's training_data, e.g. --data generator=\"lesionviewer-phantom ...\"")
    ex.add_argument("--test-time-flip", action="store_true", default=None,
                    help="the card tells the engine to read each slice mirrored too and fuse the two passes "
                         "(default: the run's eval.test_time_flip); measure it first with "
                         "evaluate --set eval.test_time_flip=true")
    ex.add_argument("--input-size", type=int, metavar="PX",
                    help="the card tells the engine to resize each slice's shorter side to PX (default: the run's "
                         "data.test_size); measure it first with evaluate --set data.test_size=PX "
                         "--set data.max_size=PX")

    ens = sub.add_parser("ensemble", help="write two to four model files as one ensemble model file (all run, their "
                                          "findings fused per slice)")
    ens.add_argument("--model", dest="models", type=Path, action="append", required=True,
                     help="a model file (.safetensors) holding one detector; give it two to four times")
    ens.add_argument("--out", type=Path, required=True, help="the ensemble .safetensors file to write")
    ens.add_argument("--name", required=True, help="the ensemble's model name in its card")
    ens.add_argument("--description", default="", help="the card's description")
    ens.add_argument("--data", dest="data_notes", action="append", default=[], metavar="KEY=VALUE",
                     help="a note for the card's training_data (the members' own cards are kept whole)")
    ens.add_argument("--input-size", type=int, metavar="PX",
                     help="every member resizes each slice's shorter side to PX (default: each member's own card; "
                          "as export --input-size)")
    ens.add_argument("--proposals", type=int, metavar="N",
                     help="every member keeps N region proposals per pyramid level before the RPN's NMS and N after "
                          "it when reading (default: each member's own card; MP3D reads with 1000)")
    ens.add_argument("--test-time-flip", choices=("on", "off"),
                     help="every member also reads each slice mirrored and fuses the two readings (on) or reads it "
                          "once (off: half the time) (default: each member's own card)")

    es = sub.add_parser("ensemble-scores", help="score every ensemble of one to four detectors from their stored "
                                                "evaluate records (no network runs)")
    es.add_argument("--detections", type=Path, action="append", required=True, metavar="JSON",
                    help="an evaluate record with per-image detections (e.g. val_<model>.json, a member's "
                         "val_<ensemble>_member0.json, a run's eval/val_epoch_007.json); repeat for each detector")
    es.add_argument("--config", type=Path, required=True, help="the TOML config whose data and scoring to use")
    es.add_argument("--split", choices=("val", "test"), default="val")
    es.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    es.add_argument("--bootstrap", type=int, metavar="N",
                    help="instead of the table: the gap between --challenger and --baseline in mean sensitivity, with "
                         "a 95%% interval from N draws of the images with replacement (a paired bootstrap)")
    es.add_argument("--baseline", metavar="I+J", help="with --bootstrap: records by their places, 1-based (e.g. 1+2)")
    es.add_argument("--challenger", metavar="I+J+K", help="with --bootstrap: records by their places, 1-based")
    es.add_argument("--seed", type=int, default=0, help="with --bootstrap: the draws' seed (default 0)")

    avg = sub.add_parser("average", help="average the weights of runs of one network into a new run folder "
                                         "(model soup; then evaluate and export it like a run)")
    avg.add_argument("--checkpoint", dest="checkpoints", type=Path, action="append", required=True,
                     help="a .pt checkpoint or a run folder (its best); give two or more")
    avg.add_argument("--weight", dest="weights", type=float, action="append",
                     help="each checkpoint's relative weight, in the same order (default: equal)")
    avg.add_argument("--out-run-dir", type=Path, required=True, help="a new run folder for the average")

    soup = sub.add_parser("soup", help="greedy model soup: rank runs by validation, add each to the weight average "
                                       "only if validation holds, write the chosen average as a run folder")
    soup.add_argument("--checkpoint", dest="checkpoints", type=Path, action="append", required=True,
                      help="a candidate .pt checkpoint or run folder (its best); give two or more")
    soup.add_argument("--out-run-dir", type=Path, required=True,
                      help="a new run folder for the soup (its steps/ keep every scored average; soup.json the record)")
    soup.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override a config field for scoring, e.g. --set eval.test_time_flip=true")
    soup.add_argument("--device", default="auto")

    pre = sub.add_parser("pretrain", help="supervised 3D pre-training on a COCO-format detection dataset "
                                          "(RGB -> 3 slices, multi-class)")
    pre.add_argument("--coco-json", type=Path, required=True, help="COCO instances JSON")
    pre.add_argument("--images", type=Path, required=True, help="folder of the images the JSON names")
    pre.add_argument("--config", type=Path, help="TOML config (default resources/configs/coco_pretrain_mp3d63.toml)")
    pre.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    pre.add_argument("--run-dir", type=Path, help="run folder (default runs/<config name>)")
    pre.add_argument("--resume", type=Path, metavar="RUN_DIR")


def _train(args) -> int:
    from lesionviewer.training.config import apply_overrides, load_config
    from lesionviewer.training.loop import load_run_config
    from lesionviewer.training.runner import train

    if args.resume is not None:
        if args.config is not None or args.run_dir is not None:
            return fail("--resume takes the config and run folder of the run it continues; "
                         "leave out --config and --run-dir (use --set to change a field)", EXIT_USAGE)
        cfg = apply_overrides(load_run_config(args.resume), args.overrides)
        run_dir, resume = args.resume, True
    else:
        if args.config is None:
            return fail("train needs --config FILE (or --resume RUN_DIR)", EXIT_USAGE)
        cfg = load_config(args.config, args.overrides)
        run_dir, resume = args.run_dir or Path("runs") / cfg.name, False
    summary = train(cfg, run_dir, resume=resume)
    _print_summary(summary)
    return EXIT_OK


def _print_summary(summary: dict) -> None:
    keep = {k: v for k, v in summary.items() if k not in ("training_data",)}
    print(json.dumps(keep, indent=2))


def _evaluate(args) -> int:
    from lesionviewer.training.runner import evaluate_checkpoint

    if args.model is not None:
        metrics = _evaluate_model_file(args)
        if isinstance(metrics, int):
            return metrics
    else:
        if args.config is not None:
            return fail("--config goes with --model (a checkpoint carries its own config; use --set to change it)",
                        EXIT_USAGE)
        metrics = evaluate_checkpoint(args.checkpoint, args.split, args.out, args.overrides, args.device)
    if args.record_in_card is not None:
        from lesionviewer.training.export import record_split_in_card

        record_split_in_card(args.record_in_card, args.split, metrics)
        print(f"recorded metrics.{args.split} in {args.record_in_card}")
    print(json.dumps({k: v for k, v in metrics.items() if not k.startswith("curve")}, indent=2))
    return EXIT_OK


def _evaluate_model_file(args) -> dict | int:
    from lesionviewer.detection.model_file import ModelFileError
    from lesionviewer.training.config import load_config
    from lesionviewer.training.evaluate_model_file import ModelConfigMismatch, evaluate_model_file

    if args.config is None or args.out is None:
        return fail("evaluate --model needs --config FILE (the data and scoring) and --out FOLDER", EXIT_USAGE)
    cfg = load_config(args.config, args.overrides)
    try:
        return evaluate_model_file(args.model, cfg, args.split, args.out, args.device, progress=True)
    except (ModelFileError, ModelConfigMismatch) as err:
        return fail(str(err), EXIT_USAGE)


def _export(args) -> int:
    from lesionviewer.training.export import export_run

    notes = _data_notes(args.data_notes, "export")
    if notes is None:
        return EXIT_USAGE
    card = export_run(args.run_dir, args.out, name=args.name, which=args.checkpoint,
                      description=args.description, data_notes=notes, test_time_flip=args.test_time_flip,
                      input_size=args.input_size)
    print(f"wrote {args.out} ({card.architecture}, {card.num_slices} slices at {card.slice_interval_mm} mm)")
    return EXIT_OK


def _data_notes(items: list[str], command: str) -> dict[str, str] | None:
    notes = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"lesionviewer-train {command}: --data {item!r}: expected KEY=VALUE", file=sys.stderr)
            return None
        notes[key.strip()] = value
    return notes


def _ensemble(args) -> int:
    from lesionviewer.detection.ensemble_file import save_ensemble
    from lesionviewer.detection.model_card import ENSEMBLE_SIZES
    from lesionviewer.detection.model_file import ModelFileError

    if len(args.models) not in ENSEMBLE_SIZES:
        return fail(f"ensemble takes two to four --model, not {len(args.models)}", EXIT_USAGE)
    notes = _data_notes(args.data_notes, "ensemble")
    if notes is None:
        return EXIT_USAGE
    try:
        card = save_ensemble(args.out, args.models, args.name, args.description, notes, input_size=args.input_size,
                             proposals=args.proposals,
                             test_time_flip=None if args.test_time_flip is None else args.test_time_flip == "on")
    except ModelFileError as err:
        return fail(str(err), EXIT_USAGE)
    print(f"wrote {args.out} (an ensemble of {' and '.join(c.name for c in card.member_cards)})")
    return EXIT_OK


def _ensemble_scores(args) -> int:
    from lesionviewer.training.config import load_config
    from lesionviewer.training.ensemble_scores import StoredDetectionsError, score_combinations
    from lesionviewer.training.splits import build_split_datasets

    if args.bootstrap is not None and not (args.baseline and args.challenger):
        return fail("--bootstrap needs --baseline and --challenger (records by their places, e.g. 1+2)", EXIT_USAGE)
    if args.bootstrap is None and (args.baseline or args.challenger):
        return fail("--baseline and --challenger go with --bootstrap N", EXIT_USAGE)
    cfg = load_config(args.config, args.overrides)
    dataset = build_split_datasets(cfg, splits=(args.split,))[args.split]
    if args.bootstrap is not None:
        return _ensemble_gap(args, dataset, cfg)
    try:
        results = score_combinations(args.detections, dataset, cfg)
    except StoredDetectionsError as err:
        return fail(str(err), EXIT_USAGE)
    rates = list(results[0]["sensitivity"])
    print(f"| detections | mean | {' | '.join(rates)} |")
    print("| --- | --- |" + " --- |" * len(rates))
    for row in results:
        values = " | ".join(f"{row['sensitivity'][r]:.4f}" for r in rates)
        print(f"| {' + '.join(row['records'])} | {row['mean_sensitivity']:.4f} | {values} |")
    return EXIT_OK


def _ensemble_gap(args, dataset, cfg) -> int:
    from lesionviewer.training.ensemble_scores import StoredDetectionsError, bootstrap_gap, parse_members

    try:
        baseline = parse_members(args.baseline, len(args.detections))
        challenger = parse_members(args.challenger, len(args.detections))
        gap = bootstrap_gap(args.detections, baseline, challenger, dataset, cfg, args.bootstrap, args.seed)
    except (StoredDetectionsError, ValueError) as err:
        return fail(str(err), EXIT_USAGE)
    print(f"baseline:   {' + '.join(gap['baseline'])}")
    print(f"challenger: {' + '.join(gap['challenger'])}")
    print(f"mean sensitivity gap (challenger - baseline): {gap['difference']:+.4f}; 95 % interval over "
          f"{gap['resamples']} paired draws of the images: {gap['low']:+.4f} to {gap['high']:+.4f}; "
          f"challenger not better in {gap['share_not_better']:.1%} of draws (seed {gap['seed']})")
    return EXIT_OK


def _average(args) -> int:
    from lesionviewer.training.weight_average import average_checkpoints

    if len(args.checkpoints) < 2:
        return fail("average needs two or more --checkpoint", EXIT_USAGE)
    if args.weights is not None and len(args.weights) != len(args.checkpoints):
        return fail(f"average: {len(args.weights)} --weight for {len(args.checkpoints)} --checkpoint; "
                    f"give one per checkpoint or none", EXIT_USAGE)
    written = average_checkpoints(args.checkpoints, args.out_run_dir, args.weights)
    print(f"wrote {written} (the mean of {len(args.checkpoints)} checkpoints)")
    return EXIT_OK


def _soup(args) -> int:
    from lesionviewer.training.greedy_soup import greedy_soup

    if len(args.checkpoints) < 2:
        return fail("soup needs two or more --checkpoint", EXIT_USAGE)
    soup = greedy_soup(args.checkpoints, args.out_run_dir, args.overrides, args.device)
    for name in soup.order:
        print(f"{soup.ingredient_scores[name]:.4f}  {name}")
    for step in soup.steps:
        print(f"{step.score:.4f}  + {step.candidate}: {'kept' if step.kept else 'not kept'}")
    print(f"wrote {args.out_run_dir} (the mean of {len(soup.kept)} of {len(soup.order)} checkpoints; "
          f"validation {soup.score:.4f})")
    return EXIT_OK


def _pretrain(args) -> int:
    from lesionviewer.paths import resources_dir
    from lesionviewer.training.config import apply_overrides, load_config
    from lesionviewer.training.loop import load_run_config
    from lesionviewer.training.pretrain_coco import pretrain

    if args.resume is not None:
        cfg = apply_overrides(load_run_config(args.resume), args.overrides)
        run_dir, resume = args.resume, True
    else:
        config = args.config or resources_dir() / "configs" / "coco_pretrain_mp3d63.toml"
        cfg = load_config(config, args.overrides)
        run_dir, resume = args.run_dir or Path("runs") / cfg.name, False
    summary = pretrain(cfg, args.coco_json, args.images, run_dir, resume=resume)
    _print_summary(summary)
    return EXIT_OK


#: The subcommand handlers, by name: ``handler(args) -> exit code``.
HANDLERS = {"train": _train, "evaluate": _evaluate, "export": _export, "ensemble": _ensemble,
            "ensemble-scores": _ensemble_scores, "average": _average,
            "soup": _soup, "pretrain": _pretrain}
