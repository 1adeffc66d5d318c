"""Where each DeepLesion lesion type may sit in a real CT volume: organ labels where given, HU rules elsewhere.

Masks are computed per slice on demand (a whole 3-D distance transform of a 500-slice chest would
cost seconds per type). Organ labels (TotalSegmentator "total" ids) place liver and kidney lesions;
without labels those types are simply not offered. The other types come from HU and geometry:

* lung (5): the lungs (``lesionviewer.risk.lung_mask``), 2 mm inside the pleura;
* mediastinum (3): fat and soft tissue between the two lungs, centred where fat makes up at least
  half of the tissue around (:data:`MEDIASTINAL_FAT_SHARE`: lymph nodes lie in the mediastinal fat);
* abdomen (2) and pelvis (8): fat and soft tissue deeper than 20 mm inside the body on slices with
  little lung, outside labelled solid organs;
* soft tissue (7): fat and muscle within 25 mm of the skin;
* bone (1): bone at least 4 mm from its surface (vertebral bodies, humeral heads, pelvis).

Example:
    >>> import numpy as np
    >>> from lesionviewer.io import Volume
    >>> hu = np.full((3, 64, 64), -1000, np.int16); hu[:, 8:56, 8:56] = 40
    >>> maps = TissueMaps(Volume(hu, (2.0, 1.0, 1.0)))
    >>> bool(maps.placement(1, 7).any()), bool(maps.placement(1, 4).any())
    (True, False)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

#: TotalSegmentator "total" label ids of the organs that get their own lesion types.
LIVER_LABELS = (5,)
KIDNEY_LABELS = (2, 3)
#: Solid organs, vessels and bowel that abdominal lymph nodes and masses are kept out of.
ABDOMINAL_ORGAN_LABELS = tuple(range(1, 25)) + (52, 63, 64, 65)
#: Fat on CT, HU (a half-open band: above the first value, below the second).
FAT_HU = (-200.0, -30.0)
#: A mediastinal lymph node lies in the mediastinal fat, not inside the heart or a great vessel: its
#: centre needs at least this share of fat among the fat and soft-tissue pixels around it, weighted by
#: a Gaussian of ``MEDIASTINAL_FAT_SIGMA_MM``. Our choice (session 18), made after measuring that 102
#: of the 133 mediastinal lesions of a selection set drawn without it sat in soft tissue, where the
#: shipped detector found 0.10 of them against 0.35 of those in fat (docs/training.md, Run 37).
MEDIASTINAL_FAT_SHARE = 0.5
MEDIASTINAL_FAT_SIGMA_MM = 4.0


def labels_on_volume_grid(label_path: str | Path, volume) -> np.ndarray:
    """Read an organ label map (NIfTI, NRRD...) and resample it (nearest) onto ``volume``'s voxel grid.

    Physical geometry decides the match, not the array order: a NIfTI label map stored with a
    flipped axis lands on the right voxels. A DICOM SEG is refused (``ValueError``): its segment
    numbers are not TotalSegmentator's classes; lesion masks read it (``real_lesions``).

    Example:
        >>> import tempfile, pathlib, numpy as np, SimpleITK as sitk
        >>> from lesionviewer.io import Volume
        >>> lab = np.zeros((2, 4, 4), np.uint8); lab[:, 0, :] = 7
        >>> img = sitk.GetImageFromArray(lab[:, ::-1].copy())
        >>> img.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1)); img.SetOrigin((0, 3, 0))
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "l.nii.gz"; sitk.WriteImage(img, str(p))
        >>> labels_on_volume_grid(p, Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1)))[0, :, 0].tolist()
        [7, 0, 0, 0]
    """
    import SimpleITK as sitk

    from lesionviewer.io.dicom_seg import is_dicom_seg

    if is_dicom_seg(label_path):
        raise ValueError(f"{label_path}: organ labels must be a label map numbered as TotalSegmentator's classes "
                         "(NIfTI, NRRD); a DICOM SEG is read only as a lesion mask")
    return image_on_volume_grid(sitk.ReadImage(str(label_path)), volume)


def image_on_volume_grid(image, volume) -> np.ndarray:
    """A SimpleITK label or mask image resampled (nearest, by physical position) onto ``volume``'s voxel grid.

    Example:
        >>> import numpy as np, SimpleITK as sitk
        >>> from lesionviewer.io import Volume
        >>> img = sitk.GetImageFromArray(np.eye(4, dtype=np.uint8)[None].repeat(2, 0))
        >>> image_on_volume_grid(img, Volume(np.zeros((2, 4, 4), np.int16), (1, 1, 1)))[1].diagonal().tolist()
        [1, 1, 1, 1]
    """
    import SimpleITK as sitk

    reference = sitk.Image(int(volume.shape[2]), int(volume.shape[1]), int(volume.shape[0]), sitk.sitkUInt8)
    reference.SetSpacing((volume.spacing[2], volume.spacing[1], volume.spacing[0]))
    reference.SetOrigin(tuple(volume.origin))
    reference.SetDirection(tuple(np.asarray(volume.direction, float).ravel()))
    resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, image.GetPixelID())
    return sitk.GetArrayFromImage(resampled).astype(np.int32)


def body_mask(slice_hu: np.ndarray) -> np.ndarray:
    """The patient's body on one slice: the largest component above -400 HU, holes filled (no table).

    Example:
        >>> hu = np.full((9, 9), -1000, np.int16); hu[2:7, 2:7] = 30; hu[4, 4] = -1000
        >>> int(body_mask(hu).sum())
        25
    """
    solid = slice_hu > -400
    labelled, count = ndimage.label(solid)
    if count == 0:
        return solid
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(labelled == int(np.argmax(sizes)))


class TissueMaps:
    """Per-slice placement masks for the eight lesion types in one host volume.

    ``labels`` (optional) is an organ label volume on the host's grid (see
    :func:`labels_on_volume_grid`). ``keep_away`` (optional, bool, the volume's shape) is where no lesion
    may be centred: next to real lesions the host already holds. ``mediastinal_fat_share`` is the least
    share of fat around a mediastinal lesion's centre (0: anywhere in the mediastinum's fat and soft
    tissue, as data drawn before session 18 were). Masks are cached per slice.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.io import Volume
        >>> hu = np.full((1, 90, 90), -1000, np.int16); hu[0, 5:85, 5:85] = 50
        >>> TissueMaps(Volume(hu, (1.0, 1.0, 1.0))).available_types()
        [2, 7, 8]
    """

    def __init__(self, volume, labels: np.ndarray | None = None, keep_away: np.ndarray | None = None,
                 mediastinal_fat_share: float = MEDIASTINAL_FAT_SHARE) -> None:
        self.volume = volume
        self.mediastinal_fat_share = float(mediastinal_fat_share)
        self.hu = volume.hu
        dz, dy, dx = volume.spacing
        self.spacing: tuple[float, float, float] = (float(dz), float(dy), float(dx))
        if labels is not None and labels.shape != volume.shape:
            raise ValueError(f"labels of shape {labels.shape} do not match the volume's {volume.shape}")
        if keep_away is not None and keep_away.shape != volume.shape:
            raise ValueError(f"keep-away mask of shape {keep_away.shape} does not match the volume's {volume.shape}")
        self.labels = labels
        self.keep_away = keep_away
        self._lung: np.ndarray | None = None
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._bodies: dict[int, np.ndarray] = {}

    # ------------------------------------------------------------------ building blocks
    @property
    def lung(self) -> np.ndarray:
        """The 3-D lung mask (computed once).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> TissueMaps(Volume(np.full((2, 8, 8), 40, np.int16), (1, 1, 1))).lung.any()
            np.False_
        """
        if self._lung is None:
            from lesionviewer.risk.lung_mask import coarse_lung_mask

            self._lung = coarse_lung_mask(self.hu, self.spacing).mask
        return self._lung

    def body(self, z: int) -> np.ndarray:
        """The patient's body on slice ``z`` (largest non-air component, holes filled; no table).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> hu = np.full((1, 9, 9), -1000, np.int16); hu[0, 2:7, 2:7] = 30; hu[0, 4, 4] = -1000
            >>> int(TissueMaps(Volume(hu, (1, 1, 1))).body(0).sum())
            25
        """
        z = int(z)
        if z not in self._bodies:
            self._bodies[z] = self._body(z)
        return self._bodies[z]

    def _body(self, z: int) -> np.ndarray:
        return body_mask(self.hu[z])

    def _mm_to_px(self, mm: float) -> float:
        return mm / min(self.spacing[1:])

    def _depth_mm(self, mask: np.ndarray) -> np.ndarray:
        return ndimage.distance_transform_edt(mask, sampling=self.spacing[1:])

    def _labels_in(self, z: int, ids) -> np.ndarray:
        if self.labels is None:
            return np.zeros(self.hu.shape[1:], bool)
        return np.isin(self.labels[z], ids)

    def _fat_share(self, hu: np.ndarray, fat_or_soft: np.ndarray) -> np.ndarray:
        """Per pixel, the Gaussian-weighted share of fat among the fat and soft-tissue pixels around it."""
        sigma = [MEDIASTINAL_FAT_SIGMA_MM / self.spacing[1], MEDIASTINAL_FAT_SIGMA_MM / self.spacing[2]]
        fat = (fat_or_soft & (hu > FAT_HU[0]) & (hu < FAT_HU[1])).astype(np.float32)
        tissue = ndimage.gaussian_filter(fat_or_soft.astype(np.float32), sigma)
        return ndimage.gaussian_filter(fat, sigma) / np.maximum(tissue, 1e-6)

    # ------------------------------------------------------------------ placement
    def placement(self, z: int, type_code: int) -> np.ndarray:
        """Pixels of slice ``z`` where a lesion of ``type_code`` may be centred (2-D bool mask).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> hu = np.full((1, 40, 40), -1000, np.int16); hu[0, 5:35, 5:35] = 500
            >>> bool(TissueMaps(Volume(hu, (1, 1, 1))).placement(0, 1)[20, 20])
            True
        """
        key = (int(z), int(type_code))
        if key not in self._cache:
            place = self._placement(int(z), int(type_code))
            if self.keep_away is not None:
                place = place & ~self.keep_away[int(z)]
            self._cache[key] = place
        return self._cache[key]

    def _placement(self, z: int, t: int) -> np.ndarray:
        hu = self.hu[z].astype(np.float32)
        body = self.body(z)
        lung = self.lung[z] & body
        bone = (hu > 180) & body
        fat_or_soft = (hu > -200) & (hu < 120) & body & ~lung
        if t == 4:
            organ = self._labels_in(z, LIVER_LABELS)
            # not on the enhancing vessels inside the liver
            if organ.any():
                smooth = ndimage.gaussian_filter(hu, 1.5)
                organ &= smooth < float(np.median(hu[organ])) + 40.0
            return ndimage.binary_erosion(organ, iterations=2) if organ.any() else organ
        if t == 6:
            organ = self._labels_in(z, KIDNEY_LABELS)
            return ndimage.binary_erosion(organ, iterations=2) if organ.any() else organ
        if t == 5:
            # aerated lung only: not bowel gas (labelled organs), not a small air pocket
            lung = lung & ~self._labels_in(z, ABDOMINAL_ORGAN_LABELS)
            labelled, count = ndimage.label(lung)
            if count:
                area_mm2 = np.bincount(labelled.ravel()) * self.spacing[1] * self.spacing[2]
                area_mm2[0] = 0
                lung = (area_mm2 >= 1500.0)[labelled]
            return self._depth_mm(lung) >= 2.0 if lung.any() else lung
        if t == 1:
            thick = self._depth_mm(ndimage.binary_opening(bone, iterations=1)) >= 4.0
            return thick
        if t == 3:
            if lung.sum() < 0.05 * max(body.sum(), 1):
                return np.zeros_like(body)
            rows = np.zeros_like(body)
            for y in np.flatnonzero(lung.any(axis=1)):
                xs = np.flatnonzero(lung[y])
                rows[y, xs[0]:xs[-1] + 1] = True
            inner = self._depth_mm(body) >= 20.0
            mask = rows & fat_or_soft & inner & ~ndimage.binary_dilation(bone, iterations=3)
            if self.mediastinal_fat_share > 0:
                mask &= self._fat_share(hu, fat_or_soft) >= self.mediastinal_fat_share
            return mask
        if t in (2, 8):
            if lung.sum() > 0.05 * max(body.sum(), 1):
                return np.zeros_like(body)
            inner = self._depth_mm(body) >= 20.0
            mask = fat_or_soft & inner & ~ndimage.binary_dilation(bone, iterations=3)
            return mask & ~self._labels_in(z, ABDOMINAL_ORGAN_LABELS)
        if t == 7:
            depth = self._depth_mm(body)
            return fat_or_soft & (depth >= 3.0) & (depth <= 25.0) & ~ndimage.binary_dilation(bone, iterations=2)
        raise ValueError(f"unknown lesion type {t} (DeepLesion types are 1..8)")

    def confinement(self, z: int, type_code: int) -> np.ndarray:
        """Where a lesion of ``type_code`` centred on this slice may extend on slice ``z``.

        The body for every type; for liver and kidney lesions with organ labels, the organ grown by
        2 pixels (a lesion may bulge the capsule, not leave the organ).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> hu = np.full((1, 20, 20), -1000, np.int16); hu[0, 5:15, 5:15] = 40
            >>> lab = np.zeros((1, 20, 20), np.int32); lab[0, 8:12, 8:12] = 5
            >>> maps = TissueMaps(Volume(hu, (1, 1, 1)), lab)
            >>> int(maps.confinement(0, 7).sum()), int(maps.confinement(0, 4).sum())
            (100, 52)
        """
        body = self.body(z)
        if type_code in (4, 6) and self.labels is not None:
            organ = self._labels_in(z, LIVER_LABELS if type_code == 4 else KIDNEY_LABELS)
            return body & ndimage.binary_dilation(organ, iterations=2)
        return body

    def available_types(self, min_pixels: int = 50) -> list[int]:
        """The types with room on at least one of a few sampled slices.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> TissueMaps(Volume(np.full((1, 8, 8), -1000, np.int16), (1, 1, 1))).available_types()
            []
        """
        zs = np.unique(np.linspace(0, self.hu.shape[0] - 1, min(self.hu.shape[0], 7)).round().astype(int))
        return [t for t in range(1, 9) if any(int(self.placement(int(z), t).sum()) >= min_pixels for z in zs)]

    def reference_hu(self, z: int, y: int, x: int, type_code: int, radius_px: int = 12) -> float:
        """The median HU of the lesion's home tissue near ``(z, y, x)`` (the organ for liver/kidney).

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> hu = np.full((1, 40, 40), -1000, np.int16); hu[0, 5:35, 5:35] = 60
            >>> TissueMaps(Volume(hu, (1, 1, 1))).reference_hu(0, 20, 20, 7)
            60.0
        """
        ys = slice(max(0, y - radius_px), y + radius_px + 1)
        xs = slice(max(0, x - radius_px), x + radius_px + 1)
        patch = self.hu[z, ys, xs].astype(np.float32)
        home = self.placement(z, type_code)[ys, xs]
        if type_code in (4, 6) and self.labels is not None:
            home = self._labels_in(z, LIVER_LABELS if type_code == 4 else KIDNEY_LABELS)[ys, xs]
        values = patch[home] if home.any() else patch.ravel()
        return float(np.median(values))
