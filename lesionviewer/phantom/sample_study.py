"""The viewer's sample study: one phantom CT (DICOM) with four lesions, written to the user cache on first use.

It is a portal-venous chest/abdomen series, 512 x 512 x 48 slices at 5 mm, with five lesions:
a mediastinal and an abdominal lymph node, two liver lesions and a lung nodule (the seed was
chosen for that mix; a test keeps it varied).
The ground truth sits beside the series as ``ground_truth.json``. The folder is written
under a temporary name and renamed when complete, so an interrupted first run never leaves
half a study behind.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> cache = Path(tempfile.mkdtemp())
    >>> series = sample_study_path(cache, config=SAMPLE_CONFIG.with_(matrix=64, num_slices=6))
    >>> series.name, len(list(series.glob("*.dcm"))), (series.parent / "ground_truth.json").is_file()
    ('series', 6, True)
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.dicom_writer import write_dicom_series
from lesionviewer.phantom.generator import generate_patient
from lesionviewer.phantom.ground_truth import write_ground_truth

SAMPLE_SEED = 3
SAMPLE_CONFIG = PhantomConfig.preset("full").with_(
    num_slices=48, slice_intervals_mm=(5.0,), slice_interval_weights=(1.0,), phase="portal", lesions_per_patient=(4, 5)
)


def sample_version() -> str:
    """``phantom-<hash of the generator's source>``: a cached sample from other generator code is not reused.

    Example:
        >>> v = sample_version()
        >>> v.startswith("phantom-") and len(v) == len("phantom-") + 12
        True
    """
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        if source.name not in ("cli.py", "realism.py", "dataset.py"):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return "phantom-" + digest.hexdigest()[:12]


def sample_study_path(cache_dir: str | Path | None = None, config: PhantomConfig | None = None) -> Path:
    """Folder of the sample study's DICOM series (created on first call, then reused).

    ``cache_dir`` defaults to :func:`lesionviewer.paths.user_cache_dir`; ``config`` is for tests.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> d = Path(tempfile.mkdtemp())
        >>> cfg = SAMPLE_CONFIG.with_(matrix=48, num_slices=3)
        >>> sample_study_path(d, cfg) == sample_study_path(d, cfg)
        True
    """
    if cache_dir is None:
        from lesionviewer.paths import user_cache_dir

        cache_dir = user_cache_dir()
    cfg = config or SAMPLE_CONFIG
    tag = sample_version() if config is None else f"{sample_version()}-{cfg.matrix}x{cfg.num_slices}"
    parent = Path(cache_dir) / "sample_study"
    final = parent / tag
    if (final / "ground_truth.json").is_file() and (final / "series").is_dir():
        return final / "series"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".writing-", dir=parent))
    try:
        case = generate_patient(SAMPLE_SEED, cfg)
        write_dicom_series(case, work / "series", patient_index=1)
        write_ground_truth(case, work / "ground_truth.json", patient_index=1)
        try:
            os.replace(work, final)
        except OSError:
            # another process finished first; its copy is identical (same seed)
            if not (final / "ground_truth.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final / "series"
