"""The annotated key slices of a DeepLesion-layout dataset, grouped for detection training.

DeepLesion has one table row per lesion; a detector is trained per *key slice* with every lesion
marked on that slice as a target. This file turns the table (read by ``lesionviewer.io``'s
DL_info.csv parser) into :class:`KeySlice` records: the series folder, the key slice, its boxes
(0-based pixel x1, y1, x2, y2), the split, the patient, and the slice interval of the series.

Splits use DeepLesion's ``Train_Val_Test`` codes: 1 = train, 2 = validation, 3 = test.

Example:
    >>> ks = KeySlice("000001_01_01", 109, np.array([[10., 12., 30., 40.]]), "train", 1, 5.0,
    ...               (0.8, 0.8), lesion_types=(4,), noisy=(False,))
    >>> ks.image_id, ks.num_lesions
    ('000001_01_01_109', 1)
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS
from lesionviewer.io.deeplesion_info import SPLITS as SPLIT_CODES  # DL_info's Train_Val_Test code -> split name

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class KeySlice:
    """One annotated slice: where it is, its lesion boxes, and facts about its series."""

    series: str
    key_slice: int
    boxes: np.ndarray = field(compare=False)
    split: str
    patient: int
    slice_interval_mm: float
    pixel_spacing_mm: tuple[float, float]
    lesion_types: tuple[int, ...] = ()
    noisy: tuple[bool, ...] = ()
    #: RECIST long diameter of each lesion in mm (NaN where unknown).
    long_diameters_mm: tuple[float, ...] = ()

    @property
    def image_id(self) -> str:
        """``<series>_<slice>`` - the key slice's file name without ``.png``.

        Example:
            >>> KeySlice("000002_01_01", 7, np.zeros((0, 4)), "val", 2, 1.0, (1, 1)).image_id
            '000002_01_01_007'
        """
        return f"{self.series}_{self.key_slice:03d}"

    @property
    def num_lesions(self) -> int:
        """Number of boxes on the slice.

        Example:
            >>> KeySlice("s", 1, np.zeros((2, 4)), "val", 2, 1.0, (1, 1)).num_lesions
            2
        """
        return int(self.boxes.shape[0])

    def without_noisy(self) -> "KeySlice":
        """The same slice with the lesions flagged ``Possibly_noisy`` removed.

        Example:
            >>> ks = KeySlice("s", 1, np.ones((2, 4)), "val", 2, 1.0, (1, 1), (4, 5), (True, False))
            >>> ks.without_noisy().lesion_types
            (5,)
        """
        if not any(self.noisy):
            return self
        keep = [i for i, n in enumerate(self.noisy) if not n]
        diameters = tuple(self.long_diameters_mm[i] for i in keep) if self.long_diameters_mm else ()
        return KeySlice(self.series, self.key_slice, self.boxes[keep], self.split, self.patient,
                        self.slice_interval_mm, self.pixel_spacing_mm,
                        tuple(self.lesion_types[i] for i in keep), tuple(False for _ in keep), diameters)


def group_key_slices(lesions: list[dict], drop_noisy: bool = False) -> list[KeySlice]:
    """Group per-lesion records into key slices (file order kept).

    Each record needs ``series`` (e.g. ``"000001_01_01"``), ``key_slice`` (int), ``box``
    (0-based x1, y1, x2, y2), ``split`` ("train"/"val"/"test"), ``patient`` (int),
    ``slice_interval_mm``, ``pixel_spacing_mm`` (x, y), and optionally ``lesion_type`` and
    ``noisy``. With ``drop_noisy`` noisy lesions are removed and slices left without a lesion dropped.

    Example:
        >>> rows = [dict(series="a", key_slice=3, box=(0, 0, 5, 5), split="train", patient=1,
        ...              slice_interval_mm=5.0, pixel_spacing_mm=(1, 1)),
        ...         dict(series="a", key_slice=3, box=(9, 9, 20, 20), split="train", patient=1,
        ...              slice_interval_mm=5.0, pixel_spacing_mm=(1, 1), noisy=True)]
        >>> [k.num_lesions for k in group_key_slices(rows)], [k.num_lesions for k in group_key_slices(rows, True)]
        ([2], [1])
    """
    groups: "OrderedDict[tuple[str, int], list[dict]]" = OrderedDict()
    for row in lesions:
        groups.setdefault((str(row["series"]), int(row["key_slice"])), []).append(row)
    slices = []
    for (series, key), rows in groups.items():
        first = rows[0]
        ks = KeySlice(
            series=series, key_slice=key,
            boxes=np.asarray([r["box"] for r in rows], dtype=np.float32).reshape(-1, 4),
            split=str(first["split"]), patient=int(first["patient"]),
            slice_interval_mm=float(first["slice_interval_mm"]),
            pixel_spacing_mm=(float(first["pixel_spacing_mm"][0]), float(first["pixel_spacing_mm"][1])),
            lesion_types=tuple(int(r.get("lesion_type", -1)) for r in rows),
            noisy=tuple(bool(r.get("noisy", False)) for r in rows),
            long_diameters_mm=tuple(float(r.get("long_diameter_mm", float("nan"))) for r in rows),
        )
        if drop_noisy:
            ks = ks.without_noisy()
            if ks.num_lesions == 0:
                continue
        slices.append(ks)
    return slices


def read_key_slices(dl_info_csv: str | Path, drop_noisy: bool = False) -> list[KeySlice]:
    """Read a DL_info.csv (the full table or a split excerpt) into key slices.

    Box coordinates are taken as ``lesionviewer.io.read_dl_info`` gives them (zero-based pixels).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "DL_info.csv"
        >>> _ = p.write_text(DL_INFO_HEADER + '\\n000001_01_01_109.png,1,1,1,109,"0,0,0,0,0,0,0,0",'
        ...   '"11, 21, 31, 41","10, 5","0.5, 0.5, 0.5",4,0,"100, 120","0.8, 0.8, 5","512, 512",'
        ...   '"-175, 275",F,50,3\\n')
        >>> ks = read_key_slices(p)[0]
        >>> ks.series, ks.key_slice, ks.boxes.tolist(), ks.split, ks.slice_interval_mm
        ('000001_01_01', 109, [[10.0, 20.0, 30.0, 40.0]], 'test', 5.0)
    """
    return group_key_slices(read_lesion_rows(dl_info_csv), drop_noisy=drop_noisy)


#: The header row of DeepLesion's DL_info.csv.
DL_INFO_HEADER = ",".join(DL_INFO_COLUMNS)


def read_lesion_rows(dl_info_csv: str | Path) -> list[dict]:
    """The per-lesion records :func:`group_key_slices` needs, read by ``lesionviewer.io.read_dl_info``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "DL_info.csv"
        >>> _ = p.write_text(DL_INFO_HEADER + "\\n")
        >>> read_lesion_rows(p)
        []
    """
    from lesionviewer.io.deeplesion_info import read_dl_info

    rows = []
    for rec in read_dl_info(dl_info_csv):
        rows.append(dict(
            series=rec.series_key, key_slice=rec.key_slice_index, box=tuple(rec.bounding_box),
            split=SPLIT_CODES.get(rec.split, f"split{rec.split}"), patient=rec.patient_index,
            slice_interval_mm=rec.slice_interval_mm, pixel_spacing_mm=tuple(rec.spacing_mm[:2]),
            lesion_type=rec.lesion_type, noisy=bool(rec.possibly_noisy),
            long_diameter_mm=rec.long_diameter_mm))
    return rows
