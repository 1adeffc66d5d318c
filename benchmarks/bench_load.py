"""Benchmark: ``load_volume`` against SimpleITK's ImageSeriesReader on the same uncompressed DICOM series.

Generates a synthetic CT series (default 300 slices of 512 x 512, explicit VR little endian,
12-bit unsigned with RescaleIntercept -1024, like most scanner exports) into a temporary folder,
then times, alternating and repeated:

* ours:      ``lesionviewer.io.load_volume(folder)`` (scan headers, group, sort, decode into int16)
* SimpleITK: ``ImageSeriesReader.GetGDCMSeriesFileNames(folder)`` + ``Execute()`` (an image in memory, no copy)

and prints best and median times, their ratio (ours / SimpleITK; <= 1 means we are no slower),
the time of ``find_series`` (headers only) on the same folder, and our peak traced memory during
a load (tracemalloc) against the size of the volume.
Both read files from the page cache (the series was just written), so this measures decoding
and bookkeeping, not the disk.

Run:  python benchmarks/bench_load.py [--slices 300] [--size 512] [--repeats 5]
      python benchmarks/bench_load.py --folder ../shared/data/ct_abdomen_totalseg   (an existing series)
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lesionviewer.io import Volume, find_series, load_volume, write_dicom_series


def make_series(folder: Path, slices: int, size: int) -> Volume:
    """A body-like phantom: an air background, a soft-tissue ellipse with noise, a bright 'spine'."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    body = ((yy - size / 2) / (size * 0.35)) ** 2 + ((xx - size / 2) / (size * 0.45)) ** 2 < 1
    spine = (yy - size * 0.7) ** 2 + (xx - size / 2) ** 2 < (size * 0.05) ** 2
    hu = np.full((slices, size, size), -1000, np.int16)
    for k in range(slices):
        sl = hu[k]
        sl[body] = 40 + rng.normal(0, 15, int(body.sum())).astype(np.int16)
        sl[spine] = 700
    volume = Volume(hu=hu, spacing=(1.25, 0.7, 0.7), origin=(-179.0, -179.0, -400.0))
    write_dicom_series(volume, folder, series_description="benchmark series")
    return volume


def load_sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(names)
    return reader.Execute()


def load_ours(folder: Path) -> np.ndarray:
    return load_volume(folder).hu


def timed(fn, folder: Path) -> float:
    gc.collect()
    start = time.perf_counter()
    result = fn(folder)
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def measure(folder: Path, repeats: int, expected: Volume | None) -> dict:
    """Check both readers agree on ``folder``, then time them alternately and trace our peak memory."""
    ours, image = load_ours(folder), load_sitk(folder)
    if expected is not None:
        assert np.array_equal(ours, expected.hu), "load_volume returned different HU than were written"
    assert np.array_equal(ours, sitk.GetArrayViewFromImage(image)), "load_volume and SimpleITK disagree"
    del ours, image

    ours_t, sitk_t, scan_t = [], [], []
    for _ in range(repeats):
        ours_t.append(timed(load_ours, folder))
        sitk_t.append(timed(load_sitk, folder))
        scan_t.append(timed(find_series, folder))

    gc.collect()
    tracemalloc.start()
    volume = load_volume(folder)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"ours": ours_t, "sitk": sitk_t, "scan": scan_t, "peak": peak, "nbytes": volume.hu.nbytes,
            "files": len(volume.meta["source_files"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", type=Path, default=None,
                        help="time an existing series folder instead of generating one (e.g. a compressed real series)")
    args = parser.parse_args()

    if args.folder is not None:
        print(f"existing series: {args.folder}")
        result = measure(args.folder, args.repeats, None)
    else:
        with tempfile.TemporaryDirectory(prefix="lv_bench_load_") as tmp:
            folder = Path(tmp) / "series"
            t0 = time.perf_counter()
            expected = make_series(folder, args.slices, args.size)
            print(f"wrote {args.slices} slices of {args.size} x {args.size} in {time.perf_counter() - t0:.1f} s "
                  f"to {folder}")
            result = measure(folder, args.repeats, expected)
            del expected

    ours_t, sitk_t, scan_t = result["ours"], result["sitk"], result["scan"]
    peak, nbytes = result["peak"], result["nbytes"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} logical CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}, SimpleITK {sitk.Version.VersionString()}")
    print(f"repeats: {args.repeats} (alternating)")
    print(f"load_volume      best {min(ours_t):.3f} s   median {statistics.median(ours_t):.3f} s")
    print(f"SimpleITK reader best {min(sitk_t):.3f} s   median {statistics.median(sitk_t):.3f} s")
    print(f"ratio ours/SimpleITK: best {min(ours_t) / min(sitk_t):.2f}   median "
          f"{statistics.median(ours_t) / statistics.median(sitk_t):.2f}   (<= 1.00: no slower)")
    print(f"find_series (headers only, {result['files']} files): best {min(scan_t):.3f} s   median "
          f"{statistics.median(scan_t):.3f} s")
    print(f"peak traced memory during load_volume: {peak / 2**20:.0f} MiB for a {nbytes / 2**20:.0f} MiB volume "
          f"({peak / nbytes:.2f} x the volume; target < 2)")


if __name__ == "__main__":
    main()
