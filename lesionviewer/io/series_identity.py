"""What a loaded series is: its study, series and frame-of-reference UIDs, patient, modality, description
and the position each slice's file gave, as one frozen, typed record (``Volume.identity``).

Every loader fills it; everything that names a series (review keys, exports, the viewer's title) reads
it here rather than from ``Volume.meta``, whose keys are free-form extras of one loader or another.
``from_meta`` is the single place that still understands the older ``meta`` spellings (DICOM keywords
such as ``SeriesInstanceUID``, or snake case such as ``series_uid``), for volumes built by hand.

Example:
    >>> identity = SeriesIdentity.from_meta({"SeriesInstanceUID": "1.2.3 ", "Modality": "CT"})
    >>> identity.series_uid, identity.modality, identity.study_uid
    ('1.2.3', 'CT', '')
    >>> SeriesIdentity().is_empty(), identity.is_empty()
    (True, False)
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Sequence

Position = tuple[float, float, float]

# The Volume.meta spellings accepted for each text field: DICOM keywords first, then snake case.
META_NAMES: dict[str, tuple[str, ...]] = {
    "study_uid": ("StudyInstanceUID", "study_instance_uid", "study_uid"),
    "series_uid": ("SeriesInstanceUID", "series_instance_uid", "series_uid"),
    "frame_of_reference_uid": ("FrameOfReferenceUID", "frame_of_reference_uid"),
    "modality": ("Modality", "modality"),
    "description": ("SeriesDescription", "series_description"),
    "patient_id": ("PatientID", "patient_id"),
    "patient_name": ("PatientName", "patient_name"),
}


def clean_text(value: Any) -> str:
    """A header value as text without DICOM's padding (spaces and NULs); ``""`` for None.

    Example:
        >>> clean_text(" 1.2.3\\x00"), clean_text(None), clean_text(12)
        ('1.2.3', '', '12')
    """
    return "" if value is None else str(value).strip(" \x00")


def _position(value: Any) -> Position | None:
    try:
        x, y, z = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (x, y, z)


@dataclass(frozen=True)
class SeriesIdentity:
    """The identity of a series as its files state it; ``""`` (or ``()``) where they do not.

    ``positions`` holds, per slice of the volume, the patient position (x, y, z) in mm that slice's
    file gave (None for a slice without one, or a missing slice), or is empty when the format has
    no per-slice positions (NIfTI and the like: the geometry is then the volume's own).

    Example:
        >>> a = SeriesIdentity(series_uid="1.2", positions=((0, 0, 0), None))
        >>> a.positions, a.with_description("arterial").description
        (((0.0, 0.0, 0.0), None), 'arterial')
    """

    study_uid: str = ""
    series_uid: str = ""
    frame_of_reference_uid: str = ""
    modality: str = ""
    description: str = ""
    patient_id: str = ""
    patient_name: str = ""
    positions: tuple[Position | None, ...] = ()

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "positions":
                object.__setattr__(self, f.name, clean_text(getattr(self, f.name)))
        object.__setattr__(self, "positions", tuple(_position(p) for p in self.positions))

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any] | None) -> SeriesIdentity:
        """The identity a ``Volume.meta`` dict describes (older spellings accepted; see module docstring).

        Example:
            >>> SeriesIdentity.from_meta({"study_uid": "1.9", "image_positions": [[1, 2, 3]]}).positions
            ((1.0, 2.0, 3.0),)
        """
        meta = meta if isinstance(meta, Mapping) else {}
        values: dict[str, Any] = {}
        for name, spellings in META_NAMES.items():
            for spelling in spellings:
                text = clean_text(meta.get(spelling))
                if text:
                    values[name] = text
                    break
        positions = meta.get("image_positions")
        if isinstance(positions, Sequence) and not isinstance(positions, (str, bytes)):
            values["positions"] = tuple(positions)
        return cls(**values)

    def is_empty(self) -> bool:
        """True when nothing is known (a volume built from an array alone).

        Example:
            >>> SeriesIdentity(modality="CT").is_empty()
            False
        """
        return self == SeriesIdentity()

    def with_description(self, description: str) -> SeriesIdentity:
        """A copy with another series description.

        Example:
            >>> SeriesIdentity(description="a").with_description("b").description
            'b'
        """
        return replace(self, description=description)

    def positions_for(self, num_slices: int) -> tuple[Position | None, ...] | None:
        """The per-slice positions when there is one entry per slice of a ``num_slices`` volume, else None.

        Example:
            >>> SeriesIdentity(positions=((0, 0, 0), (0, 0, 1))).positions_for(2) is not None
            True
            >>> SeriesIdentity(positions=((0, 0, 0),)).positions_for(2) is None
            True
        """
        return self.positions if len(self.positions) == num_slices else None


def identity_of(volume: Any) -> SeriesIdentity:
    """``volume.identity``; for an object without one (an older caller's stand-in), read from its ``meta``.

    Example:
        >>> from types import SimpleNamespace
        >>> identity_of(SimpleNamespace(meta={"PatientID": "p1"})).patient_id
        'p1'
    """
    identity = getattr(volume, "identity", None)
    if isinstance(identity, SeriesIdentity):
        return identity
    return SeriesIdentity.from_meta(getattr(volume, "meta", None))
