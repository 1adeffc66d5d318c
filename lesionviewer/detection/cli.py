"""``lesionviewer-detect``: run a detector file over CT studies and write every finding to a CSV.

Each PATH may be a DICOM/NIfTI/NRRD/MetaImage file, a series folder, or a folder of studies (every
series below it is found from the headers first, so the progress bar knows the total). A series that
cannot be read is reported in one line and skipped. The exit status is 0 when at least one series
was processed, 1 when none could be, 2 for a bad model file, device or ``--out``. Without
``--model`` the viewer's default detector (the demo model shipped in ``resources/models/``) is used.

Nothing finished is lost: ``--out`` is checked (not a folder, a writable place) before any model is
loaded, and the CSV is rewritten (atomically) after every finished series, so a crash, a kill or an
error in a later series leaves the rows of every series done before it. Ctrl+C keeps them too and
exits with 130.

The CSV has one row per finding: study/series identifiers, the series path, slice index and z,
the box in pixels and in patient millimetres, its centre, width/height and long/short axes in mm,
the score, the model's name and version, and ``slice_number``. Slices: ``slice_index`` counts from 0
(the array index); ``slice_number`` counts from 1 and is the number the viewer shows ("Slice 3/40",
the findings table). Text cells are guarded against spreadsheet formula injection (series
descriptions come from the files and are untrusted). A path that is not valid UTF-8 (a Linux file
name in another encoding) is written with each undecodable byte escaped as ``\\xNN``
(:func:`lesionviewer.util.text_safety.utf8_safe`) and a warning names the series; a number that is
not finite (unknown pixel spacing) is written as an empty cell.

Many series, many processes: ``--workers N`` runs N processes on this machine (default: one per GPU
when there are several), and under ``torchrun`` each rank (``RANK``/``WORLD_SIZE`` from the
environment, or ``--rank``/``--world-size``) takes its share of the series, across nodes. Sharded
runs write one part file per finished series into ``--parts`` (default ``<out>.parts/``); a rank that
is killed and restarted with the same command skips the finished series, and the last rank to finish
merges the parts into ``--out``: exactly the rows one process writes, none lost or doubled
(:mod:`lesionviewer.detection.batch_shards`). ``--parts`` alone makes a single process resumable.

Example:
    >>> CSV_COLUMNS[4], CSV_COLUMNS[-1]
    ('slice_index', 'slice_number')
"""
from __future__ import annotations

import argparse
import csv
import functools
import io
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lesionviewer.detection.finding import Finding
from lesionviewer.util.csv_safety import neutralize_cell
from lesionviewer.util.text_safety import utf8_safe

#: The CSV's columns, in order.
CSV_COLUMNS = (
    "study_uid", "series_uid", "series_description", "series_path", "slice_index", "z_mm",
    "x1_px", "y1_px", "x2_px", "y2_px", "x1_mm", "y1_mm", "x2_mm", "y2_mm",
    "center_x_mm", "center_y_mm", "center_z_mm", "width_mm", "height_mm", "long_axis_mm", "short_axis_mm",
    "score", "model_name", "model_version", "slice_number",
)


@dataclass
class SeriesJob:
    """One series to run: where it is, how to load it, and what the headers said about it.

    Example:
        >>> SeriesJob("scan.nii.gz", lambda: None, num_slices=40).num_slices
        40
    """

    path: str
    load: Callable[[], Any]
    num_slices: int = 0
    study_uid: str = ""
    series_uid: str = ""
    series_description: str = ""
    problems: list[str] = field(default_factory=list)


def find_jobs(paths: Iterable[str | os.PathLike], report: Callable[[str], Any] = print) -> list[SeriesJob]:
    """Every series under ``paths`` (files, series folders or folders of studies), headers only.

    A path that holds no readable series is reported through ``report`` (one line: the LoadError
    message) and contributes no job.

    Example:
        >>> import tempfile, numpy as np
        >>> from lesionviewer.io import Volume, write_dicom_series
        >>> folder = tempfile.mkdtemp()
        >>> _ = write_dicom_series(Volume(np.zeros((3, 4, 4), np.int16), (2.0, 1, 1)), folder + "/a")
        >>> [job.num_slices for job in find_jobs([folder], report=print)]
        [3]
        >>> find_jobs([folder + "/missing"], report=print)  # doctest: +ELLIPSIS
        skipped ...missing: no such file or folder
        []
    """
    from lesionviewer.io import LoadError, find_series, load_volume

    jobs: list[SeriesJob] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            jobs.append(SeriesJob(str(path), functools.partial(load_volume, path)))
            continue
        if not path.exists():
            report(f"skipped {path}: no such file or folder")
            continue
        try:
            found = find_series(path)
        except LoadError as err:
            report(f"skipped {err}")
            continue
        if not found:
            # Nothing recognised from the headers: let the loader say precisely why (empty folder,
            # no DICOM file, ...), or load it if it can after all.
            jobs.append(SeriesJob(str(path), functools.partial(load_volume, path)))
            continue
        for info in found:
            where = info.files[0] if info.format == "itk" and info.files else (info.folder or str(path))
            jobs.append(SeriesJob(
                where, info.load, num_slices=int(info.num_slices or 0), study_uid=info.study_uid,
                series_uid=info.series_uid, series_description=info.series_description,
                problems=list(info.problems),
            ))
    return jobs


def finding_row(finding: Finding, job: SeriesJob, volume, model_version: str) -> dict[str, Any]:
    """One CSV row (a dict keyed by :data:`CSV_COLUMNS`) for a finding, text cells made inert.

    Text that is not valid UTF-8 (a file name in another encoding) has its bad bytes escaped as
    ``\\xNN``; a millimetre value that is not finite (unknown spacing) is an empty cell.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> vol = Volume(np.zeros((2, 8, 8), np.int16), (5.0, 1.0, 1.0))
        >>> f = Finding.from_pixel_box(vol, 1, (0, 0, 4, 2), 0.7, "m")
        >>> row = finding_row(f, SeriesJob("caf\\udce9", lambda: vol, series_description="=1+1"), vol, "1")
        >>> row["series_description"], row["series_path"], row["z_mm"], row["slice_index"], row["slice_number"]
        ("'=1+1", 'caf\\\\xe9', 5.0, 1, 2)
    """
    meta = volume.meta if isinstance(getattr(volume, "meta", None), dict) else {}
    text = {
        "study_uid": str(meta.get("StudyInstanceUID") or job.study_uid or ""),
        "series_uid": str(meta.get("SeriesInstanceUID") or job.series_uid or ""),
        "series_description": str(meta.get("SeriesDescription") or job.series_description or ""),
        "series_path": job.path,
        "model_name": finding.model_name,
        "model_version": str(model_version),
    }
    x1, y1, x2, y2 = finding.box_px
    mx1, my1, mx2, my2 = finding.box_mm
    cx, cy, cz = finding.center_mm
    numbers = {
        "slice_index": int(finding.slice_index), "z_mm": _r(finding.z_mm),
        "x1_px": _r(x1), "y1_px": _r(y1), "x2_px": _r(x2), "y2_px": _r(y2),
        "x1_mm": _r(mx1), "y1_mm": _r(my1), "x2_mm": _r(mx2), "y2_mm": _r(my2),
        "center_x_mm": _r(cx), "center_y_mm": _r(cy), "center_z_mm": _r(cz),
        "width_mm": _r(finding.width_mm), "height_mm": _r(finding.height_mm),
        "long_axis_mm": _r(finding.long_axis_mm), "short_axis_mm": _r(finding.short_axis_mm),
        "score": _r(finding.score, 4),
        "slice_number": int(finding.slice_index) + 1,
    }
    row = {name: neutralize_cell(utf8_safe(value)) for name, value in text.items()}
    row.update(numbers)
    return {name: row[name] for name in CSV_COLUMNS}


def write_findings_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write the rows (with a header line) to ``path`` atomically: a crash leaves the old file.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "f.csv"
        >>> write_findings_csv(out, [])
        >>> out.read_text().startswith("study_uid,series_uid,")
        True
    """
    from lesionviewer.util.atomic import atomic_write_text

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def check_out_path(out: str | os.PathLike) -> str | None:
    """Why ``out`` cannot take the CSV (a folder, a file in the way of its folder, no write permission), or None.

    Checked before any work, so a typo costs seconds, not a night of detection.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> check_out_path(folder)  # doctest: +ELLIPSIS
        '--out ... is a folder; give the CSV file to write, e.g. .../findings.csv'
        >>> check_out_path(folder + "/new/findings.csv") is None
        True
    """
    path = Path(out)
    shown = utf8_safe(str(path))
    if path.is_dir():
        return f"--out {shown} is a folder; give the CSV file to write, e.g. {utf8_safe(str(path / 'findings.csv'))}"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {shown}: {utf8_safe(str(parent))} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {shown}: the folder {utf8_safe(str(parent))} cannot be written (permission denied)"
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        return f"--out {shown} cannot be replaced (permission denied)"
    return None


def run(paths: Sequence[str], model: str | None, out: str, device: str = "auto", threshold: float = 0.5,
        batch_size: int | None = None, report: Callable[[str], Any] = print, show_progress: bool = True,
        mode: str = "auto", rank: int = 0, world_size: int = 1, parts: str | None = None,
        flip: bool | None = None) -> int:
    """Detect on every series under ``paths`` with the model file ``model``; write ``out``; exit status.

    ``flip`` switches the mirrored second pass on or off (None: as the model's card says).

    ``model=None`` takes the viewer's default detector
    (:func:`lesionviewer.detection.default_model.default_detector_file`). The CSV is rewritten
    after every finished series, so an error or a kill later loses none of the rows written.
    With ``world_size > 1`` or ``parts``, this process is rank ``rank``: it runs its share of the
    series into part files under ``parts`` (default ``<out>.parts``) and merges them into ``out``
    when every series is done.

    Example:
        >>> import tempfile, pathlib
        >>> run(["x"], model=str(pathlib.Path(tempfile.mkdtemp()) / "none.safetensors"),
        ...     out="f.csv", report=print)  # doctest: +ELLIPSIS
        error: cannot use the model: ...none.safetensors: no such file
        2
        >>> run(["x"], model=None, out=tempfile.mkdtemp(), report=print)  # doctest: +ELLIPSIS
        error: --out ... is a folder; give the CSV file to write, e.g. .../findings.csv
        2
    """
    from lesionviewer.detection.default_model import default_detector_file
    from lesionviewer.detection.device import DeviceUnavailableError
    from lesionviewer.detection.engine import Detector
    from lesionviewer.detection.model_file import ModelFileError
    from lesionviewer.io import LoadError

    def tell(message: str) -> None:
        report(utf8_safe(str(message)))

    problem = check_out_path(out)
    if problem is not None:
        tell(f"error: {problem}")
        return 2
    if model is None:
        default = default_detector_file()
        if default is None:
            tell("error: no --model given and no default detector is installed (resources/models/)")
            return 2
        model = str(default)
        tell(f"no --model given: using the viewer's default detector {model}")
    sharded = world_size > 1 or parts is not None
    part_folder = parts if parts is not None else f"{out}.parts"  # used only when sharded
    if sharded and device == "auto":
        device = _rank_device(rank)
    try:
        detector = Detector.from_file(model, device=device, batch_size=batch_size, mode=mode, flip=flip)
    except ModelFileError as err:
        tell(f"error: cannot use the model: {err}")
        return 2
    except (DeviceUnavailableError, ValueError) as err:
        tell(f"error: {err}")
        return 2
    mirrored = "; every slice also read mirrored (--flip off: twice as fast)" if detector.flip else ""
    tell(f"model {detector.card.name} (version {detector.card.version}) on {detector.device_description}{mirrored}")
    jobs = find_jobs(paths, report=tell)
    if sharded:
        from lesionviewer.detection import batch_shards

        every_job, done_before = jobs, [j for j in jobs if batch_shards.is_done(part_folder, j)]
        jobs = [j for j in batch_shards.shard(jobs, rank, world_size) if not batch_shards.is_done(part_folder, j)]
        tell(f"rank {rank} of {world_size}: {len(jobs)} series to run "
             f"({len(done_before)} of {len(every_job)} finished before)")
    bar = _progress_bar(sum(j.num_slices for j in jobs), show_progress)
    say = (lambda text: bar.write(utf8_safe(str(text)))) if bar is not None else tell
    rows: list[dict[str, Any]] = []
    processed = 0
    written = 0  # rows already on disk
    interrupted = False
    try:
        for job in jobs:
            if not _is_utf8(job.path):
                say(f"warning: {utf8_safe(job.path)}: the path is not valid UTF-8; the CSV writes its "
                    "undecodable bytes as \\xNN escapes")
            for problem in job.problems:
                say(f"warning: {problem}")
            try:
                volume = job.load()
            except LoadError as err:
                say(f"skipped {err}")
                _advance(bar, job.num_slices)
                if sharded:
                    batch_shards.write_part(part_folder, job, [], CSV_COLUMNS)
                continue
            except Exception as err:  # one odd study must not end a night-long batch
                say(f"skipped {job.path}: could not be read ({type(err).__name__}: {err})")
                _advance(bar, job.num_slices)
                if sharded:
                    batch_shards.write_part(part_folder, job, [], CSV_COLUMNS)
                continue
            _grow_total(bar, job.num_slices, volume.num_slices)
            for warning in volume.warnings:
                say(f"warning: {job.path}: {warning}")
            counted = [0]

            def on_progress(done: int, total: int, counted=counted) -> None:
                _advance(bar, done - counted[0])
                counted[0] = done

            try:
                findings = detector.detect(volume, progress=on_progress)
            except (RuntimeError, ValueError) as err:  # e.g. out of GPU memory, unusable geometry
                say(f"skipped {job.path}: detection failed ({type(err).__name__}: {err})")
                _advance(bar, volume.num_slices - counted[0])
                if sharded:
                    batch_shards.write_part(part_folder, job, [], CSV_COLUMNS)
                continue
            kept = [f for f in findings if f.score >= threshold]
            series_rows = [finding_row(f, job, volume, detector.card.version) for f in kept]
            rows.extend(series_rows)
            processed += 1
            if sharded:  # this series' part file: what is done stays done, and is never redone
                batch_shards.write_part(part_folder, job, series_rows, CSV_COLUMNS)
            else:
                write_findings_csv(out, rows)  # after every series: what is done stays done
            written = len(rows)
            say(f"{job.path}: {volume.num_slices} slices, {len(kept)} findings at score >= {threshold}")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted: writing the findings of the series finished so far")
    except BaseException:
        if processed and written < len(rows) and not sharded:
            write_findings_csv(out, rows)
        raise
    finally:
        if bar is not None:
            bar.close()
    if sharded:
        if interrupted:
            return 130
        if batch_shards.merge_parts(part_folder, every_job, out, CSV_COLUMNS):
            tell(f"all {len(every_job)} series are done: merged their findings into {out}")
        else:
            tell(f"rank {rank}: its series are done; {out} is written when every rank's are")
        return 0 if processed or not jobs else 1
    if processed == 0 and not interrupted:
        tell("error: no series could be processed; nothing written")
        return 1
    if processed == 0 or written < len(rows):
        write_findings_csv(out, rows)
    tell(f"wrote {len(rows)} findings from {processed} series to {out}")
    return 130 if interrupted else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lesionviewer-detect``.

    Example:
        >>> main(["scan", "--model", "no_such.safetensors", "--out", "f.csv", "--device", "cpu"])
        error: cannot use the model: no_such.safetensors: no such file
        2
    """
    parser = argparse.ArgumentParser(
        prog="lesionviewer-detect",
        description="Find lesions in CT studies with a LesionViewer detector and write them to a CSV.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a CT file, a series folder, or a folder of studies (searched recursively)")
    parser.add_argument("--model", default=None, metavar="FILE",
                        help="detector model file (.safetensors); default: the viewer's default detector")
    parser.add_argument("--out", required=True, metavar="CSV",
                        help="where to write the findings (rewritten after every finished series); "
                             "slice_index counts from 0, slice_number from 1 as the viewer shows")
    parser.add_argument("--device", default="auto", help="auto (default: CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threshold", type=_score, default=0.5, help="lowest score written (default 0.5)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                        help="slices per forward pass (default: 8 on CUDA, 1 on the CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--mode", choices=("auto", "window", "volume"), default="auto",
                        help="window: the 3D trunk per slice's context stack; volume: shared over the series "
                             "(default auto: volume where the model allows it)")
    parser.add_argument("--flip", choices=("auto", "on", "off"), default="auto",
                        help="read every slice a second time mirrored and keep what both passes find "
                             "(fewer false positives, twice the time; default auto: as the model's card says)")
    parser.add_argument("--parts", default=None, metavar="DIR",
                        help="one part file per finished series here (default for sharded runs: OUT.parts); "
                             "a rerun skips the series already there")
    parser.add_argument("--rank", type=int, default=int(os.environ.get("RANK", 0)),
                        help="this process's share of the series (default: $RANK, set by torchrun)")
    parser.add_argument("--world-size", type=_positive_int, default=int(os.environ.get("WORLD_SIZE", 1)),
                        help="how many processes share the series (default: $WORLD_SIZE, set by torchrun)")
    parser.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                        help="run N processes on this machine (default: one per GPU when there are several)")
    args = parser.parse_args(argv)
    workers = args.workers if args.workers is not None else _default_workers(args.device, args.world_size)
    if workers > 1 and args.world_size == 1:
        return run_workers(argv if argv is not None else sys.argv[1:], workers,
                           args.parts if args.parts is not None else f"{args.out}.parts")
    return run(args.paths, args.model, args.out, device=args.device, threshold=args.threshold,
               batch_size=args.batch_size, report=print, show_progress=not args.quiet, mode=args.mode,
               rank=args.rank, world_size=args.world_size, parts=args.parts,
               flip={"auto": None, "on": True, "off": False}[args.flip])


def run_workers(argv: Sequence[str], workers: int, parts: str) -> int:
    """Run ``lesionviewer-detect`` as ``workers`` local processes (ranks 0..N-1), one per GPU; exit status.

    Each child gets ``CUDA_VISIBLE_DEVICES`` unset and ``LOCAL_RANK`` = its rank, so rank ``i`` takes
    GPU ``i``; the last child to finish merges the part files.

    Example:
        >>> run_workers(["scan", "--out", "f.csv", "--model", "none.safetensors", "--quiet"], 2, "p") > 0
        True
    """
    import subprocess

    children = []
    for rank in range(workers):
        env = dict(os.environ, LOCAL_RANK=str(rank), RANK=str(rank), WORLD_SIZE=str(workers))
        command = [sys.executable, "-m", "lesionviewer.detection.cli", *argv, "--workers", "1",
                   "--parts", parts, "--rank", str(rank), "--world-size", str(workers)]
        children.append(subprocess.Popen(command, env=env))
    codes = [child.wait() for child in children]
    return max(codes)


def _default_workers(device: str, world_size: int) -> int:
    if world_size > 1 or device not in ("auto", "cuda"):
        return 1
    import torch

    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def _rank_device(rank: int) -> str:
    import torch

    if not torch.cuda.is_available():
        return "auto"
    local = int(os.environ.get("LOCAL_RANK", rank))
    return f"cuda:{local % torch.cuda.device_count()}"


def _r(value: float, digits: int = 3) -> float | str:
    number = float(value)
    return round(number, digits) if math.isfinite(number) else ""


def _is_utf8(text: str) -> bool:
    return utf8_safe(text) == text


def _score(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a score threshold is between 0 and 1, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _progress_bar(total: int, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="slice", dynamic_ncols=True, desc="detect")


def _advance(bar, count: int) -> None:
    if bar is not None and count > 0:
        bar.update(count)


def _grow_total(bar, announced: int, actual: int) -> None:
    # A file given directly has no header count; the loaded volume tells the real number.
    if bar is not None and actual != announced:
        bar.total = max(0, (bar.total or 0) + actual - announced)
        bar.refresh()


if __name__ == "__main__":
    sys.exit(main())
