"""Train/validation ``.list`` files (one ``<npz path> <label>`` per line) from a seeded, patient-level split.

Every study of a patient goes to the same side, so no patient is in both; the validation side gets
about ``val_fraction`` of the patients, drawn separately among patients with and without a positive
study so both sides keep the class balance. Paths are written absolute when the preprocessed
folder is given absolute, and otherwise relative to the list file's folder (so a data folder can
be moved as a whole; readers resolve relative paths from the list's folder); a path containing a
space is refused, since the format splits on white space.

Example:
    >>> rows = [{"study": f"s{i}", "patient_id": f"P{i // 2}", "label": i % 4 == 0} for i in range(8)]
    >>> train, val = split_by_patient(rows, val_fraction=0.25, seed=0)
    >>> sorted({r["patient_id"] for r in train} & {r["patient_id"] for r in val})
    []
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lesionviewer.util.atomic import atomic_write_text


def split_by_patient(rows: list[dict[str, Any]], val_fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split rows (``study``, ``patient_id``, ``label``) into train and validation by patient.

    Example:
        >>> rows = [{"study": "a", "patient_id": "P", "label": 1}, {"study": "b", "patient_id": "P", "label": 0}]
        >>> [len(side) for side in split_by_patient(rows, 0.5)]
        [2, 0]
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, not {val_fraction!r}")
    patients: dict[str, int] = {}
    for row in rows:
        pid = str(row.get("patient_id") or row["study"])
        patients[pid] = max(patients.get(pid, 0), int(row["label"]))
    rng = np.random.default_rng(seed)
    val_ids: set[str] = set()
    for label in (0, 1):
        ids = sorted(p for p, l in patients.items() if l == label)
        count = int(round(len(ids) * val_fraction))
        if ids and count == 0 and len(patients) > 1:
            count = 1
        val_ids.update(ids[i] for i in rng.permutation(len(ids))[:count])
    train = [r for r in rows if str(r.get("patient_id") or r["study"]) not in val_ids]
    val = [r for r in rows if str(r.get("patient_id") or r["study"]) in val_ids]
    return train, val


def write_list(path: str | Path, rows: list[dict[str, Any]], npz_dir: str | Path) -> Path:
    """Write ``<npz_dir>/<study>.npz <label>`` lines atomically (a relative ``npz_dir`` as a path
    relative to the list's folder); returns the path.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_list(pathlib.Path(tempfile.mkdtemp()) / "t.list", [{"study": "a", "label": 1}], "/d")
        >>> p.read_text()
        '/d/a.npz 1\\n'
    """
    lines = []
    for row in rows:
        npz = Path(npz_dir) / f"{row['study']}.npz"
        if not npz.is_absolute():  # relative to the list's own folder, which is how readers resolve it
            npz = Path(os.path.relpath(npz.resolve(), Path(path).resolve().parent))
        if any(c.isspace() for c in str(npz)):
            raise ValueError(f"{npz}: a path with white space cannot go into a .list file")
        lines.append(f"{npz} {int(row['label'])}\n")
    atomic_write_text(path, "".join(lines))
    return Path(path)


def read_list(path: str | Path) -> list[tuple[Path, int]]:
    """``(npz path, label)`` pairs of a ``.list`` file; errors name the file and line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.list"; _ = p.write_text("a.npz 0\\n\\nb.npz 1\\n")
        >>> read_list(p)
        [(PosixPath('a.npz'), 0), (PosixPath('b.npz'), 1)]
    """
    pairs = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1"):
            raise ValueError(f"{path}:{number}: expected '<volume.npz> <0|1>', got {line!r}")
        pairs.append((Path(parts[0]), int(parts[1])))
    return pairs


def make_lists(labels_csv: str | Path, npz_dir: str | Path, out_dir: str | Path, val_fraction: float = 0.2,
               seed: int = 0) -> tuple[Path, Path]:
    """``train.list`` and ``val.list`` in ``out_dir`` from a ``labels.csv`` (studies whose ``.npz`` exists).

    Example:
        >>> import tempfile
        >>> work = Path(tempfile.mkdtemp())
        >>> _ = (work / "labels.csv").write_text("study,patient_id,label\\na,P1,1\\nb,P1,0\\nc,P2,0\\nd,P3,1\\n"
        ...                                      "e,P4,0\\nf,P5,0\\n")
        >>> for study in "abcdf":  # e has no .npz: left out
        ...     _ = (work / f"{study}.npz").write_bytes(b"")
        >>> train, val = make_lists(work / "labels.csv", work, work / "lists", val_fraction=0.5, seed=0)
        >>> [sorted(p.stem for p, _ in read_list(f)) for f in (train, val)]  # P1's a and b stay together
        [['d', 'f'], ['a', 'b', 'c']]
    """
    from lesionviewer.risk.phantom_cohort import read_labels

    rows = [r for r in read_labels(labels_csv) if (Path(npz_dir) / f"{r['study']}.npz").is_file()]
    if not rows:
        raise ValueError(f"{npz_dir}: none of the studies in {labels_csv} has a preprocessed .npz")
    train, val = split_by_patient(rows, val_fraction, seed)
    out_dir = Path(out_dir)
    return write_list(out_dir / "train.list", train, npz_dir), write_list(out_dir / "val.list", val, npz_dir)
