"""Benchmark: retrieve a 300-slice CT series from Orthanc over loopback with our client and with
DCMTK's ``getscu``, in the same run, against the same server.

Starts a private Orthanc (:class:`lesionviewer.pacs.orthanc.OrthancProcess`, default PDU size),
stores a 300-slice series in it (the real LIDC-IDRI-0002 slices from ``../shared/data`` given
new UIDs and positions to reach 300 when that folder is present, else a synthetic 512 x 512
series), then times, alternating and repeated (after one warm-up each):

* ours C-GET:   ``DimseClient.get_series`` into a fresh :class:`PacsCache` (staged, renamed when complete)
* ours WADO-RS: ``DicomWebClient.retrieve_series`` (streamed multipart) into a fresh cache
* getscu:       ``getscu -S -k QueryRetrieveLevel=SERIES ... -od <folder>`` (DCMTK, a C program), with
                ``TCP_NODELAY=1`` in its environment: DCMTK leaves Nagle's algorithm on otherwise, which
                on loopback costs about 50 ms per instance (``--with-nagle`` times that too)

and prints best and median seconds, MB/s, and the ratio ours / getscu for C-GET (the issue asks
for at most 1.25). Every run writes to a new folder under one temporary directory (page cache, not
disk, bound); the files' count and size are checked each time.

Run:  python benchmarks/bench_pacs.py [--slices 300] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom

from lesionviewer.pacs import PacsCache, PacsServer, connect
from lesionviewer.pacs.orthanc import OrthancProcess

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "lidc_idri_0002"


def make_series(folder: Path, slices: int) -> tuple[str, str, int]:
    """Write a ``slices``-slice CT series into ``folder``; returns (study UID, series UID, bytes)."""
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    if SHARED.is_dir():
        sources = sorted(SHARED.glob("*.dcm"))
        for i in range(slices):
            ds = pydicom.dcmread(sources[i % len(sources)])
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [-180.0, -180.0, -400.0 + 1.25 * i]
            ds.save_as(folder / f"{i:04d}.dcm")
    else:
        from lesionviewer.io import Volume, write_dicom_series

        rng = np.random.default_rng(0)
        hu = (rng.normal(0, 200, (slices, 512, 512))).astype(np.int16)
        write_dicom_series(Volume(hu, (1.25, 0.7, 0.7)), folder, series_uid=series, study_uid=study)
    size = sum(p.stat().st_size for p in folder.iterdir())
    return study, series, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--with-nagle", action="store_true",
                        help="also time getscu with Nagle's algorithm on (about 50 ms per instance on loopback)")
    args = parser.parse_args()
    getscu = shutil.which("getscu")
    if getscu is None:
        raise SystemExit("getscu not found (Debian: apt-get install dcmtk)")
    work = Path(tempfile.mkdtemp(prefix="bench_pacs_"))
    try:
        study, series, size = make_series(work / "source", args.slices)
        with OrthancProcess(work / "orthanc") as orthanc:
            orthanc.upload(sorted((work / "source").glob("*.dcm")))
            dimse = connect(PacsServer("o", kind="dimse", ae_title=orthanc.aet, host="127.0.0.1",
                                       port=orthanc.dicom_port, timeout_s=60))
            web = connect(PacsServer("o", url=orthanc.dicomweb_url, auth="basic", username=orthanc.user,
                                     timeout_s=60), orthanc.password)
            counter = iter(range(10**6))

            def ours_cget() -> int:
                folder = dimse.get_series(study, series, PacsCache(work / f"c{next(counter)}"))
                return len(list(folder.glob("*.dcm")))

            def ours_wado() -> int:
                folder = web.retrieve_series(study, series, PacsCache(work / f"w{next(counter)}"))
                return len(list(folder.glob("*.dcm")))

            def dcmtk_getscu(nodelay: bool) -> int:
                out = work / f"g{next(counter)}"
                out.mkdir()
                env = {**os.environ, "TCP_NODELAY": "1" if nodelay else "0"}
                subprocess.run([getscu, "-S", "-aet", "GETSCU", "-aec", orthanc.aet, "127.0.0.1",
                                str(orthanc.dicom_port), "-k", "QueryRetrieveLevel=SERIES",
                                "-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID={series}",
                                "-od", str(out)], check=True, capture_output=True, env=env)
                return len(list(out.iterdir()))

            runs = {"ours C-GET": ours_cget, "ours WADO-RS": ours_wado,
                    "getscu C-GET (TCP_NODELAY=1)": lambda: dcmtk_getscu(True)}
            if args.with_nagle:
                runs["getscu C-GET (TCP_NODELAY=0, Nagle on)"] = lambda: dcmtk_getscu(False)
            times: dict[str, list[float]] = {name: [] for name in runs}
            for name, fn in runs.items():  # warm-up (Orthanc's storage into the page cache)
                assert fn() == args.slices, name
            for _ in range(args.repeats):
                for name, fn in runs.items():
                    start = time.perf_counter()
                    count = fn()
                    times[name].append(time.perf_counter() - start)
                    assert count == args.slices, (name, count)
            version = orthanc.rest("GET", "/system").json()["Version"]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    import pynetdicom

    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; Python {platform.python_version()}, pynetdicom "
          f"{pynetdicom.__version__}, Orthanc {version}, "
          f"{subprocess.run([getscu, '--version'], capture_output=True, text=True).stdout.split()[2]}")
    print(f"series: {args.slices} slices, {size / 1e6:.1f} MB ({'LIDC-IDRI-0002 slices' if SHARED.is_dir() else 'synthetic'})"
          f"; {args.repeats} runs each after one warm-up\n")
    print("| client | best s | median s | MB/s (median) |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {min(values):.2f} | {median:.2f} | {size / 1e6 / median:.0f} |")
    ratio = statistics.median(times["ours C-GET"]) / statistics.median(times["getscu C-GET (TCP_NODELAY=1)"])
    print(f"\nratio ours C-GET / getscu (medians): {ratio:.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
