"""Measuring how CT-like the phantom is: the same statistics on phantom and on real CT, side by side.

Nothing here needs tissue labels, so real and phantom images go through the same code:
HU peaks of air, fat and soft tissue and the bone tail from histograms of the body; noise as
the typical standard deviation of flat soft-tissue patches; the noise power spectrum (NPS) of
those patches; and the DL_info-style tables (lesion diameters in mm, lesion types, slice
intervals, pixel spacings).

Run ``python -m lesionviewer.phantom.realism ../shared/data`` to print the comparison and
save the montage in ``docs/images/phantom_montage.png``.

Example:
    >>> import numpy as np
    >>> hu = np.r_[np.full(500, -1000), np.full(300, -100), np.full(400, 60), np.full(20, 900)].reshape(1, 1, -1)
    >>> peaks = hu_peaks(hu)
    >>> peaks["air"], peaks["fat"], peaks["soft_tissue"]
    (-1000.0, -100.0, 60.0)
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage

from lesionviewer.phantom.noise import noise_power_spectrum

# HU windows in which each peak is searched
PEAK_WINDOWS = {"air": (-1100.0, -900.0), "fat": (-200.0, -40.0), "soft_tissue": (0.0, 200.0)}


def hu_peaks(hu: np.ndarray, bin_hu: float = 5.0) -> dict[str, float]:
    """Most frequent HU of air, fat and soft tissue, and the 99.5th percentile of bone (HU > 200) in ``hu``.

    Example:
        >>> import numpy as np
        >>> hu_peaks(np.full((1, 4, 4), 40))["soft_tissue"]
        40.0
    """
    values = np.asarray(hu, dtype=np.float32).ravel()
    out: dict[str, float] = {}
    for name, (lo, hi) in PEAK_WINDOWS.items():
        sel = values[(values >= lo) & (values < hi)]
        if sel.size == 0:
            out[name] = float("nan")
            continue
        counts, edges = np.histogram(sel, bins=np.arange(lo, hi + bin_hu, bin_hu))
        i = int(np.argmax(counts))
        out[name] = float(round(0.5 * (edges[i] + edges[i + 1]) - bin_hu / 2))
    bone = values[values > 200]
    out["bone_p99.5"] = float(np.percentile(bone, 99.5)) if bone.size else float("nan")
    out["bone_fraction_of_body"] = float(bone.size / max(1, int((values > -500).sum())))
    return out


def flat_patches(hu: np.ndarray, size: int = 16, lo: float = 20.0, hi: float = 200.0, max_range: float = 160.0) -> np.ndarray:
    """Square ``size`` patches of soft tissue (mean in ``[lo, hi]`` HU, no edges) from every slice, stacked ``(n, size, size)``.

    An edge is refused by requiring the patch's 3x3-smoothed range below ``max_range``; what
    is left is mostly noise on organ parenchyma.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> flat_patches(60 + rng.normal(0, 10, (1, 64, 64)), size=16).shape
        (16, 16, 16)
    """
    out = []
    for plane in np.asarray(hu, dtype=np.float32):
        smooth = ndimage.uniform_filter(plane, 3)
        for y in range(0, plane.shape[0] - size + 1, size):
            for x in range(0, plane.shape[1] - size + 1, size):
                p = plane[y : y + size, x : x + size]
                s = smooth[y + 1 : y + size - 1, x + 1 : x + size - 1]
                if lo <= p.mean() <= hi and float(s.max() - s.min()) < max_range * 0.5:
                    out.append(p)
    return np.array(out, dtype=np.float32).reshape(-1, size, size)


def noise_std(hu: np.ndarray, size: int = 16) -> float:
    """Median standard deviation of flat soft-tissue patches (after removing each patch's plane fit): the image noise.

    Example:
        >>> import numpy as np
        >>> round(noise_std(60 + np.random.default_rng(0).normal(0, 12, (2, 64, 64))), 0)
        12.0
    """
    patches = flat_patches(hu, size)
    if len(patches) == 0:
        return float("nan")
    yy, xx = np.mgrid[:size, :size]
    design = np.stack([np.ones(size * size), yy.ravel(), xx.ravel()], axis=1)
    flat = patches.reshape(len(patches), -1).T
    coef, *_ = np.linalg.lstsq(design, flat, rcond=None)
    resid = flat - design @ coef
    return float(np.median(resid.std(axis=0)))


def nps_peak(hu: np.ndarray, pixel_mm: float, size: int = 32) -> dict[str, float]:
    """Where the noise power spectrum of flat soft-tissue patches peaks, in cycles/mm and as a fraction of Nyquist.

    Example:
        >>> import numpy as np
        >>> from lesionviewer.phantom.noise import correlated_noise
        >>> n = 60 + correlated_noise((4, 128, 128), 0.8, 12.0, np.random.default_rng(0))
        >>> 0.2 < nps_peak(n, 0.8)["peak_fraction_of_nyquist"] < 0.9
        True
    """
    patches = flat_patches(hu, size)
    if len(patches) < 2:
        return {"peak_per_mm": float("nan"), "peak_fraction_of_nyquist": float("nan"), "nps_high_to_mid": float("nan"), "patches": float(len(patches))}
    freq, nps = noise_power_spectrum(patches, pixel_mm, bins=12)
    i = int(np.argmax(nps[1:])) + 1  # the lowest bin holds what is left of anatomy
    nyquist = 0.5 / pixel_mm
    return {
        "peak_per_mm": float(freq[i]),
        "peak_fraction_of_nyquist": float(freq[i] / nyquist),
        # white noise would give about 1; CT noise rolls off towards Nyquist
        "nps_high_to_mid": float(nps[-1] / nps[2:].max()),
        "patches": float(len(patches)),
    }


def dl_info_table_stats(rows: list[dict[str, str]]) -> dict[str, object]:
    """Lesion long/short diameters in mm, type proportions, slice intervals and pixel spacings of DL_info rows.

    Example:
        >>> row = {"Lesion_diameters_Pixel_": "20, 10", "Spacing_mm_px_": "0.8, 0.8, 5", "Coarse_lesion_type": "4"}
        >>> s = dl_info_table_stats([row])
        >>> s["long_mm_median"], s["type_fractions"][4], s["interval_fractions"][5.0]
        (16.0, 1.0, 1.0)
    """
    def nums(text: str) -> list[float]:
        return [float(v) for v in text.split(",")]

    long_mm = np.array([nums(r["Lesion_diameters_Pixel_"])[0] * nums(r["Spacing_mm_px_"])[0] for r in rows])
    short_mm = np.array([nums(r["Lesion_diameters_Pixel_"])[1] * nums(r["Spacing_mm_px_"])[0] for r in rows])
    pixel = np.array([nums(r["Spacing_mm_px_"])[0] for r in rows])
    interval = np.array([nums(r["Spacing_mm_px_"])[2] for r in rows])
    types = [int(r["Coarse_lesion_type"]) for r in rows]
    n = max(len(rows), 1)
    return {
        "lesions": len(rows),
        "long_mm_median": float(np.median(long_mm)),
        "long_mm_p5_p95": (float(np.percentile(long_mm, 5)), float(np.percentile(long_mm, 95))),
        "short_mm_median": float(np.median(short_mm)),
        "type_fractions": {t: types.count(t) / n for t in range(1, 9)},
        "interval_fractions": {float(v): float(np.mean(interval == v)) for v in np.unique(interval)},
        "pixel_mm_p5_p50_p95": tuple(float(np.percentile(pixel, q)) for q in (5, 50, 95)),
    }


def read_rows(path: str | Path) -> list[dict[str, str]]:
    """Rows of a DL_info.csv as dicts (the csv module, as any DeepLesion reader does).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text('a,b\\n1,"2, 3"\\n')
        >>> read_rows(p)
        [{'a': '1', 'b': '2, 3'}]
    """
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def real_abdomen(shared_data: str | Path):
    """The real contrast abdomen series in ``shared_data`` as a Volume (read by ``lesionviewer.io.load_volume``).

    Example:
        >>> real_abdomen("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors...
    """
    from lesionviewer.io import load_volume

    return load_volume(Path(shared_data) / "ct_abdomen_totalseg")


def real_deeplesion_slices(shared_data: str | Path) -> list[tuple[np.ndarray, float, str]]:
    """The real DeepLesion key slices in ``shared_data``: (HU array, pixel mm, name), spacing from their DL_info rows.

    Example:
        >>> real_deeplesion_slices("/nonexistent")
        []
    """
    from PIL import Image

    root = Path(shared_data) / "deeplesion"
    spacing: dict[str, float] = {}
    for name in ("DL_info_val.csv", "DL_info_test.csv"):
        if (root / name).is_file():
            for r in read_rows(root / name):
                spacing[r["File_name"]] = float(r["Spacing_mm_px_"].split(",")[0])
    out = []
    for png in sorted((root / "Images_png").glob("*/*.png")) if (root / "Images_png").is_dir() else []:
        key = f"{png.parent.name}_{png.name}"
        if key in spacing:
            hu = np.asarray(Image.open(png)).astype(np.int32) - 32768
            out.append((hu.astype(np.int16), spacing[key], key))
    return out


def phantom_sample(num_patients: int = 6, seed: int = 0, size: str = "full", phase: str | None = "portal"):
    """Phantom patients for the comparison (DeepLesion-like 5 mm slices unless ``size`` is small).

    Example:
        >>> cases = phantom_sample(1, size="small")
        >>> cases[0].volume.shape[1]
        128
    """
    from lesionviewer.phantom.config import PhantomConfig
    from lesionviewer.phantom.generator import generate_patient

    cfg = PhantomConfig.preset(size)
    if size == "full":
        cfg = cfg.with_(num_slices=12, slice_intervals_mm=(5.0,), slice_interval_weights=(1.0,))
    if phase:
        cfg = cfg.with_(phase=phase)
    return [generate_patient((seed, i), cfg) for i in range(num_patients)]


def save_montage(path: str | Path, phantom_slices, real_slices, window=(-160.0, 240.0)) -> Path:
    """A figure of phantom slices (top row) above real ones (bottom row), same window, with titles.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.png"
        >>> img = np.zeros((8, 8))
        >>> save_montage(p, [(img, "a")], [(img, "b")]).is_file()
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = max(len(phantom_slices), len(real_slices))
    fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 7.4), squeeze=False)
    for row, items in enumerate((phantom_slices, real_slices)):
        for col in range(cols):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(items):
                image, title = items[col]
                ax.imshow(image, cmap="gray", vmin=window[0], vmax=window[1], interpolation="bilinear")
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"top: LesionViewer phantom   bottom: real CT   (window {window[0]:g} to {window[1]:g} HU)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96), h_pad=2.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def save_gallery(path: str | Path, seed: int = 5) -> Path:
    """Phantom key slices of each size preset and lesion kind, in their DeepLesion window, with box and RECIST axes.

    It generates about 90 phantom patients (several seconds), so it has no doctest; the realism
    document's figure is its output.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lesionviewer.phantom.config import PhantomConfig
    from lesionviewer.phantom.deeplesion_writer import lesion_window
    from lesionviewer.phantom.generator import PhantomCase, PhantomLesion, generate_patient

    picks: list[tuple[str, PhantomCase, PhantomLesion]] = []
    seen: set[tuple[str, int]] = set()
    for size in ("small", "medium", "full"):
        cfg = PhantomConfig.preset(size)
        if size == "full":
            cfg = cfg.with_(num_slices=24)
        for i in range(30):
            case = generate_patient((seed, i), cfg)
            for lesion in case.lesions:
                key = (size, lesion.type_code)
                if key not in seen and len([p for p in picks if p[0] == size]) < 4:
                    seen.add(key)
                    picks.append((size, case, lesion))
            if len([p for p in picks if p[0] == size]) >= 4:
                break
    fig, axes = plt.subplots(3, 4, figsize=(13, 11.8), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row, size in enumerate(("small", "medium", "full")):
        for col, (_, case, lesion) in enumerate([p for p in picks if p[0] == size]):
            ax = axes[row][col]
            lo, hi = lesion_window(lesion.type_code)
            m = lesion.key
            ax.imshow(case.volume.hu[lesion.key_slice], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            x1, y1, x2, y2 = m.recist_box(case.config.box_padding_px)
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="red", lw=0.8))
            for (xa, ya), (xb, yb) in (m.long_axis, m.short_axis):
                ax.plot([xa, xb], [ya, yb], color="yellow", lw=0.8)
            n = case.volume.shape[1]
            ax.set_title(f"{size} {n}x{n}, {case.volume.spacing[0]:g} mm: {lesion.spec.description}\n"
                         f"type {lesion.type_code}, {m.long_px * case.volume.spacing[1]:.0f} x {m.short_px * case.volume.spacing[1]:.0f} mm, {case.patient['phase']}", fontsize=7)
    fig.suptitle("Phantom key slices with DeepLesion's box (RECIST extent + 5 px, red) and RECIST axes (yellow)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def compare(shared_data: str | Path, num_patients: int = 6, seed: int = 0) -> dict[str, dict]:
    """Every statistic for real CT (abdomen series, DeepLesion key slices, DL_info tables) and for phantoms.

    Example:
        >>> compare("/nonexistent/shared")  # the real CT is read first, before any phantom is made
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.LoadError: /nonexistent/shared/ct_abdomen_totalseg: no such file or folder
    """
    shared_data = Path(shared_data)
    result: dict[str, dict] = {}
    abdomen = real_abdomen(shared_data)
    result["real_abdomen"] = {**hu_peaks(abdomen.hu), "noise_std": noise_std(abdomen.hu), **nps_peak(abdomen.hu, abdomen.spacing[1])}
    dl = real_deeplesion_slices(shared_data)
    dl_hu = np.stack([h for h, _, _ in dl])
    dl_pixel = float(np.median([p for _, p, _ in dl]))
    result["real_deeplesion_png"] = {**hu_peaks(dl_hu), "noise_std": noise_std(dl_hu), **nps_peak(dl_hu, dl_pixel)}
    cases = phantom_sample(num_patients, seed)
    ph_hu = np.concatenate([c.volume.hu for c in cases])
    pixel = float(np.median([c.volume.spacing[1] for c in cases]))
    from lesionviewer.phantom.tissues import TISSUES

    liver = np.concatenate([c.volume.hu[c.labels == TISSUES["liver"].label] for c in cases])
    result["phantom_portal_5mm"] = {**hu_peaks(ph_hu), "noise_std": noise_std(ph_hu), **nps_peak(ph_hu, pixel), "liver_median": float(np.median(liver))}
    real_rows = read_rows(shared_data / "deeplesion" / "DL_info_test.csv") + read_rows(shared_data / "deeplesion" / "DL_info_val.csv")
    result["real_dl_info"] = dl_info_table_stats(real_rows)
    return result


def _phantom_table_stats(num_patients: int, seed: int, size: str) -> dict[str, object]:
    from lesionviewer.phantom.config import PhantomConfig
    from lesionviewer.phantom.deeplesion_writer import dl_info_rows
    from lesionviewer.phantom.generator import generate_patient

    cfg = PhantomConfig.preset(size)
    if size == "full":
        cfg = cfg.with_(num_slices=20)  # fewer slices per series keeps this quick; sizes and spacings are unaffected
    rows = []
    for i in range(num_patients):
        rows.extend(dl_info_rows(generate_patient((seed, i + 1), cfg), i + 1, 1))
    return dl_info_table_stats(rows)


def main(argv: list[str] | None = None) -> int:
    """Print the comparison and write the montage (``docs/images/phantom_montage.png`` by default).

    Example:
        >>> main(["/nonexistent"])
        no real CT at /nonexistent
        1
    """
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m lesionviewer.phantom.realism")
    p.add_argument("shared_data")
    p.add_argument("--montage", default="docs/images/phantom_montage.png")
    p.add_argument("--gallery", default="docs/images/phantom_gallery.png")
    p.add_argument("--patients", type=int, default=6)
    p.add_argument("--table-patients", type=int, default=40)
    args = p.parse_args(argv)
    shared = Path(args.shared_data)
    if not (shared / "deeplesion").is_dir():
        print(f"no real CT at {shared}")
        return 1
    stats = compare(shared, args.patients)
    stats["phantom_dl_info_full"] = _phantom_table_stats(args.table_patients, 1, "full")
    print(json.dumps(stats, indent=1, default=str))
    # the real key slices here are liver-lesion slices, so show phantom liver-lesion key slices beside them
    phantom_slices: list[tuple[np.ndarray, str]] = []
    for i in range(40):
        if len(phantom_slices) == 4:
            break
        [c] = phantom_sample(1, seed=1000 + i)
        liver = [l for l in c.lesions if l.type_code == 4]
        if liver:
            k = liver[0].key_slice
            phantom_slices.append((c.volume.hu[k], f"phantom {len(phantom_slices) + 1}: {liver[0].spec.description}, {c.volume.spacing[0]:g} mm"))
    real = real_deeplesion_slices(shared)
    abdomen = real_abdomen(shared)
    real_slices = [(abdomen.hu[abdomen.num_slices // 2], "real abdomen CT (TotalSegmentator test)")]
    real_slices += [(h, f"DeepLesion {name}") for h, _, name in real[:: max(1, len(real) // 3)][:3]]
    save_montage(args.montage, phantom_slices, real_slices)
    print(f"montage: {args.montage}")
    save_gallery(args.gallery)
    print(f"gallery: {args.gallery}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
