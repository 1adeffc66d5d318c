"""Supervised 3D pre-training on a 2D detection dataset in COCO format (the paper's Sec. 2.2).

Each RGB image is read as a stack of 3 "slices" (R, G, B -> depth 0, 1, 2; D = 3, no depth pooling
in MP3D), its boxes and classes are the targets of a multi-class detector of the configured
architecture, and the run is an ordinary training run (same loop, checkpoints, resume, DDP). The
resulting detector initialises lesion detectors of any number of slices through
``model.init_from = "<this run folder>"`` (see ``lesionviewer.detection.initialization``).

Annotations are read with pycocotools; crowd annotations and boxes under one pixel are left out,
and so are images without any remaining box. Classes are COCO's category ids in ascending order,
mapped to labels 1..K (0 is the background); the mapping is saved as ``categories.json``.

Example:
    >>> import tempfile
    >>> folder = write_toy_coco(tempfile.mkdtemp(), images=2, size=32)
    >>> ds = CocoStackDataset(folder / "annotations.json", folder / "images")
    >>> stack, target = ds[0]
    >>> tuple(stack.shape), target["labels"].dtype, ds.num_classes
    ((3, 32, 32), torch.int64, 3)
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lesionviewer.training.augmentation import StackAugmentation, sample_rng
from lesionviewer.training.config import TrainingConfig, apply_overrides
from lesionviewer.util.atomic import atomic_write_text


class CocoStackDataset(torch.utils.data.Dataset):
    """COCO images as ``(3, H, W)`` float32 stacks in 0..255 with multi-class box targets.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (8, 6), (10, 20, 30)).save(folder / "a.png")
        >>> _ = (folder / "ann.json").write_text(json.dumps({
        ...     "images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}],
        ...     "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 1, 3, 2], "area": 6,
        ...                      "iscrowd": 0}],
        ...     "categories": [{"id": 7, "name": "cat"}]}))
        >>> dataset = CocoStackDataset(folder / "ann.json", folder)
        >>> stack, target = dataset[0]
        >>> len(dataset), tuple(stack.shape), stack[:, 0, 0].tolist()  # R, G, B are the 3 slices
        (1, (3, 6, 8), [10.0, 20.0, 30.0])
        >>> target["boxes"].tolist(), target["labels"].tolist()  # COCO x, y, w, h -> x1, y1, x2, y2; id 7 -> 1
        ([[1.0, 1.0, 4.0, 3.0]], [1])
    """

    def __init__(self, annotation_json: str | Path, images_dir: str | Path,
                 augment: StackAugmentation | None = None, seed: int = 0) -> None:
        from pycocotools.coco import COCO

        annotation_json, self.images_dir = Path(annotation_json), Path(images_dir)
        if not annotation_json.is_file():
            raise FileNotFoundError(f"{annotation_json}: COCO annotation file not found")
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"{self.images_dir}: image folder not found")
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            try:
                self.coco = COCO(str(annotation_json))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{annotation_json}: not a COCO detection file ({exc!r})") from None
        self.category_ids = sorted(self.coco.getCatIds())
        self.label_of = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        self.augment = augment
        self.seed = int(seed)
        self.image_ids = [i for i in sorted(self.coco.getImgIds()) if len(self._boxes(i)[0])]

    @property
    def num_classes(self) -> int:
        """Categories + background.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> _ = (folder / "a.json").write_text(json.dumps({"images": [], "annotations": [],
            ...     "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}))
            >>> CocoStackDataset(folder / "a.json", folder).num_classes  # cat, dog and the background
            3
        """
        return len(self.category_ids) + 1

    def categories(self) -> list[dict[str, Any]]:
        """``[{"label": 1, "coco_id": ..., "name": ...}, ...]``.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> _ = (folder / "a.json").write_text(json.dumps({"images": [], "annotations": [],
            ...     "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}))
            >>> CocoStackDataset(folder / "a.json", folder).categories()  # labels 1, 2 in COCO id order
            [{'label': 1, 'coco_id': 3, 'name': 'dog'}, {'label': 2, 'coco_id': 7, 'name': 'cat'}]
        """
        cats = self.coco.loadCats(self.category_ids)
        return [{"label": self.label_of[c["id"]], "coco_id": c["id"], "name": c.get("name", "")} for c in cats]

    def _boxes(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id], iscrowd=False))
        boxes, labels = [], []
        for ann in anns:
            x, y, w, h = ann["bbox"]
            if w >= 1 and h >= 1 and ann.get("category_id") in self.label_of:
                boxes.append([x, y, x + w, y + h])
                labels.append(self.label_of[ann["category_id"]])
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        image_id = self.image_ids[index]
        info = self.coco.loadImgs([image_id])[0]
        path = self.images_dir / info["file_name"]
        try:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read the image ({exc})") from None
        stack = np.ascontiguousarray(rgb.transpose(2, 0, 1))  # R, G, B become slices 0, 1, 2
        boxes, labels = self._boxes(image_id)
        if self.augment is not None:
            stack, boxes = self.augment(stack, boxes, sample_rng(self.seed, epoch, index))
        return torch.from_numpy(np.ascontiguousarray(stack)), {
            "boxes": torch.as_tensor(boxes), "labels": torch.as_tensor(labels), "index": torch.tensor(index)}


def pretrain(cfg: TrainingConfig, coco_json: str | Path, images_dir: str | Path, run_dir: str | Path,
             resume: bool = False) -> dict[str, Any]:
    """Pre-train the configured detector on a COCO-format dataset (D forced to 3); returns the summary.

    Example:
        >>> import tempfile
        >>> pretrain(TrainingConfig(), "/nonexistent/annotations.json", "/nonexistent/images", tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/annotations.json: COCO annotation file not found
    """
    from lesionviewer.training.distributed import shutdown_distributed, start_training_process
    from lesionviewer.training.loop import Trainer
    from lesionviewer.training.model_setup import build_model
    
    if cfg.data.num_slices != 3:
        cfg = apply_overrides(cfg, ["data.num_slices=3"])  # an RGB image is exactly 3 slices
    run_dir = Path(run_dir)
    ctx = start_training_process(cfg.train)
    try:
        augment = StackAugmentation(cfg.data.hflip, cfg.data.vflip, cfg.data.reverse_slices)
        dataset = CocoStackDataset(coco_json, images_dir, augment=augment, seed=cfg.train.seed)
        if len(dataset) == 0:
            raise ValueError(f"{coco_json}: no image has a usable box")
        model = build_model(cfg, num_classes=dataset.num_classes)
        info = {"coco_json": str(Path(coco_json).resolve()), "images": str(Path(images_dir).resolve()),
                "num_images": len(dataset), "num_classes": dataset.num_classes}
        trainer = Trainer(cfg, run_dir, model, dataset, ctx=ctx, resume=resume, evaluate=None,
                          extra_summary={"pretraining_data": info})
        if ctx.is_main:
            atomic_write_text(run_dir / "categories.json", json.dumps(dataset.categories(), indent=1))
        return trainer.run()
    finally:
        shutdown_distributed(ctx)


def write_toy_coco(folder: str | Path, images: int = 4, size: int = 64, seed: int = 0) -> Path:
    """A tiny COCO-format dataset (coloured rectangles of 2 classes) for tests; returns ``folder``.

    Writes ``images/NNN.png`` and ``annotations.json``.

    Example:
        >>> import tempfile
        >>> folder = write_toy_coco(tempfile.mkdtemp(), images=1, size=16)
        >>> sorted(json.loads((folder / "annotations.json").read_text()))
        ['annotations', 'categories', 'images']
    """
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cats = [{"id": 3, "name": "red box"}, {"id": 7, "name": "green box"}]
    imgs: list[dict] = []
    anns: list[dict] = []
    for i in range(images):
        canvas = np.full((size, size, 3), 20, np.uint8)
        for j, cat in enumerate(cats):
            w, h = (int(v) for v in rng.integers(size // 6, size // 3, 2))
            x, y = (int(v) for v in rng.integers(0, size - max(w, h), 2))
            canvas[y:y + h, x:x + w, j] = 230
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cat["id"], "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
        name = f"{i:03d}.png"
        Image.fromarray(canvas).save(folder / "images" / name)
        imgs.append({"id": i + 1, "file_name": name, "width": size, "height": size})
    (folder / "annotations.json").write_text(json.dumps({"images": imgs, "annotations": anns, "categories": cats}))
    return folder
