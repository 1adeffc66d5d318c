"""The train/val/test datasets a config describes (official DeepLesion split, noisy filter, fraction).

Example:
    >>> import tempfile
    >>> from lesionviewer.training.config import TrainingConfig
    >>> from lesionviewer.training.toy_data import write_toy_deeplesion
    >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=4, size=32, slices=4)
    >>> cfg = TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3}})
    >>> sets = build_split_datasets(cfg)
    >>> {k: len(v) for k, v in sets.items()}
    {'train': 2, 'val': 1, 'test': 1}
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.training.affine_jitter import AffineJitter
from lesionviewer.training.augmentation import StackAugmentation
from lesionviewer.training.config import TrainingConfig
from lesionviewer.training.dataset import LesionDataset
from lesionviewer.training.fractions import select_fraction
from lesionviewer.training.intensity_jitter import IntensityJitter
from lesionviewer.training.key_slices import SPLITS, read_key_slices
from lesionviewer.training.resolution_jitter import ResolutionJitter
from lesionviewer.training.zoom_crop import ZoomCrop


def dl_info_path(cfg: TrainingConfig) -> Path:
    """The annotation table the config names (``data.dl_info`` or ``<data.root>/DL_info.csv``).

    Example:
        >>> from lesionviewer.training.config import TrainingConfig
        >>> dl_info_path(TrainingConfig.from_dict({"data": {"root": "/d"}})).as_posix()
        '/d/DL_info.csv'
    """
    return Path(cfg.data.dl_info) if cfg.data.dl_info else Path(cfg.data.root) / "DL_info.csv"


def build_split_datasets(cfg: TrainingConfig, splits: tuple[str, ...] = SPLITS) -> dict[str, LesionDataset]:
    """One :class:`LesionDataset` per requested split; training gets augmentation and the fraction.

    Example:
        >>> import tempfile
        >>> from lesionviewer.training.config import TrainingConfig
        >>> from lesionviewer.training.toy_data import write_toy_deeplesion
        >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=4, size=32, slices=4)
        >>> cfg = TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3, "crop_size": 16}})
        >>> sets = build_split_datasets(cfg, splits=("train", "val"))
        >>> sets["train"].augment is not None, sets["val"].augment, sets["train"].zoom_crop.crop_size
        (True, None, 16)
    """
    key_slices = read_key_slices(dl_info_path(cfg), drop_noisy=cfg.data.drop_noisy)
    datasets = {}
    for split in splits:
        items = [k for k in key_slices if k.split == split]
        augment, zoom_crop, intensity, resolution, affine = None, None, None, None, None
        if split == "train":
            items = select_fraction(items, cfg.data.train_fraction, cfg.data.fraction_seed)
            augment = StackAugmentation(cfg.data.hflip, cfg.data.vflip, cfg.data.reverse_slices,
                                        cfg.data.repeat_key_slice)
            zoom_crop = ZoomCrop(tuple(cfg.data.pixel_mm_range), cfg.data.crop_size, cfg.data.crop_on_lesion)
            intensity = IntensityJitter(cfg.data.intensity_offset_hu, cfg.data.intensity_gain,
                                        cfg.data.intensity_noise_hu, cfg.data.intensity_blur)
            resolution = ResolutionJitter(cfg.data.coarse_probability,
                                          (float(cfg.data.coarse_pixel_mm[0]), float(cfg.data.coarse_pixel_mm[1])))
            affine = AffineJitter(cfg.data.affine_probability, cfg.data.affine_rotation_deg,
                                  (float(cfg.data.affine_scale[0]), float(cfg.data.affine_scale[1])))
        datasets[split] = LesionDataset(cfg.data.root, items, cfg.data.num_slices, cfg.data.slice_interval_mm,
                                        augment=augment, seed=cfg.train.seed, hu_clip=tuple(cfg.data.hu_clip),
                                        zoom_crop=zoom_crop, intensity=intensity, resolution=resolution,
                                        affine=affine, key_slice_alone=split != "train" and cfg.eval.key_slice_alone)
    return datasets


def describe_training_data(cfg: TrainingConfig, datasets: dict[str, LesionDataset]) -> dict:
    """What the model was trained on, for the run summary and the model card.

    Example:
        >>> import tempfile
        >>> from lesionviewer.training.config import TrainingConfig
        >>> from lesionviewer.training.toy_data import write_toy_deeplesion
        >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=4, size=32, slices=4)
        >>> cfg = TrainingConfig.from_dict({"data": {"root": str(root), "num_slices": 3}})
        >>> info = describe_training_data(cfg, build_split_datasets(cfg))
        >>> info["train_patients"], info["val_patients"], info["test_patients"], info["num_slices"]
        (2, 1, 1, 3)
    """
    info = {
        "root": str(Path(cfg.data.root).resolve()),
        "annotations": str(dl_info_path(cfg).resolve()),
        "num_slices": cfg.data.num_slices,
        "slice_interval_mm": cfg.data.slice_interval_mm,
        "drop_noisy": cfg.data.drop_noisy,
        "train_fraction": cfg.data.train_fraction,
        "fraction_seed": cfg.data.fraction_seed,
    }
    for split, ds in datasets.items():
        info[f"{split}_key_slices"] = len(ds)
        info[f"{split}_lesions"] = int(sum(k.num_lesions for k in ds.key_slices))
        info[f"{split}_patients"] = len({k.patient for k in ds.key_slices})
    return info
