"""A stable, file-name-safe key for a CT series, under which its review is saved.

The SeriesInstanceUID when the volume has a well-formed one; otherwise a hash of the geometry
and of a few slices' pixels, so that a NIfTI file or a DeepLesion PNG folder gets the same key
when it is reopened from another place (file names and folders do not enter the hash).

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> series_key(Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1), meta={"SeriesInstanceUID": "1.2.840.99"}))
    '1.2.840.99'
    >>> series_key(Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1)))[:4]
    'vol-'
"""
from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

# DICOM UIDs are digits and dots, at most 64 characters. Anything else read from a file is
# untrusted (it could be "../../x") and is hashed instead of used as a file name.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Volume.meta spellings accepted for each field: DICOM keywords first, then snake case.
META_NAMES = {
    "series_uid": ("SeriesInstanceUID", "series_instance_uid", "series_uid"),
    "study_uid": ("StudyInstanceUID", "study_instance_uid", "study_uid"),
    "series_description": ("SeriesDescription", "series_description"),
    "patient_name": ("PatientName", "patient_name"),
    "patient_id": ("PatientID", "patient_id"),
}


def meta_text(meta: dict[str, Any], field: str) -> str:
    """The text of ``field`` (one of :data:`META_NAMES`) from a ``Volume.meta`` dict, or ``""``.

    Example:
        >>> meta_text({"StudyInstanceUID": "1.2"}, "study_uid"), meta_text({}, "study_uid")
        ('1.2', '')
    """
    for name in META_NAMES[field]:
        value = meta.get(name)
        if value not in (None, ""):
            return str(value).strip(" \x00")  # DICOM pads with spaces and NULs
    return ""


def series_key(volume: Any) -> str:
    """The key of ``volume``'s review: its SeriesInstanceUID, else ``vol-<sha1 of geometry+pixels>``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> a = Volume(np.ones((3, 4, 4), np.int16), (2, 1, 1), meta={"SeriesInstanceUID": "../../evil"})
        >>> key = series_key(a)
        >>> key.startswith("vol-"), is_valid_key(key)
        (True, True)
    """
    uid = meta_text(volume.meta, "series_uid")
    if _UID.match(uid) and len(uid) <= 64:
        return uid
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


def is_valid_key(key: str) -> bool:
    """True when ``key`` is safe as a file name (letters, digits, ``.``, ``_``, ``-``; no leading dot).

    Example:
        >>> is_valid_key("1.2.3"), is_valid_key("../x"), is_valid_key("a/b"), is_valid_key("")
        (True, False, False, False)
    """
    return bool(_KEY.match(key)) and ".." not in key
