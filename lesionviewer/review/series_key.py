"""A stable, file-name-safe key for a CT series' content, under which its review is saved.

A DICOM series with a well-formed SeriesInstanceUID gets ``<uid>-<hash>``: the hash covers the
study and patient, the image size and every slice's position, so two different contents that share
a SeriesInstanceUID (a split series, a copy re-used by an anonymiser, another patient's study)
never share a review, while reopening the same files from another folder finds it again. Other
volumes get ``vol-<hash>`` of the geometry and of a few slices' pixels (file names and folders do
not enter either hash).

Reviews saved by earlier versions under the bare SeriesInstanceUID are still found:
:func:`lesionviewer.review.legacy_review.adopt_legacy_review` moves such a file to the new key when its slice count and study match.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> key = series_key(Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": "1.2.840.99"}))
    >>> key.startswith("1.2.840.99-"), len(key)
    (True, 27)
    >>> series_key(Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1)))[:4]
    'vol-'
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from lesionviewer.io.series_identity import identity_of

# DICOM UIDs are digits and dots, at most 64 characters. Anything else read from a file is
# untrusted (it could be "../../x") and is hashed instead of used as a file name.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Hex characters of the content hash after the UID (64 bits: no accidental collision).
CONTENT_HASH_CHARS = 16

def series_key(volume: Any) -> str:
    """The key of ``volume``'s review: ``<SeriesInstanceUID>-<content hash>``, else ``vol-<sha1 of geometry+pixels>``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> a = Volume(np.ones((3, 4, 4), np.int16), (2, 1, 1), meta={"SeriesInstanceUID": "../../evil"})
        >>> key = series_key(a)
        >>> key.startswith("vol-"), is_valid_key(key)
        (True, True)
        >>> first = Volume(np.ones((3, 4, 4), np.int16), (2, 1, 1), meta={"SeriesInstanceUID": "1.2.3"})
        >>> second = Volume(np.ones((3, 4, 4), np.int16), (2, 1, 1), origin=(0, 0, 6), meta={"SeriesInstanceUID": "1.2.3"})
        >>> series_key(first) == series_key(second)  # one UID, two different slice stacks
        False
    """
    uid = identity_of(volume).series_uid
    if _UID.match(uid) and len(uid) <= 64:
        return f"{uid}-{content_digest(volume)[:CONTENT_HASH_CHARS]}"
    digest = hashlib.sha1()
    if uid:
        digest.update(b"uid:" + uid.encode("utf-8", "replace"))
    digest.update(repr((volume.shape, volume.spacing, volume.origin)).encode())
    digest.update(np.asarray(volume.direction, dtype=np.float64).round(6).tobytes())
    hu = np.ascontiguousarray(volume.hu)
    # First, middle and last slice: enough to tell series apart, cheap on a 500-slice volume.
    for z in sorted({0, hu.shape[0] // 2, hu.shape[0] - 1}):
        digest.update(np.ascontiguousarray(hu[z], dtype="<i2").tobytes())
    return "vol-" + digest.hexdigest()[:32]


def content_digest(volume: Any) -> str:
    """A sha1 (hex) of what a series is: study, series, patient, image size and every slice's position.

    Positions come from the files (``volume.identity.positions``, as the loader read them) where
    the volume has them, else from the volume's geometry; they are rounded to 0.01 mm.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> v = Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1), meta={"StudyInstanceUID": "1.2"})
        >>> content_digest(v) == content_digest(Volume(np.ones((2, 4, 4), np.int16), (1, 1, 1), meta={"StudyInstanceUID": "1.2"}))
        True
        >>> content_digest(v) == content_digest(Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1), meta={"StudyInstanceUID": "1.3"}))
        False
    """
    identity = identity_of(volume)
    digest = hashlib.sha1()
    for name, value in (("study_uid", identity.study_uid), ("series_uid", identity.series_uid),
                        ("patient_id", identity.patient_id)):
        digest.update(f"{name}={value}\n".encode("utf-8", "replace"))
    digest.update(f"shape={tuple(int(n) for n in volume.shape)}\n".encode())
    digest.update(f"pixel={float(volume.spacing[1]):.4f},{float(volume.spacing[2]):.4f}\n".encode())
    recorded = identity.positions_for(volume.shape[0])
    for k in range(volume.shape[0]):
        position = recorded[k] if recorded is not None else None
        if position is None:
            position = volume.index_to_patient(k, 0, 0)
        try:
            text = ",".join(f"{float(v):.2f}" for v in position)
        except (TypeError, ValueError):
            text = "?"
        digest.update(f"{k}:{text}\n".encode())
    return digest.hexdigest()


def legacy_series_key(volume: Any) -> str | None:
    """The key earlier versions saved this volume's review under (its bare SeriesInstanceUID), or None.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> legacy_series_key(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": "1.2.3"}))
        '1.2.3'
    """
    uid = identity_of(volume).series_uid
    return uid if _UID.match(uid) and len(uid) <= 64 else None


def is_valid_key(key: str) -> bool:
    """True when ``key`` is safe as a file name (letters, digits, ``.``, ``_``, ``-``; no leading dot).

    Example:
        >>> is_valid_key("1.2.3"), is_valid_key("../x"), is_valid_key("a/b"), is_valid_key("")
        (True, False, False, False)
    """
    return bool(_KEY.match(key)) and ".." not in key
