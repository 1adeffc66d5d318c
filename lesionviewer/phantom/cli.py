"""``lesionviewer-phantom``: generate N synthetic CT patients with lesions, in the DeepLesion or DICOM layout.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     main([d, "-n", "1", "--size", "small", "--slices", "4", "--no-progress"])  # doctest: +ELLIPSIS
    wrote 1 patients, ...
    0
"""
from __future__ import annotations

import argparse
import sys

from lesionviewer.io.deeplesion_info import SPLITS
from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.dataset import LAYOUTS, generate_dataset

#: split name -> DL_info's Train_Val_Test code
SPLIT_CODES = {name: code for code, name in SPLITS.items()}

def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser.

    Example:
        >>> build_parser().parse_args(["out", "-n", "3"]).patients
        3
    """
    p = argparse.ArgumentParser(
        prog="lesionviewer-phantom",
        description="Generate synthetic chest/abdomen CT patients with known lesions.",
    )
    p.add_argument("output", help="folder to write into (created if missing)")
    p.add_argument("-n", "--patients", type=int, default=10, help="number of patients (default 10)")
    p.add_argument("--layout", choices=LAYOUTS, default="deeplesion", help="Images_png + DL_info.csv, or one DICOM series per patient")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; the same seed gives the same bytes (default 0)")
    p.add_argument("--size", choices=("small", "medium", "full"), default="small", help="preset: small 128x128x24, medium 256x256x32, full 512x512x60")
    p.add_argument("--matrix", type=int, help="in-plane pixels (overrides the preset)")
    p.add_argument("--slices", type=int, help="slices per series (overrides the preset)")
    p.add_argument("--interval", type=float, nargs="+", help="slice interval(s) in mm to draw from (overrides the preset)")
    p.add_argument("--thickness-ratio", type=float, help="slice thickness / interval, e.g. 1.5 for 3 mm slices every 2 mm (default 1)")
    p.add_argument("--lesions", type=int, nargs=2, metavar=("MIN", "MAX"), help="lesions per patient")
    p.add_argument("--only-split", action="append", default=[], choices=sorted(SPLIT_CODES),
                   help="write only the patients of this split (repeatable), as the whole dataset would hold them")
    p.add_argument("--lesion-contrast", type=float, metavar="K",
                   help="scale each lesion's HU difference from its surroundings by K (default 1, realistic)")
    p.add_argument("--annotate-all", action="store_true",
                   help="mark every lesion crossing an annotated key slice (5 mm or longer there), not only the "
                        "one whose key slice it is (DeepLesion leaves those unmarked)")
    p.add_argument("--box-padding", type=float, metavar="PX", help="pixels added around each lesion's RECIST extent for its box (default 5, DeepLesion's)")
    p.add_argument("--phase", choices=("unenhanced", "arterial", "portal", "delayed"), help="contrast phase for every patient (default: drawn)")
    p.add_argument("--first-patient", type=int, default=1, help="index of the first patient (default 1)")
    p.add_argument("-j", "--workers", type=int, default=2, help="parallel processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> PhantomConfig:
    """The generator settings the arguments ask for.

    Example:
        >>> config_from_args(build_parser().parse_args(["o", "--size", "full", "--slices", "20"])).num_slices
        20
    """
    cfg = PhantomConfig.preset(args.size)
    changes: dict = {}
    if args.matrix:
        changes["matrix"] = args.matrix
    if args.slices:
        changes["num_slices"] = args.slices
    if args.interval:
        changes["slice_intervals_mm"] = tuple(args.interval)
        changes["slice_interval_weights"] = tuple(1.0 for _ in args.interval)
    if args.thickness_ratio:
        changes["thickness_over_interval"] = args.thickness_ratio
    if args.lesions:
        changes["lesions_per_patient"] = tuple(args.lesions)
    if args.phase:
        changes["phase"] = args.phase
    if args.lesion_contrast is not None:
        if not 0.5 <= args.lesion_contrast <= 10.0:
            raise ValueError(f"--lesion-contrast must be within 0.5-10, got {args.lesion_contrast}")
        changes["lesion_contrast"] = args.lesion_contrast
    if args.annotate_all:
        changes["annotate_all_visible"] = True
    if args.box_padding is not None:
        if not 0.0 <= args.box_padding <= 50.0:
            raise ValueError(f"--box-padding must be within 0-50 pixels, got {args.box_padding}")
        changes["box_padding_px"] = args.box_padding
    return cfg.with_(**changes) if changes else cfg.validated()


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad arguments).

    Example:
        >>> main(["out", "--matrix", "8", "--no-progress"])
        2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        cfg = config_from_args(args)
        if args.patients < 1:
            raise ValueError(f"--patients must be at least 1, got {args.patients}")
    except ValueError as exc:
        print(f"lesionviewer-phantom: {exc}", file=sys.stderr)
        return 2
    bar = None
    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=None if args.only_split else args.patients, unit="patient", desc="phantoms")

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

    try:
        summary = generate_dataset(
            args.output,
            args.patients,
            layout=args.layout,
            seed=args.seed,
            config=cfg,
            workers=args.workers,
            first_patient_index=args.first_patient,
            progress=progress,
            only_splits=tuple(SPLIT_CODES[name] for name in args.only_split) or None,
        )
    except OSError as exc:
        print(f"lesionviewer-phantom: cannot write to {args.output}: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    print(
        f"wrote {summary['patients']} patients, {summary['lesions']} lesions on {summary['key_slices']} key slices, "
        f"{summary['slices']} slices to {args.output} in {summary['seconds']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
