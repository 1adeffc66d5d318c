"""Synthetic chest/abdomen CT phantoms with known lesions, written as DICOM or in the DeepLesion layout.

Example:
    >>> from lesionviewer.phantom import PhantomConfig, generate_patient
    >>> case = generate_patient(0, PhantomConfig.preset("small").with_(num_slices=6))
    >>> case.volume.shape
    (6, 128, 128)
"""
from lesionviewer.phantom.config import PhantomConfig
from lesionviewer.phantom.dataset import generate_dataset
from lesionviewer.phantom.deeplesion_writer import DL_INFO_COLUMNS, dl_info_rows, write_deeplesion, write_dl_info
from lesionviewer.phantom.dicom_writer import write_dicom_series
from lesionviewer.phantom.generator import PhantomCase, PhantomLesion, generate_patient
from lesionviewer.phantom.ground_truth import ground_truth, read_ground_truth, write_ground_truth
from lesionviewer.phantom.lesions import TYPE_CODES, LesionSpec
from lesionviewer.phantom.recist import SliceMeasurement, measure_slice

Lesion = PhantomLesion


__all__ = [
    "PhantomConfig",
    "PhantomCase",
    "PhantomLesion",
    "Lesion",
    "LesionSpec",
    "SliceMeasurement",
    "TYPE_CODES",
    "DL_INFO_COLUMNS",
    "generate_patient",
    "generate_dataset",
    "write_dicom_series",
    "write_deeplesion",
    "dl_info_rows",
    "write_dl_info",
    "ground_truth",
    "write_ground_truth",
    "read_ground_truth",
    "measure_slice",
]
