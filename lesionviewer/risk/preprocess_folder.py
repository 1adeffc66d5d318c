"""The ``preprocess`` step over a folder of studies: one ``.npz`` per study, resumable, failures reported.

Each entry of the input folder is a study: a sub-folder of DICOM files (as NLST is distributed),
or a single NIfTI / NRRD / MetaImage file. A study is read with :func:`lesionviewer.io.load_volume`
(the series with the most slices when a folder holds several), preprocessed
(:func:`~lesionviewer.risk.preprocess.preprocess_volume`) and written as ``<study>.npz`` in the
output folder, atomically. A study whose ``.npz`` exists is skipped, so a killed run continues
where it stopped; a study that cannot be read is skipped and named, with the reason, in the result
and in ``preprocess_report.json``.

Example:
    >>> import tempfile, pathlib
    >>> work = pathlib.Path(tempfile.mkdtemp())
    >>> (work / "in" / "broken").mkdir(parents=True)
    >>> _ = (work / "in" / "broken" / "x.dcm").write_bytes(b"not dicom")
    >>> result = preprocess_folder(work / "in", work / "out", progress_bar=False)
    >>> result.done, list(result.failed)
    ([], ['broken'])
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from lesionviewer.risk.preprocess import PreprocessSettings, preprocess_volume, write_npz
from lesionviewer.util.atomic import atomic_write_text

REPORT_NAME = "preprocess_report.json"
_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


@dataclass
class PreprocessResult:
    """What a run did: studies written, studies skipped because already done, failures with reasons.

    Example:
        >>> PreprocessResult(done=["a"], already_done=["b"]).summary()
        '1 preprocessed, 1 already done, 0 failed'
    """

    done: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the console.

        Example:
            >>> PreprocessResult(failed={"x": "bad"}).summary()
            '0 preprocessed, 0 already done, 1 failed'
        """
        return f"{len(self.done)} preprocessed, {len(self.already_done)} already done, {len(self.failed)} failed"


def list_studies(folder: str | Path) -> list[Path]:
    """The studies of ``folder``: its sub-folders and its volume files, sorted by name (hidden ones left out).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "b").mkdir(); (d / "a").mkdir(); (d / ".x").mkdir()
        >>> [p.name for p in list_studies(d)]
        ['a', 'b']
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of studies")
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")
                  and (p.is_dir() or p.name.lower().endswith(_VOLUME_SUFFIXES)))


def study_name(path: Path) -> str:
    """The output name of a study: its folder or file name without a volume suffix.

    Example:
        >>> study_name(Path("/d/case7.nii.gz")), study_name(Path("/d/case8"))
        ('case7', 'case8')
    """
    name = path.name
    for suffix in sorted(_VOLUME_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def preprocess_folder(input_dir: str | Path, output_dir: str | Path,
                      settings: PreprocessSettings = PreprocessSettings(),  # noqa: B008 - a frozen dataclass: one shared default is safe
                      progress_bar: bool = True,
                      cancel=None) -> PreprocessResult:
    """Preprocess every study of ``input_dir`` into ``output_dir/<study>.npz`` (see the module notes).

    ``cancel`` (a callable returning True, or a ``threading.Event``) stops between studies.

    Example:
        >>> preprocess_folder("/nonexistent", "/tmp/out", progress_bar=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent: no such folder of studies
    """
    from lesionviewer.io import load_volume

    studies = list_studies(input_dir)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = PreprocessResult()
    bar = None
    if progress_bar:
        from tqdm import tqdm

        bar = tqdm(total=len(studies), unit="study", desc="preprocess", dynamic_ncols=True)
    try:
        for study in studies:
            if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set") else cancel()):
                break
            name = study_name(study)
            target = output_dir / f"{name}.npz"
            if target.is_file():
                result.already_done.append(name)
            else:
                try:
                    volume = load_volume(study)
                    crop, meta = preprocess_volume(volume, settings, source=str(study))
                    meta["study"] = name
                    write_npz(target, crop, meta)
                    result.done.append(name)
                except Exception as exc:  # one unreadable study must not stop the others
                    result.failed[name] = f"{type(exc).__name__}: {exc}"
                    if bar is not None:
                        bar.write(f"skipped {name}: {result.failed[name]}")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(done=len(result.done), failed=len(result.failed))
    finally:
        if bar is not None:
            bar.close()
    report = {"input": str(input_dir), "settings": settings.to_dict(), "done": result.done,
              "already_done": result.already_done, "failed": result.failed}
    atomic_write_text(output_dir / REPORT_NAME, json.dumps(report, indent=2))
    return result
