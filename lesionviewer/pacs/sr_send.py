"""Send the DICOM SR (TID 1500) of a review to a PACS: written with
:func:`lesionviewer.review.sr_export.export_sr`, then stored with C-STORE or STOW-RS.

``uid_seed`` makes the SR's series and instance UIDs a function of the seed (a name-based UUID),
so sending the same report again replaces it on the PACS instead of adding a second one (the
AI node uses the source series UID and the model name).

Example:
    >>> stable_uid("series-1.2.3/demo") == stable_uid("series-1.2.3/demo"), stable_uid("x")[:5]
    (True, '2.25.')
"""
from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesionviewer.util.atomic import atomic_write_bytes


def stable_uid(seed: str) -> str:
    """A DICOM UID (2.25 form) derived from ``seed``: the same seed always gives the same UID.

    Example:
        >>> len(stable_uid("a")) <= 64
        True
    """
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'lesionviewer-sr/' + seed).int}"


@dataclass(frozen=True)
class SentReport:
    """What was stored: the SR's UIDs, the number of ROI/measurement groups, and the file sent.

    Example:
        >>> SentReport("1", "2", "3", 4, Path("r.dcm")).groups
        4
    """

    study_uid: str
    series_uid: str
    sop_uid: str
    groups: int
    path: Path


def write_sr(session: Any, volume: Any, path: str | Path, *, selection: str = "accepted",
             uid_seed: str | None = None) -> SentReport:
    """Write the SR of ``session`` to ``path`` (atomically); with ``uid_seed``, with stable UIDs.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.review.session import ReviewSession
        >>> write_sr(ReviewSession("1.2"), Volume(np.zeros((1, 4, 4), np.int16), (1, 1, 1)), "/tmp/x.dcm")
        Traceback (most recent call last):
        ...
        ValueError: DICOM SR export needs a study loaded from DICOM files; this one came from a non-DICOM source
    """
    import pydicom

    from lesionviewer.review.sr_export import export_sr

    path = Path(path)
    groups = export_sr(session, volume, path, selection=selection)
    ds = pydicom.dcmread(path)
    if uid_seed is not None:
        ds.SeriesInstanceUID = stable_uid(uid_seed + "/series")
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = stable_uid(uid_seed + "/instance")
        from io import BytesIO

        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        atomic_write_bytes(path, buffer.getvalue())
    return SentReport(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), groups, path)


def send_sr(client: Any, session: Any, volume: Any, *, selection: str = "accepted", uid_seed: str | None = None,
            folder: str | Path | None = None) -> SentReport:
    """Write the SR of ``session`` and store it with ``client`` (a DIMSE or DICOMweb client).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.review.session import ReviewSession
        >>> class Client:
        ...     def store(self, files): print("stored", len(files))
        >>> send_sr(Client(), ReviewSession("1.2"), Volume(np.zeros((1, 4, 4), np.int16), (1, 1, 1)))
        Traceback (most recent call last):
        ...
        ValueError: DICOM SR export needs a study loaded from DICOM files; this one came from a non-DICOM source
    """
    with tempfile.TemporaryDirectory(dir=folder) as work:
        report = write_sr(session, volume, Path(work) / "report.dcm", selection=selection, uid_seed=uid_seed)
        client.store([report.path])
    return report
