"""Multi-frame DICOM (enhanced CT and older multi-frame files): one ``SliceHeader`` per frame.

Enhanced CT keeps each frame's geometry in functional groups: a per-frame item overrides the
shared one for PlanePosition, PlaneOrientation, PixelMeasures, PixelValueTransformation (rescale),
FrameVOILUT (window) and CTImageFrameType (the frame's image type). Older multi-frame files
have one ImagePositionPatient and a frame step (GridFrameOffsetVector or SpacingBetweenSlices).

Example:
    >>> import numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> ds = multiframe_dataset(Volume(np.zeros((3, 4, 4), np.int16), (2.0, 0.5, 0.5)))
    >>> int(ds.NumberOfFrames), len(ds.PerFrameFunctionalGroupsSequence)
    (3, 3)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lesionviewer.io.dicom_tags import (
    finite_or_none,
    positive_or_none,
    tag_floats,
    tag_number,
    usable_orientation,
)
from lesionviewer.io.errors import CorruptFileError
from lesionviewer.io.slice_header import SliceHeader
from lesionviewer.io.volume import Volume

ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"


def _group(item: Dataset | None, shared: Dataset | None, keyword: str) -> Dataset | None:
    """The first item of functional group ``keyword``: the frame's own if present, else the shared one."""
    for source in (item, shared):
        if source is not None and keyword in source:
            seq = source.get(keyword)
            if seq:
                return seq[0]
    return None


def split_frames(path: Path, ds: Dataset, base: SliceHeader) -> list[SliceHeader]:
    """One header per frame of the multi-frame file ``ds`` (``base`` is its file-level header).

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io.volume import Volume
        >>> from lesionviewer.io.slice_header import SliceHeader
        >>> ds = multiframe_dataset(Volume(np.zeros((2, 4, 4), np.int16), (3.0, 0.5, 0.5)))
        >>> base = SliceHeader("f.dcm", "1.2.840.10008.1.2.1", 4, 4, number_of_frames=2)
        >>> [h.position for h in split_frames(Path("f.dcm"), ds, base)]
        [(0.0, 0.0, 0.0), (0.0, 0.0, 3.0)]
    """
    frames = base.number_of_frames
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    if per_frame and len(per_frame) != frames:
        raise CorruptFileError(
            path, f"the file declares {frames} frames but describes {len(per_frame)} in PerFrameFunctionalGroupsSequence"
        )
    legacy_offsets = _legacy_frame_offsets(ds, base, frames)
    headers = []
    for i in range(frames):
        item = per_frame[i] if per_frame else None
        changes: dict = {"frame": i}
        plane_position = _group(item, shared, "PlanePositionSequence")
        if plane_position is not None:
            changes["position"] = finite_or_none(tag_floats(plane_position, "ImagePositionPatient", 3))
        elif legacy_offsets is not None and base.position is not None and base.orientation is not None:
            normal = np.cross(base.orientation[:3], base.orientation[3:])
            changes["position"] = tuple(float(v) for v in np.asarray(base.position) + legacy_offsets[i] * normal)
        orientation = _group(item, shared, "PlaneOrientationSequence")
        if orientation is not None:
            changes["orientation"] = usable_orientation(tag_floats(orientation, "ImageOrientationPatient", 6))
        measures = _group(item, shared, "PixelMeasuresSequence")
        if measures is not None:
            changes["pixel_spacing"] = positive_or_none(tag_floats(measures, "PixelSpacing", 2)) or base.pixel_spacing
            changes["slice_thickness"] = positive_or_none(tag_number(measures, "SliceThickness")) or base.slice_thickness
            changes["spacing_between_slices"] = (positive_or_none(tag_number(measures, "SpacingBetweenSlices"))
                                                or base.spacing_between_slices)
        rescale = _group(item, shared, "PixelValueTransformationSequence")
        if rescale is not None:
            slope = tag_number(rescale, "RescaleSlope")
            intercept = tag_number(rescale, "RescaleIntercept")
            bad_slope = slope is not None and (finite_or_none(slope) is None or slope == 0)
            if bad_slope or (intercept is not None and finite_or_none(intercept) is None):
                raise CorruptFileError(path, f"frame {i + 1} has an impossible rescale (slope {slope}, intercept {intercept}); "
                                             f"its pixels cannot be converted to HU")
            changes["rescale_slope"] = 1.0 if slope is None else slope
            changes["rescale_intercept"] = intercept or 0.0
        voi = _group(item, shared, "FrameVOILUTSequence")
        if voi is not None:
            changes["window_center"] = finite_or_none(tag_number(voi, "WindowCenter"))
            changes["window_width"] = positive_or_none(tag_number(voi, "WindowWidth"))
        frame_type = _group(item, shared, "CTImageFrameTypeSequence")
        if frame_type is not None and frame_type.get("FrameType"):
            changes["image_type"] = tuple(str(v).strip() for v in frame_type.FrameType)
        if "position" not in changes and base.position is not None and frames > 1:
            changes["position"] = None  # one position for many frames would stack them all in one place
        headers.append(dataclasses.replace(base, **changes))
    return headers


def _legacy_frame_offsets(ds: Dataset, base: SliceHeader, frames: int) -> np.ndarray | None:
    offsets = ds.get("GridFrameOffsetVector")
    if offsets is not None and len(offsets) == frames:
        return np.asarray([float(v) for v in offsets])
    step = base.spacing_between_slices
    if step:
        return np.arange(frames) * float(step)
    return None


def multiframe_dataset(volume: Volume, *, series_uid: str | None = None) -> pydicom.FileDataset:
    """An enhanced CT multi-frame dataset holding ``volume`` (unsigned 12-bit, RescaleIntercept -1024).

    Used by tests and by anyone needing an enhanced CT sample; save it with
    ``ds.save_as(path, enforce_file_format=True)``.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io.volume import Volume
        >>> ds = multiframe_dataset(Volume(np.full((2, 3, 3), 40, np.int16), (1.0, 1.0, 1.0)))
        >>> int(ds.pixel_array[1, 0, 0]) - 1024
        40
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.UID(ENHANCED_CT_STORAGE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.FileDataset("multiframe.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = ENHANCED_CT_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.PatientName, ds.PatientID = "Anonymous", "LV0000"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), series_uid or generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesDescription = "enhanced CT"
    ds.InstanceNumber = 1
    ds.NumberOfFrames = volume.num_slices
    ds.Rows, ds.Columns = volume.hu.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    direction = np.asarray(volume.direction, float)

    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [f"{volume.spacing[1]:.10g}", f"{volume.spacing[2]:.10g}"]
    measures.SliceThickness = f"{volume.spacing[0]:.10g}"
    orientation = Dataset()
    orientation.ImageOrientationPatient = [f"{v:.10g}" for v in (*direction[:, 0], *direction[:, 1])]
    rescale = Dataset()
    rescale.RescaleIntercept, rescale.RescaleSlope, rescale.RescaleType = "-1024", "1", "HU"
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelValueTransformationSequence = Sequence([rescale])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    frames = []
    for k in range(volume.num_slices):
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [f"{v:.10g}" for v in volume.index_to_patient(k, 0, 0)]
        item.PlanePositionSequence = Sequence([position])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    stored = (np.clip(volume.hu.astype(np.int32), -1024, 3071) + 1024).astype("<u2")
    ds.PixelData = stored.tobytes()
    return ds
