"""Writing a phantom as a DICOM series: one CT Image Storage file per slice, readable by any viewer.

Pixels are stored unsigned with RescaleIntercept -1024 (as most scanners do), so the stored
range 0..4095 covers -1024..3071 HU. UIDs are derived from the phantom's seed, so the same
seed gives byte-identical files. The 128-byte preamble is zeroed (a non-zero preamble can
make a DICOM file also a valid executable, CVE-2019-11687).

Example:
    >>> import tempfile, pydicom
    >>> from pathlib import Path
    >>> from lesionviewer.phantom.config import PhantomConfig
    >>> from lesionviewer.phantom.generator import generate_patient
    >>> case = generate_patient(1, PhantomConfig.preset("small").with_(num_slices=3))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = write_dicom_series(case, d, patient_index=1)
    ...     ds = pydicom.dcmread(paths[0])
    >>> len(paths), ds.Modality, str(ds.PatientName)
    (3, 'CT', 'PHANTOM^000001')
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from lesionviewer.util.atomic import atomic_write_bytes

RESCALE_INTERCEPT = -1024
IMPLEMENTATION_UID = UID("2.25.167389271903512740937217584637105302713")


def _ds_number(value: float) -> str:
    """A DS string of at most 16 characters."""
    for digits in range(10, 3, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    return f"{value:.3g}"


def _uid(seed_text: str, *parts: object) -> str:
    """A UUID-derived UID (``2.25.<128-bit number>``, as DICOM PS3.5 B.2 allows) hashed from the seed, so reruns agree."""
    digest = hashlib.sha256("|".join([seed_text, *[str(p) for p in parts]]).encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big') or 1}"


def dicom_datasets(case, patient_index: int = 1, series_description: str = "LesionViewer phantom") -> list[Dataset]:
    """The slices of ``case`` as pydicom datasets (slice 0 first), with file meta and a zero preamble.

    Example:
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> case = generate_patient(2, PhantomConfig.preset("small").with_(num_slices=2))
        >>> [int(ds.InstanceNumber) for ds in dicom_datasets(case)]
        [1, 2]
    """
    vol = case.volume
    seed_text = hashlib.sha256(repr(("lesionviewer-phantom", case.seed, patient_index)).encode()).hexdigest()
    study_uid = _uid(seed_text, "study")
    series_uid = _uid(seed_text, "series")
    frame_uid = _uid(seed_text, "frame")
    dz, dy, dx = vol.spacing
    rows, cols = vol.shape[1], vol.shape[2]
    patient_id = f"PHANTOM-{patient_index:06d}"
    stored = (vol.hu.astype(np.int32) - RESCALE_INTERCEPT).clip(0, 4095).astype(np.uint16)
    row_dir = vol.direction[:, 0]
    col_dir = vol.direction[:, 1]
    out = []
    for k in range(vol.num_slices):
        meta = FileMetaDataset()
        sop_uid = _uid(seed_text, "image", k)
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = UID(sop_uid)
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_UID
        meta.ImplementationVersionName = "LESIONVIEWER"
        ds = Dataset()
        ds.file_meta = meta
        ds.preamble = b"\x00" * 128
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = "20260101"
        ds.SeriesDate = "20260101"
        ds.ContentDate = "20260101"
        ds.StudyTime = "090000"
        ds.SeriesTime = "090000"
        ds.ContentTime = "090000"
        ds.AccessionNumber = f"PH{patient_index:06d}"
        ds.Modality = "CT"
        ds.Manufacturer = "LesionViewer"
        ds.ManufacturerModelName = "Synthetic phantom"
        ds.StudyDescription = "CT CHEST ABDOMEN (synthetic)"
        ds.SeriesDescription = series_description
        ds.PatientName = f"PHANTOM^{patient_index:06d}"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = case.patient.get("sex", "O")
        ds.PatientAge = f"{int(case.patient.get('age', 50)):03d}Y"
        ds.BodyPartExamined = "CHEST"
        ds.SliceThickness = _ds_number(float(vol.meta.get("slice_thickness", dz)))
        ds.SpacingBetweenSlices = _ds_number(dz)
        ds.KVP = "120"
        ds.ConvolutionKernel = "STANDARD"
        ds.PatientPosition = "FFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = 1
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        position = vol.index_to_patient(k, 0, 0)
        ds.ImagePositionPatient = [_ds_number(float(v)) for v in position]
        ds.ImageOrientationPatient = [_ds_number(float(v)) for v in (*row_dir, *col_dir)]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds_number(float(position[2]))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.PixelSpacing = [_ds_number(dy), _ds_number(dx)]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = ["40", "-600"]
        ds.WindowWidth = ["400", "1500"]
        ds.WindowCenterWidthExplanation = ["ABDOMEN", "LUNG"]
        ds.RescaleIntercept = str(RESCALE_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = stored[k].tobytes()
        out.append(ds)
    return out


def write_dicom_series(case, folder: str | Path, patient_index: int = 1) -> list[Path]:
    """Write ``case`` as ``IM000001.dcm ...`` in ``folder`` (created); returns the file paths in slice order.

    Example:
        >>> import tempfile
        >>> from lesionviewer.phantom.config import PhantomConfig
        >>> from lesionviewer.phantom.generator import generate_patient
        >>> case = generate_patient(1, PhantomConfig.preset("small").with_(num_slices=2))
        >>> with tempfile.TemporaryDirectory() as d:
        ...     [p.name for p in write_dicom_series(case, d)]
        ['IM000001.dcm', 'IM000002.dcm']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, ds in enumerate(dicom_datasets(case, patient_index)):
        path = folder / f"IM{k + 1:06d}.dcm"
        buffer = pydicom.filebase.DicomBytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths
