"""A series found in a folder, described from headers only, that can load itself on demand.

``find_series`` returns these so the GUI can show a patient > study > series browser (with slice
count, spacing and size) before any pixel is decoded.

Example:
    >>> info = SeriesInfo(series_uid="1.2.3", series_description="CT Body", num_slices=20,
    ...                   spacing=(2.0, 0.98, 0.98), image_size=(512, 512))
    >>> info.label
    'CT Body (20 slices, 512 x 512, 2 mm)'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lesionviewer.io.dicom_header import SliceHeader
    from lesionviewer.io.volume import Volume


@dataclass
class SeriesInfo:
    """Identifiers, descriptions and geometry of one series, plus the files that make it up.

    ``num_slices`` counts the images that will load (one per position, of the main image size;
    ``files`` lists every file, duplicates included), ``spacing`` is (z, y, x) in mm (z from the
    slice positions), ``image_size`` is (rows, columns),
    ``orientation`` is ImageOrientationPatient. ``format`` is "dicom", "itk" (NIfTI, NRRD,
    MetaImage) or "deeplesion" (a folder of 16-bit PNGs). ``problems`` lists files of the folder
    that could not be read (with the reason).

    Example:
        >>> SeriesInfo(series_description="", series_uid="1.2.3", num_slices=1).label
        'series 1.2.3 (1 slice)'
    """

    patient_name: str = ""
    patient_id: str = ""
    study_uid: str = ""
    study_description: str = ""
    study_date: str = ""
    series_uid: str = ""
    series_description: str = ""
    series_number: int | None = None
    modality: str = ""
    num_slices: int = 0
    spacing: tuple[float, float, float] | None = None
    image_size: tuple[int, int] | None = None
    orientation: tuple[float, ...] | None = None
    files: list[str] = field(default_factory=list)
    folder: str = ""
    format: str = "dicom"
    problems: list[str] = field(default_factory=list)
    headers: list["SliceHeader"] = field(default_factory=list, repr=False)
    spacing_range: tuple[float, float] | None = None
    note: str = ""

    @property
    def label(self) -> str:
        """A short human description: description (or UID), slice count, size and slice step.

        Example:
            >>> SeriesInfo(series_description="Lung", num_slices=2, image_size=(512, 512)).label
            'Lung (2 slices, 512 x 512)'
        """
        name = self.series_description or (f"series {self.series_uid}" if self.series_uid else "unnamed series")
        parts = [f"{self.num_slices} slice{'s' if self.num_slices != 1 else ''}"]
        if self.image_size:
            parts.append(f"{self.image_size[0]} x {self.image_size[1]}")
        if self.spacing_range and self.num_slices > 1:
            parts.append(f"uneven {self.spacing_range[0]:.3g} to {self.spacing_range[1]:.3g} mm")
        elif self.spacing and self.num_slices > 1:
            parts.append(f"{self.spacing[0]:.3g} mm")
        label = f"{name} ({', '.join(parts)})"
        return f"{label} [{self.note}]" if self.note else label

    def load(self, progress=None, cancel=None) -> "Volume":
        """Decode this series into a ``Volume`` (pixels are read only now).

        ``progress(done, total)`` and ``cancel`` (callable or Event) work as for ``load_volume``.

        Example:
            >>> import tempfile, numpy as np
            >>> from lesionviewer.io import Volume, find_series
            >>> from lesionviewer.io.dicom_write import write_dicom_series
            >>> folder = tempfile.mkdtemp()
            >>> _ = write_dicom_series(Volume(np.zeros((3, 4, 4), np.int16), (2.0, 1.0, 1.0)), folder)
            >>> find_series(folder)[0].load().shape
            (3, 4, 4)
        """
        if self.format == "dicom":
            from lesionviewer.io.dicom_loader import load_dicom_headers

            volume = load_dicom_headers(self.headers, source=self.folder, progress=progress, cancel=cancel)
            volume.warnings.extend(p for p in self.problems if p not in volume.warnings)
            if self.note:  # one of several parts of a series: every export and review names which
                description = f"{self.series_description} [{self.note}]".lstrip()
                volume.identity = volume.identity.with_description(description)
                volume.meta["SeriesDescription"] = description
                volume.meta["series_part"] = self.note
                volume.warnings.append(f"this is {self.note}")
            return volume
        if self.format == "deeplesion":
            from lesionviewer.io.deeplesion_png import load_deeplesion_series

            return load_deeplesion_series(self.folder, files=self.files, progress=progress, cancel=cancel)
        from lesionviewer.io.itk_file import read_itk_file

        return read_itk_file(self.files[0], progress=progress, cancel=cancel)


def distinct_labels(series: list[SeriesInfo], labels: list[str] | None = None) -> list[str]:
    """One label per series, where no two are the same: a repeated label gets what tells it apart.

    Series that share a label (e.g. two parts of one SeriesInstanceUID without a description) get
    their first file's name, or else their number among the look-alikes, so a list never shows two
    identical rows without saying why. ``labels`` replaces the default ``SeriesInfo.label`` texts.

    Example:
        >>> a = SeriesInfo(series_uid="1.2", num_slices=3, files=["d/a1.dcm"])
        >>> b = SeriesInfo(series_uid="1.2", num_slices=3, files=["d/b1.dcm"])
        >>> distinct_labels([a, b])
        ['series 1.2 (3 slices) [same label as another series; first file a1.dcm]', 'series 1.2 (3 slices) [same label as another series; first file b1.dcm]']
    """
    labels = [s.label for s in series] if labels is None else list(labels)
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    out = []
    seen: dict[str, int] = {}
    for info, label in zip(series, labels):
        if counts[label] == 1:
            out.append(label)
            continue
        seen[label] = seen.get(label, 0) + 1
        first = info.files[0].replace("\\", "/").rsplit("/", 1)[-1] if info.files else ""
        twins = [i for i, other in zip(series, labels) if other == label]
        names = [t.files[0].replace("\\", "/").rsplit("/", 1)[-1] if t.files else "" for t in twins]
        if first and names.count(first) == 1:
            why = f"first file {first}"
        else:
            why = f"{seen[label]} of {counts[label]}"
        out.append(f"{label} [same label as another series; {why}]")
    return out
