"""Real annotated lesions inside a training host: from a lesion mask, per-slice boxes, and where no synthetic lesion goes.

A host may carry real lesions (LIDC nodules from the reader XML, or any lesion mask a user has, e.g. a
tumour segmentation). Three things follow from them when synthetic training data are written:

* each real lesion's key slice becomes a sample of its own (:class:`RealLesion.key_sample`);
* a synthetic sample whose key slice crosses a real lesion also marks that lesion (otherwise the real
  lesion would be taught as background);
* no synthetic lesion is centred on or next to a real one (:func:`keep_away_mask`).

Example:
    >>> import numpy as np
    >>> mask = np.zeros((3, 40, 40), np.uint8); mask[0:2, 10:20, 12:18] = 1
    >>> [lesion.key_slice for lesion in lesions_from_mask(mask, (2.0, 1.0, 1.0), type_code=5)]
    [0]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from lesionviewer.evaluation.real_ct import padded_box
from lesionviewer.synthesis.insert import DEEPLESION_BOX_PADDING_PX

#: A cross-section shorter than this on a slice is not marked there (the synthetic lesions' rule too).
MIN_ANNOTATED_MM = 3.0
#: No synthetic lesion is centred closer than this to a real lesion's box.
KEEP_AWAY_MM = 10.0

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class RealLesion:
    """One real lesion: its DeepLesion type, its key slice and its padded box on every slice it is marked on.

    Example:
        >>> lesion = RealLesion(5, 1, {0: (1.0, 1.0, 4.0, 4.0), 1: (0.0, 0.0, 6.0, 6.0)})
        >>> lesion.key_sample
        (1, (0.0, 0.0, 6.0, 6.0), 5)
    """

    type_code: int
    key_slice: int
    boxes: dict[int, Box]

    @property
    def key_sample(self) -> tuple[int, Box, int]:
        """``(key slice, box, type)``: the sample of its own it becomes.

        Example:
            >>> RealLesion(4, 0, {0: (1.0, 2.0, 3.0, 4.0)}).key_sample
            (0, (1.0, 2.0, 3.0, 4.0), 4)
        """
        return self.key_slice, self.boxes[self.key_slice], self.type_code


def lesions_from_mask(mask: np.ndarray, spacing: Sequence[float], type_code: int,
                      padding_px: float = DEEPLESION_BOX_PADDING_PX, min_mm: float = MIN_ANNOTATED_MM) -> list[RealLesion]:
    """Each 3-D connected component of a lesion ``mask`` (z, y, x; non-zero = lesion) as a :class:`RealLesion`.

    A slice is marked when the component's cross-section there is at least ``min_mm`` long (its box's
    longer side in mm); the key slice is the marked slice of largest cross-sectional area (DeepLesion's
    key slice is where the lesion is measured, its largest extent). Boxes are the cross-section's
    pixel extent grown by ``padding_px`` and clipped to the image. Components marked on no slice are
    dropped. ``type_code`` is DeepLesion's coarse type (1 bone ... 8 pelvis).

    Example:
        >>> mask = np.zeros((2, 30, 30), bool); mask[:, 10:14, 10:20] = True; mask[1, 25, 25] = True
        >>> [(l.key_slice, l.boxes[0]) for l in lesions_from_mask(mask, (5.0, 0.5, 0.5), 7)]
        [(0, (5.0, 5.0, 24.0, 18.0))]
    """
    if not 1 <= int(type_code) <= 8:
        raise ValueError(f"lesion type {type_code!r}: DeepLesion's types are 1-8")
    mask = np.asarray(mask) != 0
    if mask.ndim != 3:
        raise ValueError(f"a lesion mask must be 3-D (z, y, x), not of shape {mask.shape}")
    _, dy, dx = (float(v) for v in spacing)
    height, width = mask.shape[1:]
    labelled, count = ndimage.label(mask)
    lesions = []
    for index, where in enumerate(ndimage.find_objects(labelled), start=1):
        if where is None:
            continue
        boxes: dict[int, Box] = {}
        areas: dict[int, int] = {}
        for z in range(where[0].start, where[0].stop):
            ys, xs = np.nonzero(labelled[z] == index)
            if len(ys) == 0:
                continue
            long_mm = max((xs.max() - xs.min() + 1) * dx, (ys.max() - ys.min() + 1) * dy)
            if long_mm < min_mm:
                continue
            boxes[z] = padded_box((xs.min(), ys.min(), xs.max(), ys.max()), padding_px, width, height)
            areas[z] = len(ys)
        if boxes:
            key = max(areas, key=lambda z: (areas[z], -z))
            lesions.append(RealLesion(int(type_code), key, boxes))
    return lesions


def lesions_from_mask_file(path: str | Path, volume, type_code: int,
                           segments: Sequence[int] | None = None) -> list[RealLesion]:
    """The lesions of a mask file (NIfTI, NRRD..., or a DICOM SEG and its ``segments``) resampled onto
    ``volume``'s grid by physical position.

    Example:
        >>> import tempfile, pathlib, SimpleITK as sitk
        >>> from lesionviewer.io import Volume
        >>> m = np.zeros((2, 20, 20), np.uint8); m[1, 4:12, 4:8] = 1
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "lesions.nii.gz"; sitk.WriteImage(sitk.GetImageFromArray(m), str(p))
        >>> [l.boxes for l in lesions_from_mask_file(p, Volume(np.zeros((2, 20, 20), np.int16), (1, 1, 1)), 5)]
        [{1: (0.0, 0.0, 12.0, 16.0)}]
    """
    import SimpleITK as sitk

    from lesionviewer.io.dicom_seg import is_dicom_seg, read_dicom_seg_mask
    from lesionviewer.synthesis.tissue import image_on_volume_grid

    if is_dicom_seg(path):
        image = read_dicom_seg_mask(path, segments)
    elif segments is not None:
        raise ValueError(f"{path}: segments can be chosen only in a DICOM SEG file")
    else:
        image = sitk.ReadImage(str(path))
    return lesions_from_mask(image_on_volume_grid(image, volume), volume.spacing, type_code)


def boxes_by_slice(lesions: Sequence[RealLesion]) -> dict[int, list[tuple[Box, int]]]:
    """Every marked cross-section of ``lesions``, by slice: ``{z: [(box, type), ...]}``.

    Example:
        >>> boxes_by_slice([RealLesion(5, 0, {0: (1.0, 1.0, 2.0, 2.0), 3: (0.0, 0.0, 1.0, 1.0)})])[3]
        [((0.0, 0.0, 1.0, 1.0), 5)]
    """
    out: dict[int, list[tuple[Box, int]]] = {}
    for lesion in lesions:
        for z, box in lesion.boxes.items():
            out.setdefault(int(z), []).append((box, lesion.type_code))
    return out


def keep_away_mask(boxes: dict[int, list[tuple[Box, int]]], shape: Sequence[int], spacing: Sequence[float],
                   margin_mm: float = KEEP_AWAY_MM) -> np.ndarray:
    """Where no synthetic lesion may be centred: the real boxes grown by ``margin_mm`` in-plane (z, y, x bool).

    Example:
        >>> away = keep_away_mask({1: [((10.0, 10.0, 12.0, 12.0), 5)]}, (3, 30, 30), (2.0, 1.0, 1.0), margin_mm=3)
        >>> bool(away[1, 11, 11]), bool(away[1, 9, 15]), bool(away[1, 20, 20]), bool(away[0].any())
        (True, True, False, False)
    """
    _, dy, dx = (float(v) for v in spacing)
    away = np.zeros(tuple(int(v) for v in shape), bool)
    height, width = away.shape[1:]
    grow_x, grow_y = margin_mm / dx, margin_mm / dy
    for z, entries in boxes.items():
        if not 0 <= z < away.shape[0]:
            continue
        for (x1, y1, x2, y2), _type in entries:
            xa, xb = max(0, int(np.floor(x1 - grow_x))), min(width, int(np.ceil(x2 + grow_x)) + 1)
            ya, yb = max(0, int(np.floor(y1 - grow_y))), min(height, int(np.ceil(y2 + grow_y)) + 1)
            away[z, ya:yb, xa:xb] = True
    return away
