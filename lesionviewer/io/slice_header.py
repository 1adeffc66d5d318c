"""What the loader keeps of one DICOM image's header (``SliceHeader``) and the transfer syntaxes it names.

Example:
    >>> SliceHeader("a.dcm", EXPLICIT_LITTLE, 512, 512).expected_pixel_bytes
    524288
"""
from __future__ import annotations

from dataclasses import dataclass

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
UNCOMPRESSED_LITTLE_ENDIAN = frozenset({IMPLICIT_LITTLE, EXPLICIT_LITTLE})


@dataclass(frozen=True)
class SliceHeader:
    """What the loader needs from one DICOM file (one image), taken from its header.

    ``orientation`` is ImageOrientationPatient (row direction then column direction),
    ``position`` is ImagePositionPatient, ``pixel_spacing`` is (row step, column step) in mm.
    ``pixel_offset``/``pixel_length`` locate native pixel data in the file
    (``pixel_length`` is None for encapsulated, i.e. compressed, data).

    Example:
        >>> h = SliceHeader(path="a.dcm", transfer_syntax=EXPLICIT_LITTLE, rows=2, columns=2)
        >>> h.is_localizer, h.expected_pixel_bytes
        (False, 8)
    """

    path: str
    transfer_syntax: str
    rows: int
    columns: int
    bits_allocated: int = 16
    bits_stored: int = 16
    pixel_representation: int = 0
    samples_per_pixel: int = 1
    photometric: str = "MONOCHROME2"
    number_of_frames: int = 1
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    instance_number: int | None = None
    image_type: tuple[str, ...] = ()
    modality: str = ""
    sop_class_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    study_uid: str = ""
    series_uid: str = ""
    frame_of_reference_uid: str = ""
    series_number: int | None = None
    acquisition_number: int | None = None
    study_description: str = ""
    series_description: str = ""
    study_date: str = ""
    window_center: float | None = None
    window_width: float | None = None
    gantry_tilt: float = 0.0
    is_little_endian: bool = True
    pixel_offset: int | None = None
    pixel_length: int | None = None
    frame: int = 0
    ignored_values: tuple[str, ...] = ()

    @property
    def is_localizer(self) -> bool:
        """True for scout / localizer images, which are never part of a CT volume.

        Example:
            >>> SliceHeader("a", EXPLICIT_LITTLE, 2, 2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")).is_localizer
            True
        """
        return any(v.upper() in ("LOCALIZER", "SCOUT", "TOPOGRAM") for v in self.image_type)

    @property
    def expected_pixel_bytes(self) -> int:
        """Bytes of native pixel data the header declares (rows x columns x frames x bytes per pixel).

        Example:
            >>> SliceHeader("a", EXPLICIT_LITTLE, 512, 512).expected_pixel_bytes
            524288
        """
        per_pixel = max(self.bits_allocated, 8) // 8
        return self.rows * self.columns * self.samples_per_pixel * self.number_of_frames * per_pixel
