"""Write a ``Volume`` as an uncompressed DICOM CT series (one file per slice).

Used by the benchmark, the tests' corpus and anyone who needs a quick series on disk. Every file
gets a zeroed 128-byte preamble (no DICOM/executable polyglots, CVE-2019-11687), and file names
come from the slice index, never from tags.

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io.volume import Volume
    >>> vol = Volume(np.full((3, 8, 8), -1000, np.int16), spacing=(2.0, 0.5, 0.5), origin=(-2, -2, -30))
    >>> files = write_dicom_series(vol, tempfile.mkdtemp(), series_description="demo")
    >>> [f.name for f in files]
    ['slice0000.dcm', 'slice0001.dcm', 'slice0002.dcm']
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from lesionviewer.io.volume import Volume


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    series_description: str = "LesionViewer series",
    patient_name: str = "Anonymous",
    patient_id: str = "LV0000",
    series_uid: str | None = None,
    study_uid: str | None = None,
    signed: bool = False,
    implicit_vr: bool = False,
    file_prefix: str = "slice",
) -> list[Path]:
    """Write each slice of ``volume`` to ``folder`` as a CT Image Storage file; returns the paths.

    ``signed=False`` stores HU + 1024 as unsigned 12-bit data with RescaleIntercept -1024, the
    way most scanners do; ``signed=True`` stores HU directly as int16.

    Example:
        >>> import tempfile, numpy as np, pydicom
        >>> from lesionviewer.io.volume import Volume
        >>> [f] = write_dicom_series(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1)), tempfile.mkdtemp())
        >>> pydicom.dcmread(f).RescaleIntercept
        '-1024.0'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid()
    direction = np.asarray(volume.direction, float)
    row_dir, col_dir = direction[:, 0], direction[:, 1]
    hu = volume.hu
    if signed:
        stored = hu.astype("<i2", copy=False)
        intercept = 0.0
    else:
        stored = (np.clip(hu.astype(np.int32), -1024, 4095 - 1024) + 1024).astype("<u2")
        intercept = -1024.0
    syntax = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
    paths = []
    for k in range(volume.num_slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = syntax
        path = folder / f"{file_prefix}{k:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.Modality = "CT"
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = series_description
        ds.StudyDescription = "LesionViewer study"
        ds.ImagePositionPatient = [f"{v:.10g}" for v in volume.index_to_patient(k, 0, 0)]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [f"{volume.spacing[1]:.6g}", f"{volume.spacing[2]:.6g}"]
        ds.SliceThickness = f"{volume.spacing[0]:.6g}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(hu.shape[1]), int(hu.shape[2])
        ds.BitsAllocated = 16
        ds.BitsStored = 16 if signed else 12
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleIntercept = f"{intercept:.1f}"
        ds.RescaleSlope = "1.0"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


__all__ = ["write_dicom_series"]
