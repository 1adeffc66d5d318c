"""LIDC nodules as lesions: the readers' marks grouped, measured and boxed on the slices of a loaded volume.

The LIDC readers marked each series independently (:mod:`lesionviewer.io.lidc_xml`), so one nodule
appears up to four times, once per reader, with outlines that disagree. The rules used here:

* **Grouping.** Two marks are the same lesion when (a) some point of one lies within ``link_mm``
  (default 3 mm, the size below which LIDC readers mark only a centre point) of some point of the
  other, in mm (column x pixel spacing, row x pixel spacing, imageZposition), or (b) their outline
  boxes overlap on the same slice (this joins a centre point placed inside another reader's large
  outline). Groups are the connected components of that relation. A reader counts once per lesion.
* **Diameter.** The longest in-plane distance between two outline points of one ROI, in mm, the
  largest over the ROIs and readers of the lesion (LIDC's own size criterion is in-plane). Outline
  points are the boundary pixels, drawn just outside the nodule, so this is within a pixel of the
  visible extent. A lesion that every reader marked with a single point (< 3 mm) has diameter 0.
* **Slices.** Each ROI goes to the volume slice with the same SOP Instance UID when ``sop_uids`` is
  given and has it, else to the slice whose patient z is nearest its ``imageZposition`` (within
  half the smallest slice gap); ROIs that match no slice are counted in ``unmatched_rois``.
  Exclusions (``inclusion`` FALSE, holes) are left out of boxes and diameters.
* **Boxes.** A reader's box on a slice covers its outline pixels: ``x1 = min column``,
  ``x2 = max column + 1`` (the continuous pixel frame of :class:`~lesionviewer.detection.Finding`).
  The lesion's box on a slice is the **mean** of the boxes of the readers who outlined it there
  (``box_rule="mean"``, a consensus box; ``"union"`` gives the box around all of them, which grows
  with the readers' disagreement). Centre points count only for lesions nobody outlined: those get a
  square of ``point_box_mm`` (3 mm, the readers' upper bound) around the readers' mean centre.

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.io.lidc_xml import LidcNoduleMark, LidcRead, LidcRoi
    >>> volume = Volume(np.zeros((3, 64, 64), np.int16), (2.0, 0.5, 0.5), origin=(0, 0, -4))
    >>> outline = LidcRoi(-2.0, "", True, ((10, 10), (29, 10), (29, 19), (10, 19)))
    >>> read = LidcRead("x.xml", "", "", 2, (LidcNoduleMark(0, "a", "n1", (outline,)),
    ...                                      LidcNoduleMark(1, "b", "n2", (LidcRoi(-2.0, "", True, ((20, 15),)),))))
    >>> [lesion] = lidc_lesions(read, volume)
    >>> lesion.num_readers, round(lesion.diameter_mm, 2), lesion.slices[0].slice_index, lesion.slices[0].box_px
    (2, 10.51, 1, (10.0, 10.0, 30.0, 20.0))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lesionviewer.io.lidc_xml import LidcNoduleMark, LidcRead, LidcRoi

#: Lesions a detector is scored on in LIDC work (LUNA16 and the issue): >= 3 mm, marked by >= 2 readers.
MIN_READERS, MIN_DIAMETER_MM = 2, 3.0


@dataclass(frozen=True)
class LesionSlice:
    """A lesion on one slice of the volume: its box ``(x1, y1, x2, y2)`` in pixels and how many readers marked it there.

    Example:
        >>> LesionSlice(12, (1.0, 2.0, 5.0, 6.0), 2).num_readers
        2
    """

    slice_index: int
    box_px: tuple[float, float, float, float]
    num_readers: int


@dataclass(frozen=True)
class LidcLesion:
    """One nodule as the readers marked it together (see the module docstring for the rules).

    ``readers`` are the reading-session indices that marked it; ``centre_px`` is the mean (column,
    row) of all its marked points and ``centre_z_mm`` their mean imageZposition; ``slices`` are in
    slice-index order.

    Example:
        >>> lesion = LidcLesion((0, 2), ("a", "b"), 8.0, (LesionSlice(4, (0, 0, 9, 9), 2),
        ...                                              LesionSlice(5, (1, 1, 8, 8), 1)), (4.5, 4.5), -3.0, 0)
        >>> lesion.num_readers, lesion.slice_indices, lesion.key_slice_index
        (2, [4, 5], 4)
    """

    readers: tuple[int, ...]
    nodule_ids: tuple[str, ...]
    diameter_mm: float
    slices: tuple[LesionSlice, ...]
    centre_px: tuple[float, float]
    centre_z_mm: float
    unmatched_rois: int

    @property
    def num_readers(self) -> int:
        """How many readers marked this lesion.

        Example:
            >>> LidcLesion((1, 3, 0), (), 0.0, (), (0, 0), 0.0, 0).num_readers
            3
        """
        return len(self.readers)

    @property
    def slice_indices(self) -> list[int]:
        """The volume slices the lesion covers.

        Example:
            >>> LidcLesion((0,), (), 0.0, (LesionSlice(7, (0, 0, 1, 1), 1),), (0, 0), 0.0, 0).slice_indices
            [7]
        """
        return [s.slice_index for s in self.slices]

    @property
    def key_slice_index(self) -> int:
        """The slice most readers marked, and of those the one with the largest box (-1: no slice).

        Example:
            >>> LidcLesion((0,), (), 0.0, (LesionSlice(3, (0, 0, 2, 2), 1), LesionSlice(4, (0, 0, 5, 5), 1)),
            ...            (0, 0), 0.0, 0).key_slice_index
            4
        """
        if not self.slices:
            return -1
        best = max(self.slices, key=lambda s: (s.num_readers, (s.box_px[2] - s.box_px[0]) * (s.box_px[3] - s.box_px[1])))
        return best.slice_index


def lidc_lesions(read: LidcRead, volume, *, link_mm: float = 3.0, box_rule: Literal["mean", "union"] = "mean",
                 point_box_mm: float = 3.0, sop_uids: Sequence[str] | None = None) -> list[LidcLesion]:
    """Group the readers' marks of ``read`` into lesions on ``volume`` (a :class:`~lesionviewer.io.Volume`).

    Lesions come sorted by their centre's z then row then column. ``sop_uids`` (one per slice, e.g.
    from :func:`volume_sop_uids`) lets ROIs match slices by SOP Instance UID before z position.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> from lesionviewer.io.lidc_xml import LidcNoduleMark, LidcRead, LidcRoi
        >>> vol = Volume(np.zeros((2, 32, 32), np.int16), (1.0, 1.0, 1.0))
        >>> marks = tuple(LidcNoduleMark(r, "", f"n{r}", (LidcRoi(0.0, "", True, ((x, 5),)),)) for r, x in [(0, 5), (1, 6), (2, 20)])
        >>> [(l.num_readers, l.diameter_mm, l.slices[0].box_px) for l in lidc_lesions(LidcRead("", "", "", 3, marks), vol)]
        [(2, 0.0, (4.5, 4.0, 7.5, 7.0)), (1, 0.0, (19.0, 4.0, 22.0, 7.0))]
    """
    if box_rule not in ("mean", "union"):
        raise ValueError(f'box_rule must be "mean" or "union", not {box_rule!r}')
    if not link_mm >= 0:
        raise ValueError(f"link_mm must be >= 0, not {link_mm}")
    spacing_x, spacing_y = float(volume.spacing[2]), float(volume.spacing[1])
    z_positions = slice_z_positions(volume)
    z_tolerance = _z_tolerance(z_positions)
    marks = [m for m in read.nodules if m.included_rois]
    groups = _connected_groups(marks, spacing_x, spacing_y, link_mm, z_tolerance)
    uid_index = {uid: i for i, uid in enumerate(sop_uids)} if sop_uids is not None else {}

    lesions = []
    for members in groups:
        group = [marks[i] for i in members]
        lesions.append(_lesion(group, z_positions, z_tolerance, uid_index, spacing_x, spacing_y, box_rule, point_box_mm))
    lesions.sort(key=lambda l: (l.centre_z_mm, l.centre_px[1], l.centre_px[0]))
    return lesions


def select_lesions(lesions: Sequence[LidcLesion], min_readers: int = MIN_READERS,
                   min_diameter_mm: float = MIN_DIAMETER_MM) -> list[LidcLesion]:
    """The lesions marked by at least ``min_readers`` readers with a diameter of at least ``min_diameter_mm``.

    Example:
        >>> big = LidcLesion((0, 1), (), 12.0, (), (0, 0), 0.0, 0)
        >>> small = LidcLesion((0, 1, 2), (), 0.0, (), (0, 0), 0.0, 0)
        >>> select_lesions([big, small]) == [big], select_lesions([big, small], 3, 0.0) == [small]
        (True, True)
    """
    return [l for l in lesions if l.num_readers >= min_readers and l.diameter_mm >= min_diameter_mm]


def slice_z_positions(volume) -> np.ndarray:
    """The patient z (mm) of each slice, as LIDC's ``imageZposition`` gives it (ImagePositionPatient z).

    Taken from the loader's ``meta["image_positions"]`` when it has one per slice, else from the
    volume's geometry.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> slice_z_positions(Volume(np.zeros((3, 2, 2), np.int16), (1.25, 1, 1), origin=(0, 0, -10))).tolist()
        [-10.0, -8.75, -7.5]
    """
    positions = volume.meta.get("image_positions") if isinstance(volume.meta, dict) else None
    if positions is not None:
        try:
            values = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError):
            values = None
        if values is not None and values.shape == (volume.num_slices, 3) and np.all(np.isfinite(values)):
            return values[:, 2].copy()
    return np.array([volume.index_to_patient(k, 0, 0)[2] for k in range(volume.num_slices)], dtype=np.float64)


def volume_sop_uids(volume) -> list[str] | None:
    """The SOP Instance UID of each slice of a volume loaded from single-frame DICOM files (None otherwise).

    Reads the headers of ``meta["source_files"]`` (no pixels). Volumes from NIfTI, PNG or
    multi-frame files give None.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> volume_sop_uids(Volume(np.zeros((1, 2, 2), np.int16), (1, 1, 1))) is None
        True
    """
    meta = volume.meta if isinstance(volume.meta, dict) else {}
    files = meta.get("source_files")
    frames = meta.get("source_frames")
    if meta.get("format") != "dicom" or not files or len(files) != volume.num_slices or len(set(files)) != len(files):
        return None
    if frames is not None and any(int(f) != 0 for f in frames):
        return None
    from lesionviewer.io.dicom_header import read_dataset

    uids = []
    for path in files:
        uid = str(getattr(read_dataset(path), "SOPInstanceUID", "") or "")
        uids.append(uid)
    return uids


def _z_tolerance(z_positions: np.ndarray) -> float:
    gaps = np.abs(np.diff(np.sort(z_positions)))
    gaps = gaps[gaps > 1e-6]
    return 0.5 * float(gaps.min()) if gaps.size else 0.5


def _points_mm(mark: LidcNoduleMark, spacing_x: float, spacing_y: float) -> np.ndarray:
    rows = [(x * spacing_x, y * spacing_y, roi.z_mm) for roi in mark.included_rois for x, y in roi.points]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _boxes_touch(a: LidcNoduleMark, b: LidcNoduleMark, z_tolerance: float) -> bool:
    for ra in a.included_rois:
        ax1, ay1, ax2, ay2 = ra.bounds
        for rb in b.included_rois:
            if abs(ra.z_mm - rb.z_mm) > z_tolerance:
                continue
            bx1, by1, bx2, by2 = rb.bounds
            if ax1 <= bx2 and bx1 <= ax2 and ay1 <= by2 and by1 <= ay2:
                return True
    return False


def _connected_groups(marks: list[LidcNoduleMark], spacing_x: float, spacing_y: float, link_mm: float,
                      z_tolerance: float) -> list[list[int]]:
    parent = list(range(len(marks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    points = [_points_mm(m, spacing_x, spacing_y) for m in marks]
    for i in range(len(marks)):
        for j in range(i + 1, len(marks)):
            if root(i) == root(j):
                continue
            gap = np.sqrt(((points[i][:, None, :] - points[j][None, :, :]) ** 2).sum(-1)).min()
            if gap <= link_mm or _boxes_touch(marks[i], marks[j], z_tolerance):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(marks)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _match_slice(roi: LidcRoi, z_positions: np.ndarray, z_tolerance: float, uid_index: dict[str, int]) -> int:
    if roi.sop_uid and roi.sop_uid in uid_index:
        return uid_index[roi.sop_uid]
    if not z_positions.size:
        return -1
    nearest = int(np.argmin(np.abs(z_positions - roi.z_mm)))
    return nearest if abs(z_positions[nearest] - roi.z_mm) <= z_tolerance else -1


def _diameter_mm(roi: LidcRoi, spacing_x: float, spacing_y: float) -> float:
    xy = np.asarray(roi.points, dtype=np.float64) * (spacing_x, spacing_y)
    if len(xy) < 2:
        return 0.0
    return float(np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)).max())


def _lesion(group: list[LidcNoduleMark], z_positions: np.ndarray, z_tolerance: float, uid_index: dict[str, int],
            spacing_x: float, spacing_y: float, box_rule: str, point_box_mm: float) -> LidcLesion:
    outlined = [m for m in group if not m.is_point]
    boxing = outlined or group  # centre points give boxes only where nobody outlined the lesion
    per_slice: dict[int, dict[int, list[float]]] = {}  # slice -> reader -> box (union of the reader's ROIs)
    centres: dict[int, list[tuple[float, float]]] = {}
    unmatched = 0
    for mark in group:
        for roi in mark.included_rois:
            index = _match_slice(roi, z_positions, z_tolerance, uid_index)
            if index < 0:
                unmatched += 1
                continue
            if mark not in boxing:
                continue
            if not outlined:
                centres.setdefault(index, []).append(roi.points[0])
                continue
            x1, y1, x2, y2 = roi.bounds
            box = [float(x1), float(y1), float(x2 + 1), float(y2 + 1)]
            old = per_slice.setdefault(index, {}).get(mark.reader)
            if old is not None:
                box = [min(old[0], box[0]), min(old[1], box[1]), max(old[2], box[2]), max(old[3], box[3])]
            per_slice[index][mark.reader] = box
    slices = []
    if outlined:
        for index in sorted(per_slice):
            boxes = np.asarray(list(per_slice[index].values()))
            if box_rule == "mean":
                left, top, right, bottom = boxes.mean(axis=0)
            else:
                (left, top), (right, bottom) = boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)
            slices.append(LesionSlice(index, (float(left), float(top), float(right), float(bottom)), len(boxes)))
    else:
        half_x, half_y = point_box_mm / 2 / spacing_x, point_box_mm / 2 / spacing_y
        for index in sorted(centres):
            cx, cy = np.mean(np.asarray(centres[index], dtype=np.float64), axis=0) + 0.5  # pixel centre
            slices.append(LesionSlice(index, (float(cx - half_x), float(cy - half_y), float(cx + half_x),
                                              float(cy + half_y)), len(centres[index])))
    all_points = np.asarray([(x, y, roi.z_mm) for m in group for roi in m.included_rois for x, y in roi.points],
                            dtype=np.float64)
    centre = all_points.mean(axis=0)
    diameter = max((_diameter_mm(roi, spacing_x, spacing_y) for m in outlined for roi in m.included_rois), default=0.0)
    return LidcLesion(
        readers=tuple(sorted({m.reader for m in group})),
        nodule_ids=tuple(m.nodule_id for m in group),
        diameter_mm=diameter,
        slices=tuple(slices),
        centre_px=(float(centre[0]), float(centre[1])),
        centre_z_mm=float(centre[2]),
        unmatched_rois=unmatched,
    )
