"""``lesionviewer-train evaluate-real``: a detector file measured on real CT, as a table and a JSON file.

    lesionviewer-train evaluate-real --model M.safetensors [--model M2.safetensors] [--deeplesion-keyslices DIR] [--lidc DIR]
        [--lesion-free PATH ...] [--organs CT_PATH LABELS_PATH] [--threshold 0.5] [--out result.json]
        [--record-in-card]

What each part measures is in :mod:`lesionviewer.evaluation.real_ct` (DeepLesion key slices, FPs per
image; LIDC volume, FPs per slice) and :mod:`lesionviewer.evaluation.real_ct_negatives` (findings per
slice on a lesion-free series; findings on the humeri, ribs and aorta of a labelled CT). The library
entry point is :func:`evaluate_real`; the command only parses, prints :func:`format_table` and writes
the JSON atomically. Exit codes are ``lesionviewer-train``'s: 0 done, 2 bad arguments, 5 model or
data could not be read.

Example:
    >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
    >>> add_evaluate_real_parser(sub)
    >>> args = parser.parse_args(["evaluate-real", "--model", "m.safetensors", "--lesion-free", "a.nii.gz", "b.nii.gz"])
    >>> [m.name for m in args.model], [p.name for p in args.lesion_free], args.threshold
    (['m.safetensors'], ['a.nii.gz', 'b.nii.gz'], 0.5)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lesionviewer.evaluation.froc import DEFAULT_FPS
from lesionviewer.evaluation.real_ct import LIDC_BOX_PADDING_PX
from lesionviewer.review.session import DEFAULT_THRESHOLD


def add_evaluate_real_parser(sub) -> None:
    """Add the ``evaluate-real`` subcommand to ``lesionviewer-train``'s subparsers.

    Example:
        >>> parser = argparse.ArgumentParser(); sub = parser.add_subparsers(dest="command")
        >>> add_evaluate_real_parser(sub)
        >>> parser.parse_args(["evaluate-real", "--model", "m", "--organs", "ct", "lab.nii.gz"]).organs
        [PosixPath('ct'), PosixPath('lab.nii.gz')]
    """
    p = sub.add_parser("evaluate-real", help="measure a detector file on real CT (DeepLesion key slices, LIDC, "
                                             "lesion-free series, organ labels)")
    p.add_argument("--model", type=Path, required=True, action="append",
                   help="the detector file (.safetensors); given two to four times, the files' findings fused per slice "
                        "(an output ensemble, lesionviewer.detection.ensemble)")
    p.add_argument("--deeplesion-keyslices", type=Path, metavar="DIR",
                   help="folder with Images_png/<series>/<slice>.png and DL_info*.csv (key slice alone as context)")
    p.add_argument("--lidc", type=Path, metavar="DIR", help="LIDC folder: the DICOM slices and the reader XML")
    p.add_argument("--lidc-box-padding", type=float, default=LIDC_BOX_PADDING_PX, metavar="PX",
                   help="grow the readers' LIDC boxes by this many pixels per side before the IoU rule "
                        "(default 5: how DeepLesion pads its boxes; 0: the readers' own boxes)")
    p.add_argument("--lesion-free", type=Path, nargs="+", action="extend", default=[], metavar="PATH",
                   help="series with no lesion (file or folder): findings per slice at --threshold")
    p.add_argument("--organs", type=Path, nargs=2, metavar=("CT_PATH", "LABELS_PATH"),
                   help="a CT and its TotalSegmentator labels: findings on humeri, ribs, aorta at --threshold")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"score threshold for the lesion-free and organ counts (the viewer's default, {DEFAULT_THRESHOLD})")
    p.add_argument("--out", type=Path, help="write the results here as JSON")
    p.add_argument("--device", default="cpu", help="cpu (default: the numbers the project records), cuda, mps or auto")
    p.add_argument("--record-in-card", action="store_true",
                   help="also write the summary into the model file's card (metrics.real_ct); the weights are kept")


def evaluate_real(detector, *, deeplesion_keyslices: str | Path | None = None, lidc: str | Path | None = None,
                  lesion_free: Sequence[str | Path] = (), organs: tuple[str | Path, str | Path] | None = None,
                  threshold: float = DEFAULT_THRESHOLD, fps: Sequence[float] = DEFAULT_FPS,
                  lidc_box_padding_px: float = LIDC_BOX_PADDING_PX) -> dict:
    """Run every real-CT evaluation that was given a data set; a JSON-ready dict with one key per part.

    Example:
        >>> import numpy as np
        >>> from types import SimpleNamespace
        >>> from lesionviewer.io import Volume
        >>> fake = SimpleNamespace(detect=lambda v, slices=None: [])
        >>> r = evaluate_real(fake, lesion_free=[Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1))])
        >>> r["lesion_free"][0]["findings_per_slice"], "deeplesion" in r
        (0.0, False)
    """
    from lesionviewer.evaluation.real_ct import evaluate_deeplesion_key_slices, evaluate_lidc_volume
    from lesionviewer.evaluation.real_ct_negatives import evaluate_organ_check, findings_per_slice

    start = time.perf_counter()
    result: dict = {"fps": [float(f) for f in fps], "threshold": float(threshold)}
    if deeplesion_keyslices is not None:
        result["deeplesion"] = evaluate_deeplesion_key_slices(detector, deeplesion_keyslices, fps)
    if lidc is not None:
        result["lidc"] = evaluate_lidc_volume(detector, lidc, fps, box_padding_px=lidc_box_padding_px)
    if lesion_free:
        result["lesion_free"] = [findings_per_slice(detector, path, threshold) for path in lesion_free]
    if organs is not None:
        result["organs"] = evaluate_organ_check(detector, organs[0], organs[1], threshold=threshold)
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def format_table(result: dict) -> str:
    """The results of :func:`evaluate_real` as a plain-text table for the terminal.

    Example:
        >>> print(format_table({"fps": [1.0, 4.0], "threshold": 0.5, "lesion_free": [{"source": "ct.nii.gz",
        ...     "num_slices": 10, "num_findings": 5, "findings_per_slice": 0.5, "max_on_one_slice": 2,
        ...     "slices_with_findings": 3, "threshold": 0.5, "seconds": 1.0}]}))
        lesion-free ct.nii.gz: 5 findings >= 0.5 on 10 slices = 0.50 per slice (max 2 on one slice, 3 slices with any) [1.0 s]
    """
    rates = [f"{f:g}" for f in result.get("fps", DEFAULT_FPS)]
    lines: list[str] = []
    if "model" in result:
        lines.append(f"model {result.get('model_name', '')} ({result['model']}) on {result.get('device', '')}")

    def row(label: str, values: dict) -> str:
        cells = "".join(f"{('-' if values.get(r) is None else format(values[r], '.2f')):>7}" for r in rates)
        return f"  {label:<28}{cells}"

    dl = result.get("deeplesion")
    if dl:
        lines.append(f"DeepLesion key slices: {dl['num_images']} images, {dl['num_lesions']} lesions "
                     f"({dl['num_possibly_noisy']} possibly noisy, kept) [{dl['seconds']} s]")
        lines.append(f"  {'FPs per image':<28}" + "".join(f"{r:>7}" for r in rates))
        lines.append(row("all", dl["sensitivity"]))
        for name, group in list(dl["by_type"].items()) + list(dl["by_size"].items()):
            lines.append(row(f"{name} ({group['num_lesions']})", group["sensitivity"]))
    lidc = result.get("lidc")
    if lidc:
        plural = "" if lidc["num_lesions"] == 1 else "s"
        lines.append(f"LIDC volume: {lidc['num_slices']} slices, {lidc['num_lesions']} lesion{plural} >= "
                     f"{lidc['criteria']['min_diameter_mm']:g} mm by >= {lidc['criteria']['min_readers']} readers "
                     f"on {lidc['num_lesion_slices']} slices ({lidc['num_marked_lesions']} marked in all, "
                     f"{lidc['num_readers']} readers; boxes padded by "
                     f"{lidc['criteria'].get('box_padding_px', 0):g} px) [{lidc['seconds']} s]")
        lines.append(f"  {'FPs per slice':<28}" + "".join(f"{r:>7}" for r in rates))
        lines.append(row("lesions found", lidc["lesion_sensitivity"]))
        lines.append(row("lesion slices hit", lidc["slice_sensitivity"]))
    for free in result.get("lesion_free", []):
        lines.append(f"lesion-free {free.get('source', '')}: {free['num_findings']} findings >= {free['threshold']:g} "
                     f"on {free['num_slices']} slices = {free['findings_per_slice']:.2f} per slice "
                     f"(max {free['max_on_one_slice']} on one slice, {free['slices_with_findings']} slices with any) "
                     f"[{free['seconds']} s]")
    organs = result.get("organs")
    if organs:
        named = [k for k in organs if k not in ("total", "threshold", "num_slices", "findings_per_slice", "ct",
                                                 "labels", "seconds")]
        counts = ", ".join(f"{k} {organs[k]}" for k in named)
        lines.append(f"organs {organs['ct']}: {organs['total']} findings >= {organs['threshold']:g} on "
                     f"{organs['num_slices']} slices ({organs['findings_per_slice']:.2f} per slice); box mostly on: "
                     f"{counts} [{organs['seconds']} s]")
    return "\n".join(lines)


def run_evaluate_real(args: argparse.Namespace) -> int:
    """The ``evaluate-real`` command: load the model, evaluate, print the table, write ``--out``; the exit code.

    Example:
        >>> import contextlib, io
        >>> args = argparse.Namespace(model=Path("m.safetensors"), deeplesion_keyslices=None, lidc=None,
        ...                           lesion_free=[], organs=None, threshold=0.5, out=None, device="cpu",
        ...                           lidc_box_padding=5.0)
        >>> with contextlib.redirect_stderr(io.StringIO()):
        ...     run_evaluate_real(args)
        2
    """
    from lesionviewer.common.exit_codes import EXIT_DATA, EXIT_OK, EXIT_USAGE
    from lesionviewer.detection.model_card import ENSEMBLE_SIZES
    from lesionviewer.detection.model_file import ModelFileError
    from lesionviewer.io.errors import LoadError
    from lesionviewer.util.atomic import atomic_write_text

    def fail(message: str, code: int) -> int:
        print(f"lesionviewer-train evaluate-real: {message}", file=sys.stderr)
        return code

    if not (args.deeplesion_keyslices or args.lidc or args.lesion_free or args.organs):
        return fail("nothing to evaluate: give --deeplesion-keyslices, --lidc, --lesion-free and/or --organs", EXIT_USAGE)
    if not 0.0 <= args.threshold <= 1.0:
        return fail(f"--threshold must be between 0 and 1, not {args.threshold}", EXIT_USAGE)
    models = args.model if isinstance(args.model, list) else [args.model]
    if len(models) > 1 and len(models) not in ENSEMBLE_SIZES:
        return fail(f"--model given {len(models)} times: one file, or two to four for an ensemble", EXIT_USAGE)
    if len(models) > 1 and getattr(args, "record_in_card", False):
        return fail("--record-in-card needs one --model: files run together have no card of their own "
                    "(write them as one file with lesionviewer-train ensemble)", EXIT_USAGE)
    from lesionviewer.detection import Detector, DeviceUnavailableError
    from lesionviewer.detection.ensemble import EnsembleDetector

    try:
        members = [Detector.from_file(model, device=args.device) for model in models]
        detector = members[0] if len(members) == 1 else EnsembleDetector(members)
    except DeviceUnavailableError as exc:
        return fail(str(exc), EXIT_USAGE)
    except ModelFileError as exc:
        return fail(str(exc), EXIT_DATA)
    try:
        result = evaluate_real(detector, deeplesion_keyslices=args.deeplesion_keyslices, lidc=args.lidc,
                               lesion_free=args.lesion_free, organs=tuple(args.organs) if args.organs else None,
                               threshold=args.threshold,
                               lidc_box_padding_px=args.lidc_box_padding)
    except LoadError as exc:
        return fail(str(exc), EXIT_DATA)
    model = str(models[0]) if len(models) == 1 else [str(m) for m in models]
    result = {"model": model, "model_name": detector.model_name, "device": str(detector.device), **result}
    print(format_table(result))
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    if getattr(args, "record_in_card", False):
        from lesionviewer.evaluation.real_ct_record import record_real_ct_in_card

        for key, folder in (("deeplesion", args.deeplesion_keyslices), ("lidc", args.lidc)):
            if key in result and folder is not None:
                result[key]["folder"] = str(folder)
        record_real_ct_in_card(models[0], result)
        print(f"recorded in the card of {models[0]} (metrics.real_ct)")
    return EXIT_OK
