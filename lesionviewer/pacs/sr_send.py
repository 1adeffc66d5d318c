"""Send the DICOM SR (TID 1500) of a review to a PACS: written with
:func:`lesionviewer.review.sr_export.export_sr`, then stored with C-STORE or STOW-RS.

The review's CSV (:func:`lesionviewer.review.csv_export.export_csv`, no patient columns) goes inside
the SR as a TEXT item *Findings table (CSV)* (scheme ``99LVIEW``) in a *Qualitative Evaluations*
container, the place TID 1500 leaves for free text, so a PACS user gets the table with the report.

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


CSV_CODE = ("findings-csv", "99LVIEW", "Findings table (CSV)")
_QUALITATIVE = ("C0034375", "UMLS", "Qualitative Evaluations")


def _code(value: str, scheme: str, meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def csv_item(text: str):
    """The SR content item carrying the CSV: a Qualitative Evaluations container with one TEXT item.

    Example:
        >>> item = csv_item("row_type,score\\nfinding,0.9\\n")
        >>> item.ValueType, item.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning
        ('CONTAINER', 'Findings table (CSV)')
    """
    from pydicom.dataset import Dataset

    text_item = Dataset()
    text_item.RelationshipType, text_item.ValueType = "CONTAINS", "TEXT"
    text_item.ConceptNameCodeSequence = [_code(*CSV_CODE)]
    text_item.TextValue = text
    container = Dataset()
    container.RelationshipType, container.ValueType = "CONTAINS", "CONTAINER"
    container.ConceptNameCodeSequence = [_code(*_QUALITATIVE)]
    container.ContinuityOfContent = "SEPARATE"
    container.ContentSequence = [text_item]
    return container


def csv_in_sr(sr: Any) -> str | None:
    """The CSV text inside an SR written by :func:`write_sr` (a path or a pydicom Dataset), or None.

    Example:
        >>> from pydicom.dataset import Dataset
        >>> ds = Dataset(); ds.ContentSequence = [csv_item("a,b\\n")]
        >>> csv_in_sr(ds), csv_in_sr(Dataset())
        ('a,b\\n', None)
    """
    import pydicom

    ds = sr if isinstance(sr, pydicom.Dataset) else pydicom.dcmread(sr)
    for item in ds.get("ContentSequence", []):
        for child in item.get("ContentSequence", []) if item.get("ValueType") == "CONTAINER" else []:
            names = child.get("ConceptNameCodeSequence", [])
            if child.get("ValueType") == "TEXT" and names and names[0].CodeValue == CSV_CODE[0]:
                return str(child.TextValue)
    return None


def write_sr(session: Any, volume: Any, path: str | Path, *, selection: str = "accepted",
             uid_seed: str | None = None, include_csv: bool = True) -> SentReport:
    """Write the SR of ``session`` to ``path`` (atomically), with the CSV inside unless
    ``include_csv`` is False; with ``uid_seed``, with stable UIDs.

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
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.UID(stable_uid(uid_seed + "/instance"))
    if include_csv:
        from lesionviewer.review.csv_export import export_csv

        with tempfile.TemporaryDirectory() as work:
            table = Path(work) / "findings.csv"
            export_csv(session, table, selection=selection)
            ds.ContentSequence.append(csv_item(table.read_text(encoding="utf-8-sig")))
    if uid_seed is not None or include_csv:
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
