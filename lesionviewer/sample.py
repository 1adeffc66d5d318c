"""The sample study: a synthetic CT (our phantom generator, fixed seed) that the viewer opens when
it starts without a path, so a new user sees lesions with no data of their own.

It is made on first use (a few seconds) into ``user_cache_dir()/sample/<version-seed-settings>/``
and reused afterwards. Layout of that folder::

    series/IM000001.dcm ...   the DICOM series (what ``sample_study_path()`` returns)
    ground_truth.json         every lesion's box and RECIST on every slice
    sample.json               manifest: the SHA-256 of every file above

A sample is written into a temporary folder beside its final place and renamed into place when
complete, so a half-written sample never exists; when two processes make it at once, the first
rename wins and the other's copy is dropped. A cached sample whose files do not match the manifest
(deleted, truncated, edited) is moved aside and made again.

Example:
    >>> from lesionviewer.phantom import PhantomConfig
    >>> folder = sample_study_path(config=PhantomConfig.preset("small").with_(num_slices=4))
    >>> sorted(p.name for p in folder.iterdir())[:2]
    ['IM000001.dcm', 'IM000002.dcm']
    >>> (folder.parent / "ground_truth.json").is_file()
    True
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import lesionviewer
from lesionviewer.paths import user_cache_dir
from lesionviewer.phantom import PhantomConfig, generate_patient, write_dicom_series, write_ground_truth
from lesionviewer.util.atomic import atomic_write_text
from lesionviewer.util.file_sha256 import file_sha256

MANIFEST_FORMAT = "lesionviewer-sample/1"
MANIFEST_NAME = "sample.json"
SERIES_FOLDER = "series"
GROUND_TRUTH_NAME = "ground_truth.json"

#: The seed of the shipped sample: with the settings below it gives a 512 x 512 x 48 series at
#: 2.5 mm slices with six to eight lesions of 6 to 45 mm, large ones any model finds and small ones
#: that test it (tests/test_sample_study.py checks this for the generator of the day).
SAMPLE_SEED = 3
#: Modest: the size of a real chest/abdomen CT slice, a fifth of a typical study's slice count, so
#: it is made in seconds and detected in well under a minute on a 2-core CPU. Its lesions have the
#: demo detector's training contrast (8 times a real lesion's difference from its surroundings,
#: resources/configs/demo_small_phantom.toml), so the shipped demo weights find them; the anatomy
#: is the realistic phantom's.
SAMPLE_CONFIG = PhantomConfig.preset("full").with_(
    num_slices=48,
    slice_intervals_mm=(2.5,),
    slice_interval_weights=(1.0,),
    lesions_per_patient=(6, 8),
    lesion_diameter_mm=(6.0, 45.0),
    phase="portal",
    lesion_contrast=8.0,
)
#: Unfinished samples older than this are left over from a killed process and removed.
STALE_TEMP_SECONDS = 3600.0


def sample_key(seed: int = SAMPLE_SEED, config: PhantomConfig | None = None) -> str:
    """The cache folder name of a sample: the library version, the seed and a digest of the settings.

    A new release or other settings give a new folder, so an old sample is never shown as the new one.

    Example:
        >>> sample_key(3).startswith("v" + lesionviewer.__version__ + "-seed3-")
        True
        >>> sample_key(3) == sample_key(4)
        False
    """
    cfg = SAMPLE_CONFIG if config is None else config
    digest = hashlib.sha256(repr((MANIFEST_FORMAT, cfg)).encode()).hexdigest()[:10]
    return f"v{lesionviewer.__version__}-seed{int(seed)}-{digest}"


def _relative_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


def sample_problem(folder: str | Path) -> str | None:
    """Why the sample in ``folder`` cannot be used (missing, incomplete or changed files), or None when it is whole.

    Example:
        >>> import tempfile
        >>> sample_problem(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        'no manifest ...'
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"no manifest ({manifest_path}: {exc.__class__.__name__})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        return f"{manifest_path} is not a {MANIFEST_FORMAT} manifest"
    expected: dict = manifest["files"]
    present = _relative_files(folder)
    if sorted(expected) != present:
        missing = sorted(set(expected) - set(present))
        extra = sorted(set(present) - set(expected))
        return f"files differ from the manifest (missing {missing[:3]}, unexpected {extra[:3]})"
    for name, digest in expected.items():
        if file_sha256(folder / name) != digest:
            return f"{name} has changed since it was written"
    return None


def _write_sample(folder: Path, seed: int, config: PhantomConfig) -> None:
    case = generate_patient(seed, config)
    write_dicom_series(case, folder / SERIES_FOLDER, patient_index=1)
    write_ground_truth(case, folder / GROUND_TRUTH_NAME, patient_index=1)
    files = {name: file_sha256(folder / name) for name in _relative_files(folder)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "lesionviewer_version": lesionviewer.__version__,
        "seed": int(seed),
        "config": repr(config),
        "files": files,
    }
    atomic_write_text(folder / MANIFEST_NAME, json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def _remove_quietly(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale_temps(parent: Path) -> None:
    now = time.time()
    for entry in parent.glob(".tmp-*"):
        try:
            if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                _remove_quietly(entry)
        except OSError:
            pass  # another process removed it first


def _move_aside(folder: Path) -> None:
    """Rename a damaged sample out of the way (atomic, so a reader never sees it half-deleted), then delete it."""
    trash = folder.with_name(f".tmp-damaged-{uuid.uuid4().hex}")
    try:
        os.rename(folder, trash)
    except OSError:
        return  # another process moved or replaced it already
    _remove_quietly(trash)


def sample_study_path(*, seed: int = SAMPLE_SEED, config: PhantomConfig | None = None,
                      cache_dir: str | Path | None = None) -> Path:
    """The sample study's DICOM series folder, made on first use and reused afterwards.

    ``seed`` and ``config`` choose another phantom (tests use small ones); ``cache_dir`` defaults to
    ``user_cache_dir()/"sample"``. Raises ``OSError`` when the cache folder cannot be written.

    Example:
        >>> from lesionviewer.io import load_volume
        >>> from lesionviewer.phantom import PhantomConfig
        >>> small = PhantomConfig.preset("small").with_(num_slices=3)
        >>> load_volume(sample_study_path(seed=1, config=small)).shape
        (3, 128, 128)
    """
    cfg = SAMPLE_CONFIG if config is None else config.validated()
    parent = Path(cache_dir) if cache_dir is not None else user_cache_dir() / "sample"
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / sample_key(seed, cfg)
    if final.is_dir():
        if sample_problem(final) is None:
            return final / SERIES_FOLDER
        _move_aside(final)
    _remove_stale_temps(parent)
    temp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    try:
        _write_sample(temp, seed, cfg)
        try:
            os.rename(temp, final)
        except OSError:
            # another process finished first (rename onto a non-empty folder fails): use theirs
            if sample_problem(final) is not None:
                raise
    finally:
        if temp.exists():
            _remove_quietly(temp)
    return final / SERIES_FOLDER


def sample_ground_truth_path(series_folder: str | Path | None = None) -> Path:
    """The ground-truth JSON beside a sample's series folder (by default the shipped sample's, made if needed).

    Example:
        >>> from lesionviewer.phantom import PhantomConfig, read_ground_truth
        >>> folder = sample_study_path(config=PhantomConfig.preset("small").with_(num_slices=3))
        >>> read_ground_truth(sample_ground_truth_path(folder))["volume"]["shape"]
        [3, 128, 128]
    """
    folder = Path(series_folder) if series_folder is not None else sample_study_path()
    return folder.parent / GROUND_TRUTH_NAME
