"""Reviews saved by earlier versions under the bare SeriesInstanceUID, moved to the series' content key.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from lesionviewer.io import Volume
    >>> v = Volume(np.zeros((3, 2, 2), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": "1.2.3"})
    >>> adopt_legacy_review(v, series_key(v), pathlib.Path(tempfile.mkdtemp()) / "new.json")  # no old file
    False
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lesionviewer.io.series_identity import identity_of
from lesionviewer.review.review_file import read_review_file, write_review_file
from lesionviewer.review.series_key import legacy_series_key, series_key  # noqa: F401 - series_key: the doctest


def adopt_legacy_review(volume: Any, key: str, path: str | Path) -> bool:
    """Move a review saved under the bare SeriesInstanceUID to ``path`` (the review of ``key``) when it fits.

    It fits when it records the volume's slice count and its study (or none). The old file is
    renamed ``<uid>.json.moved-to-<key>`` so that no other series sharing the UID adopts it too.
    Nothing happens when ``path`` exists, there is no old file, or it does not fit; True when moved.

    Example:
        >>> import json, tempfile, pathlib, numpy as np
        >>> from lesionviewer.io import Volume
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> v = Volume(np.zeros((3, 2, 2), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": "1.2.3"})
        >>> _ = (folder / "1.2.3.json").write_text(json.dumps({"format_version": 1, "series_key": "1.2.3", "num_slices": 3}))
        >>> key = series_key(v)
        >>> adopt_legacy_review(v, key, folder / f"{key}.json"), json.loads((folder / f"{key}.json").read_text())["series_key"] == key
        (True, True)
    """
    path = Path(path)
    legacy = legacy_series_key(volume)
    if legacy is None or legacy == key or path.exists():
        return False
    old = path.with_name(f"{legacy}.json")
    try:
        if not old.is_file():
            return False
        data = read_review_file(old)
    except Exception:  # an unreadable old file stays where it is, untouched
        return False
    study = identity_of(volume).study_uid
    slices = data.get("num_slices")
    if slices is not None and slices != volume.shape[0]:
        return False
    if str(data.get("study_uid") or "") not in ("", study) or data.get("series_key") != legacy:
        return False
    data = dict(data)
    data["series_key"] = key
    try:
        write_review_file(path, data)
        os.replace(old, old.with_name(f"{old.name}.moved-to-{key}"))
    except OSError:
        return False
    return True
