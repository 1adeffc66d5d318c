"""DICOM Segmentation objects (SEG) as a mask image: where a reader outlined a lesion or an organ.

A SEG file holds one or more segments (``SegmentNumber`` 1, 2, ...) on the frame of reference of the CT
it was drawn on. :func:`read_dicom_seg_mask` reads it with highdicom and returns a SimpleITK image (1
inside the chosen segments, 0 elsewhere) that carries its own physical geometry, so it can be resampled
onto any volume of that patient, as a NIfTI or NRRD mask is (``lesionviewer.synthesis.tissue``).

Example:
    >>> import tempfile, pathlib
    >>> is_dicom_seg(pathlib.Path(tempfile.mkdtemp()) / "none.dcm")
    False
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lesionviewer.io.errors import CorruptFileError, LoadError

if TYPE_CHECKING:
    import SimpleITK as sitk

#: The SOP class of a DICOM Segmentation Storage object.
SEGMENTATION_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def is_dicom_seg(path: str | Path) -> bool:
    """Whether ``path`` is a readable DICOM file whose SOP class is Segmentation Storage (header only).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "mask.nii.gz"; _ = p.write_bytes(b"not dicom")
        >>> is_dicom_seg(p)
        False
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        header = pydicom.dcmread(str(path), stop_before_pixels=True,
                                 specific_tags=["SOPClassUID", "Modality"])
    except (InvalidDicomError, OSError, ValueError, TypeError, AttributeError, KeyError):
        return False
    return str(header.get("SOPClassUID", "")) == SEGMENTATION_SOP_CLASS or header.get("Modality") == "SEG"


def read_dicom_seg_mask(path: str | Path, segments: Sequence[int] | None = None) -> sitk.Image:
    """The union of ``segments`` (all when None) of the DICOM SEG at ``path`` as a uint8 SimpleITK mask.

    The image has the segmentation's own spacing, origin and direction (LPS, as SimpleITK's), so
    ``SimpleITK.Resample`` puts it on the CT it was drawn on. Raises :class:`LoadError` naming the file
    when it is not a SEG, a segment number does not exist, or its frames do not form one regular volume.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.dcm"; _ = p.write_bytes(b"x")
        >>> read_dicom_seg_mask(p)
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: ...x.dcm: not a DICOM Segmentation (SEG) object
    """
    import numpy as np

    if not is_dicom_seg(path):
        raise LoadError(path, "not a DICOM Segmentation (SEG) object")
    import highdicom as hd

    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:  # highdicom raises many kinds on a damaged object
        raise CorruptFileError(path, f"the segmentation could not be read ({exc})") from None
    numbers = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    chosen = list(numbers) if segments is None else [int(n) for n in segments]
    missing = [n for n in chosen if n not in numbers]
    if missing or not chosen:
        raise LoadError(path, f"has no segment {', '.join(map(str, missing)) or '(none chosen)'}; "
                              f"its segments are {', '.join(map(str, numbers))}")
    try:
        # one segment at a time: segments may overlap (two readers' outlines of one lesion)
        volumes = [seg.get_volume(segment_numbers=[number], combine_segments=True) for number in chosen]
    except (ValueError, RuntimeError) as exc:
        raise LoadError(path, f"its frames do not form one regular volume ({exc})") from None
    union = np.logical_or.reduce([np.asarray(v.array) > 0 for v in volumes])
    return volumes[0].with_array(union.astype(np.uint8)).to_simpleitk()
