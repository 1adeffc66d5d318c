"""Export a review as a DICOM Structured Report (TID 1500 Measurement Report) for PACS, with highdicom.

Each exported finding becomes a planar ROI group: a closed 5-point POLYLINE around its box (SR has
no rectangle graphic) on the slice's source image, finding type *Lesion*, its long and short axes
(marked as estimated from the box), the detector score and the reader's decision (private codes,
scheme ``99LVIEW``), and the algorithm's name and version. A ruler or RECIST measurement becomes
an image measurement group (TID 1501): *Length*, or *Long axis* and *Short axis*, each pointing
at its own 2-point POLYLINE on the source image. Notes stay in the CSV.

By default only **accepted** findings go into the SR (what the radiologist confirmed is what a
PACS should keep). The SR joins the source study and so carries the study's patient module:
it is meant for the hospital's own PACS. Needs a volume loaded from DICOM files
(``volume.meta["source_files"]``) and the ``highdicom`` package (imported only when used).

Example:
    >>> import tempfile, numpy as np
    >>> from lesionviewer.io import Volume, write_dicom_series, load_volume
    >>> from lesionviewer.detection.finding import Finding
    >>> from lesionviewer.review.session import ReviewSession
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_dicom_series(Volume(np.zeros((3, 16, 16), np.int16), (2.0, 0.5, 0.5)), folder)
    >>> vol = load_volume(folder)
    >>> s = ReviewSession(series_key(vol))
    >>> (fid,) = s.add_findings([Finding.from_pixel_box(vol, 1, (2, 2, 9, 7), 0.8, "mp3d63")])
    >>> s.set_status(fid, "accepted")
    >>> export_sr(s, vol, folder + "/report.dcm")  # the number of findings written
    1
    >>> import pydicom
    >>> sr = pydicom.dcmread(folder + "/report.dcm")
    >>> sr.Modality, sr.StudyInstanceUID == pydicom.dcmread(vol.meta["source_files"][0]).StudyInstanceUID
    ('SR', True)
"""
from __future__ import annotations

import uuid
import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from lesionviewer.review.csv_export import select_findings
from lesionviewer.review.measurement import Measurement
from lesionviewer.review.reviewed_finding import ReviewedFinding
from lesionviewer.review.series_key import series_key  # noqa: F401 - used by the module example
from lesionviewer.util.atomic import atomic_write_bytes

PRIVATE_SCHEME = "99LVIEW"
SR_SERIES_NUMBER = 9901
# Type 2 attributes highdicom copies from the evidence; a phantom or anonymised study may lack them.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
          "StudyDate", "StudyTime", "ReferringPhysicianName")


def _highdicom():
    try:
        import highdicom
        from pydicom.sr.codedict import codes
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError("DICOM SR export needs the highdicom package: pip install highdicom") from exc
    return highdicom, codes


class _SourceImages:
    """Headers of the DICOM files behind each slice, read once, without pixels."""

    def __init__(self, volume: Any) -> None:
        files = (getattr(volume, "meta", {}) or {}).get("source_files")
        if not files or not any(files):
            fmt = (getattr(volume, "meta", {}) or {}).get("format", "a non-DICOM source")
            raise ValueError(f"DICOM SR export needs a study loaded from DICOM files; this one came from {fmt}")
        self.files = list(files)
        self.rows, self.columns = int(volume.shape[1]), int(volume.shape[2])
        self._headers: dict[int, Any] = {}

    def header(self, slice_index: int) -> Any:
        import pydicom

        if slice_index not in self._headers:
            path = self.files[slice_index] if 0 <= slice_index < len(self.files) else None
            if path is None:
                raise ValueError(
                    f"slice {slice_index} has no DICOM file (a missing slice); it cannot be referenced in an SR"
                )
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            for name in ("StudyInstanceUID", "SOPInstanceUID", "SOPClassUID"):
                if not str(ds.get(name, "") or "").strip():
                    raise ValueError(f"{path}: the image has no {name}, so a DICOM SR cannot refer to it "
                                     "(export CSV instead)")
            for name in _TYPE2:
                if name not in ds:
                    setattr(ds, name, "")
            self._headers[slice_index] = ds
        return self._headers[slice_index]

    def any_header(self) -> Any:
        if self._headers:
            return next(iter(self._headers.values()))
        first = next(i for i, f in enumerate(self.files) if f is not None)
        return self.header(first)

    def evidence(self) -> list[Any]:
        return list(self._headers.values()) or [self.any_header()]

    def clamp(self, points: np.ndarray) -> np.ndarray:
        # SR image coordinates must lie on the image; a ruler dragged past the edge is pulled back.
        out = np.asarray(points, dtype=float).copy()
        out[:, 0] = out[:, 0].clip(0, self.columns)
        out[:, 1] = out[:, 1].clip(0, self.rows)
        return out


def _tracking(hd: Any, session: Any, item_id: str) -> Any:
    # A name-based UUID of the series and the id (the 2.25 UID form), so a re-export tracks the same
    # lesion under the same UID.
    uid = f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, f'lesionviewer/{session.key}/{item_id}').int}"
    return hd.sr.TrackingIdentifier(uid=uid, identifier=item_id)


def _finding_group(hd: Any, codes: Any, session: Any, images: _SourceImages, rf: ReviewedFinding) -> Any:
    f = rf.finding
    x1, y1, x2, y2 = f.box_px
    outline = images.clamp(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]], dtype=float))
    source = hd.sr.SourceImageForRegion.from_source_image(images.header(f.slice_index))
    private = hd.sr.CodedConcept
    from_box = private("box-estimate", PRIVATE_SCHEME, "Estimated from the detection box")
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(hd, session, rf.id),
        referenced_region=hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=outline,
                                            source_image=source),
        finding_type=codes.SCT.Lesion,
        algorithm_id=hd.sr.AlgorithmIdentification(name=f.model_name or "unknown",
                                                   version=rf.model_version or "unknown"),
        measurements=[
            hd.sr.Measurement(name=codes.SCT.LongAxis, value=float(f.long_axis_mm), unit=codes.UCUM.Millimeter,
                              method=from_box),
            hd.sr.Measurement(name=codes.SCT.ShortAxis, value=float(f.short_axis_mm), unit=codes.UCUM.Millimeter,
                              method=from_box),
            hd.sr.Measurement(name=private("score", PRIVATE_SCHEME, "Detection score"), value=float(f.score),
                              unit=codes.UCUM.NoUnits),
        ],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(
                private("decision", PRIVATE_SCHEME, "Reader decision"),
                private(rf.status.value, PRIVATE_SCHEME, rf.status.value.capitalize()),
            )
        ],
    )


def _measurement_group(hd: Any, codes: Any, session: Any, images: _SourceImages, m: Measurement) -> Any:
    # Linear measurements go in an image measurement group (TID 1501): there each measurement may
    # point at its own segment, which RECIST needs (a planar ROI group allows one region only).
    header = images.header(m.slice_index)
    points = images.clamp(np.array(m.points, dtype=float))

    def along(segment: np.ndarray) -> list[Any]:
        return [hd.sr.CoordinatesForMeasurement(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=segment,
                                                source_image=hd.sr.SourceImageForRegion.from_source_image(header))]

    if m.kind == "ruler":
        measurements = [hd.sr.Measurement(name=codes.SCT.Length, value=m.long_axis_mm, unit=codes.UCUM.Millimeter,
                                          referenced_coordinates=along(points[:2]))]
        finding_type = None
    else:
        measurements = [
            hd.sr.Measurement(name=codes.SCT.LongAxis, value=m.long_axis_mm, unit=codes.UCUM.Millimeter,
                              referenced_coordinates=along(points[:2])),
            hd.sr.Measurement(name=codes.SCT.ShortAxis, value=float(m.short_axis_mm or 0.0), unit=codes.UCUM.Millimeter,
                              referenced_coordinates=along(points[2:])),
        ]
        finding_type = codes.SCT.Lesion
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(hd, session, m.id),
        finding_type=finding_type,
        measurements=measurements,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(header)],
    )


def export_sr(
    session: Any,
    volume: Any,
    path: str | Path,
    selection: str = "accepted",
    include_measurements: bool = True,
    observer_name: str = "",
) -> int:
    """Write a TID 1500 Comprehensive 3D SR of ``session`` to ``path``; returns the number of ROI groups.

    ``selection`` is as for ``export_csv`` but defaults to ``"accepted"``. ``observer_name`` (a
    DICOM person name such as ``"Doe^Jane"``) records the reader; the LesionViewer device is
    always recorded. Clears ``session.dirty_since_export``. Raises ``ValueError`` for a volume
    without DICOM source files or when there is nothing to report (TID 1500 needs at least one
    group), and ``RuntimeError`` when highdicom is not installed.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.review.session import ReviewSession
        >>> export_sr(ReviewSession("1.2"), Volume(np.zeros((1, 4, 4), np.int16), (1, 1, 1)), "/tmp/x.dcm")
        Traceback (most recent call last):
        ...
        ValueError: DICOM SR export needs a study loaded from DICOM files; this one came from a non-DICOM source
    """
    with warnings.catch_warnings():
        # highdicom warns about one-component person names ("Anonymous"), common in anonymised studies.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
        return _export_sr(session, volume, path, selection, include_measurements, observer_name)


def _export_sr(session: Any, volume: Any, path: str | Path, selection: str, include_measurements: bool,
               observer_name: str) -> int:
    images = _SourceImages(volume)
    hd, codes = _highdicom()
    groups = [_finding_group(hd, codes, session, images, rf) for rf in select_findings(session, selection)]
    if include_measurements:
        groups += [_measurement_group(hd, codes, session, images, m) for m in session.measurements()]
    if not groups:
        raise ValueError(f"nothing to put in a DICOM SR: no {selection} findings and no measurements")
    import lesionviewer

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="LesionViewer", manufacturer_name="LesionViewer",
            model_name=session.model_name or None,
        ),
    )
    person = None
    if observer_name:
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=observer_name),
        )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=images.evidence(),
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="LesionViewer",
    )
    sr.SeriesDescription = "LesionViewer findings"
    sr.SoftwareVersions = lesionviewer.__version__
    sr.preamble = b"\0" * 128  # no DICOM/executable polyglot (CVE-2019-11687)
    buffer = BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    atomic_write_bytes(path, buffer.getvalue())
    session.mark_exported(path)
    return len(groups)
