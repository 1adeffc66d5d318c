"""Check the training data a config names before any heavy work: folders, the table, boxes, splits.

``lesionviewer-train train`` calls :func:`check_training_data` before it starts processes, builds
a network or reads an image, so a wrong path or a broken table costs a second and one clear line
(exit code 5, "data could not be read") instead of a traceback after an epoch. Checked: the data
root and its ``Images_png/`` folder exist; the annotation table can be read and holds lesions;
every box is finite with ``x1 < x2`` and ``y1 < y2`` (not inverted, not NaN); the training split is
not empty; the validation split is not empty when validation runs (``eval.every_epochs > 0``) and
the test split is not empty when the test runs (``eval.test_at_end``).

Example:
    >>> import tempfile
    >>> from lesionviewer.training.config import TrainingConfig
    >>> from lesionviewer.training.toy_data import write_toy_deeplesion
    >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=4, size=32, slices=4)
    >>> check_training_data(TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3}}))
    {'train': 2, 'val': 1, 'test': 1}
"""
from __future__ import annotations

import math
from pathlib import Path

from lesionviewer.training.config import TrainingConfig

#: How many bad boxes a message lists.
SHOWN = 3


class TrainingDataError(ValueError):
    """The training data cannot be used; the message names the file or folder and what is wrong.

    Example:
        >>> str(TrainingDataError("/d: no such folder"))
        '/d: no such folder'
    """


def _box_problem(box) -> str | None:
    values = [float(v) for v in box]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        return "is not 4 finite numbers"
    x1, y1, x2, y2 = values
    if x2 <= x1 or y2 <= y1:
        return "is inverted or empty (x2 <= x1 or y2 <= y1)"
    if x1 < 0 or y1 < 0:
        return "starts at a negative pixel"
    return None


def check_training_data(cfg: TrainingConfig) -> dict[str, int]:
    """Key slices per split after the checks above; :class:`TrainingDataError` saying what is wrong.

    Example:
        >>> from lesionviewer.training.config import TrainingConfig
        >>> check_training_data(TrainingConfig.from_dict({"data": {"root": "/no/such/DeepLesion"}}))
        Traceback (most recent call last):
        ...
        lesionviewer.training.data_check.TrainingDataError: data.root /no/such/DeepLesion: no such folder
    """
    from lesionviewer.io.errors import LoadError
    from lesionviewer.training.key_slices import SPLITS, group_key_slices, read_lesion_rows
    from lesionviewer.training.splits import dl_info_path

    root = Path(cfg.data.root)
    if not root.is_dir():
        raise TrainingDataError(f"data.root {root}: no such folder")
    if not (root / "Images_png").is_dir():
        raise TrainingDataError(f"data.root {root}: holds no Images_png/ folder (the DeepLesion layout: "
                                "Images_png/<patient>_<study>_<series>/<slice>.png)")
    table = dl_info_path(cfg)
    if not table.is_file():
        raise TrainingDataError(f"{table}: the annotation table is missing (set data.dl_info or put DL_info.csv "
                                "in data.root)")
    try:
        rows = read_lesion_rows(table)
    except LoadError as err:
        raise TrainingDataError(str(err)) from None
    except (ValueError, TypeError, IndexError, KeyError) as err:
        raise TrainingDataError(f"{table}: cannot be read ({type(err).__name__}: {err})") from None
    if not rows:
        raise TrainingDataError(f"{table}: the table holds no lesion (only a header, or nothing)")
    bad = []
    for row in rows:
        problem = _box_problem(row["box"])
        if problem is not None:
            bad.append(f"{row['series']} slice {row['key_slice']}: box {list(row['box'])} {problem}")
    if bad:
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise TrainingDataError(f"{table}: {len(bad)} lesion box(es) cannot be used: {'; '.join(bad[:SHOWN])}{more}")
    key_slices = group_key_slices(rows, drop_noisy=cfg.data.drop_noisy)
    counts = {split: sum(1 for k in key_slices if k.split == split) for split in SPLITS}
    if counts["train"] == 0:
        raise TrainingDataError(f"{table}: the training split is empty (no usable row with Train_Val_Test = 1)")
    if counts["val"] == 0 and cfg.eval.every_epochs > 0:
        raise TrainingDataError(f"{table}: the validation split is empty (no usable row with Train_Val_Test = 2); "
                                "add validation cases or set eval.every_epochs = 0")
    if counts["test"] == 0 and cfg.eval.test_at_end:
        raise TrainingDataError(f"{table}: the test split is empty (no usable row with Train_Val_Test = 3); "
                                "add test cases or set eval.test_at_end = false")
    return counts
