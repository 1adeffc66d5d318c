"""A tiny DeepLesion-layout dataset (bright blobs in a body-like ellipse) for smoke runs and doctests.

Seconds to write and to train on; it exercises the real reading path (``Images_png/`` PNGs with
HU + 32768, a DL_info.csv with DeepLesion's columns). For realistic synthetic CT
use ``lesionviewer-phantom`` (``lesionviewer.phantom``), which writes the same layout.

Example:
    >>> import tempfile
    >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=3, size=32)
    >>> sorted(p.name for p in root.iterdir())
    ['DL_info.csv', 'Images_png']
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from lesionviewer.training.key_slices import DL_INFO_HEADER


def write_toy_deeplesion(folder: str | Path, patients: int = 6, size: int = 64, slices: int = 12,
                         slice_interval_mm: float = 2.0, seed: int = 0,
                         splits: tuple[int, ...] | None = None) -> Path:
    """Write ``patients`` one-series patients with one or two blob lesions each; return ``folder``.

    Splits cycle train, train, val, test (codes 1, 1, 2, 3) unless ``splits`` gives one code per patient.

    Example:
        >>> import tempfile
        >>> root = write_toy_deeplesion(tempfile.mkdtemp(), patients=2, size=32, slices=4)
        >>> len(list((root / "Images_png").iterdir()))
        2
    """
    root = Path(folder)
    images = root / "Images_png"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    rows = []
    cycle = (1, 1, 2, 3)
    for p in range(1, patients + 1):
        split = splits[p - 1] if splits is not None else cycle[(p - 1) % len(cycle)]
        series = f"{p:06d}_01_01"
        (images / series).mkdir(exist_ok=True)
        body = ((xx - size / 2) / (0.45 * size)) ** 2 + ((yy - size / 2) / (0.38 * size)) ** 2 <= 1
        volume = np.where(body, 40.0, -1000.0)[None].repeat(slices, 0) + rng.normal(0, 8, (slices, size, size))
        key = slices // 2 + 1  # file numbers start at 1
        lesions = []
        for _ in range(int(rng.integers(1, 3))):
            r = float(rng.uniform(0.07, 0.12) * size)
            cx, cy = rng.uniform(0.3 * size, 0.7 * size, 2)
            zr = max(1.0, 6.0 / slice_interval_mm)
            for z in range(slices):
                dz = (z + 1 - key) / zr
                if abs(dz) < 1:
                    rz = r * np.sqrt(1 - dz * dz)
                    volume[z][(xx - cx) ** 2 + (yy - cy) ** 2 <= rz * rz] = 160.0
            lesions.append((cx - r, cy - r, cx + r, cy + r))
        for z in range(slices):
            stored = np.clip(np.rint(volume[z]) + 32768, 0, 65535).astype(np.uint16)
            Image.fromarray(stored).save(images / series / f"{z + 1:03d}.png")
        for x1, y1, x2, y2 in lesions:
            # The table is one-based (MATLAB); lesionviewer.io.read_dl_info subtracts the 1 again.
            box = ", ".join(f"{v + 1:.1f}" for v in (x1, y1, x2, y2))
            rows.append([f"{series}_{key:03d}.png", p, 1, 1, key, "0, 0, 0, 0, 0, 0, 0, 0", box,
                         f"{x2 - x1:.2f}, {y2 - y1:.2f}", "0.5, 0.5, 0.5", 4, 0, f"1, {slices}",
                         f"0.8, 0.8, {slice_interval_mm:g}", f"{size}, {size}", "-175, 275", "F", 50, split])
    with (root / "DL_info.csv").open("w", newline="", encoding="utf-8") as handle:
        handle.write(DL_INFO_HEADER + "\n")
        csv.writer(handle).writerows(rows)
    return root
