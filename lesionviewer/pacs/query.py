"""What to search for (:class:`StudyQuery`) and what a search returns (:class:`StudyRecord`,
:class:`SeriesRecord`), the same for DIMSE C-FIND and DICOMweb QIDO-RS.

Example:
    >>> q = StudyQuery(patient_id="LIDC*", date_from="20000101", modality="CT")
    >>> q.qido_params()["PatientID"], q.qido_params()["StudyDate"]
    ('LIDC*', '20000101-')
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_DATE = re.compile(r"^\d{8}$")

#: the attributes a study search asks for (and returns)
STUDY_FIELDS = ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "StudyDescription",
                "AccessionNumber", "ModalitiesInStudy", "NumberOfStudyRelatedInstances")
#: the attributes a series search asks for (and returns)
SERIES_FIELDS = ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription",
                 "NumberOfSeriesRelatedInstances")


@dataclass(frozen=True)
class StudyQuery:
    """Search terms; empty means "any". Names and IDs take DICOM wildcards (``*``, ``?``); dates
    are ``YYYYMMDD``, either end of the range may be left open.

    Example:
        >>> StudyQuery(date_from="2020-01-01")
        Traceback (most recent call last):
        ...
        ValueError: date_from must be YYYYMMDD, not '2020-01-01'
    """

    patient_id: str = ""
    patient_name: str = ""
    accession: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value and not _DATE.match(value):
                raise ValueError(f"{name} must be YYYYMMDD, not {value!r}")

    @property
    def date_range(self) -> str:
        """The DICOM date-range matching string (``""`` when both ends are open).

        Example:
            >>> StudyQuery(date_to="20201231").date_range
            '-20201231'
        """
        if not self.date_from and not self.date_to:
            return ""
        if self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from}-{self.date_to}"

    def matching(self) -> dict[str, str]:
        """The attributes to match on, keyword to value (only those set).

        Example:
            >>> StudyQuery(patient_name="DOE^*", modality="CT").matching()
            {'PatientName': 'DOE^*', 'ModalitiesInStudy': 'CT'}
        """
        pairs = {"PatientID": self.patient_id, "PatientName": self.patient_name, "AccessionNumber": self.accession,
                 "StudyDate": self.date_range, "ModalitiesInStudy": self.modality}
        return {k: v for k, v in pairs.items() if v}

    def qido_params(self) -> dict[str, str]:
        """QIDO-RS search parameters.

        Example:
            >>> StudyQuery(accession="A1").qido_params()
            {'AccessionNumber': 'A1'}
        """
        return self.matching()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\\".join(_text(v) for v in value)
    return str(value)


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class StudyRecord:
    """One study found on a server.

    Example:
        >>> StudyRecord.from_mapping({"StudyInstanceUID": "1.2", "PatientName": "DOE^J"}).patient_name
        'DOE^J'
    """

    study_uid: str
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    description: str = ""
    accession: str = ""
    modalities: str = ""
    instances: int | None = None

    @classmethod
    def from_mapping(cls, get: Any) -> "StudyRecord":
        """From anything with ``.get(keyword)`` (a pydicom Dataset, or a dict of keywords to values).

        Example:
            >>> StudyRecord.from_mapping({"StudyInstanceUID": "9", "NumberOfStudyRelatedInstances": "3"}).instances
            3
        """
        g = get.get
        return cls(study_uid=_text(g("StudyInstanceUID")), patient_id=_text(g("PatientID")),
                   patient_name=_text(g("PatientName")), study_date=_text(g("StudyDate")),
                   description=_text(g("StudyDescription")), accession=_text(g("AccessionNumber")),
                   modalities=_text(g("ModalitiesInStudy")), instances=_int(g("NumberOfStudyRelatedInstances")))


@dataclass(frozen=True)
class SeriesRecord:
    """One series found on a server.

    Example:
        >>> SeriesRecord.from_mapping({"SeriesInstanceUID": "1.3", "Modality": "CT", "SeriesNumber": "2"}).number
        2
    """

    study_uid: str
    series_uid: str
    modality: str = ""
    number: int | None = None
    description: str = ""
    instances: int | None = None

    @classmethod
    def from_mapping(cls, get: Any) -> "SeriesRecord":
        """From anything with ``.get(keyword)``.

        Example:
            >>> SeriesRecord.from_mapping({"SeriesInstanceUID": "1"}).instances is None
            True
        """
        g = get.get
        return cls(study_uid=_text(g("StudyInstanceUID")), series_uid=_text(g("SeriesInstanceUID")),
                   modality=_text(g("Modality")), number=_int(g("SeriesNumber")),
                   description=_text(g("SeriesDescription")), instances=_int(g("NumberOfSeriesRelatedInstances")))
