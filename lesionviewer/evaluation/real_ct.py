"""A detector measured on real lesions: DeepLesion key slices (FPs per image) and LIDC volumes (FPs per slice).

Both use the project's FROC (:func:`~lesionviewer.evaluation.froc.froc`, DeepLesion's rule, IoU >= 0.5)
with ``fp_budget="inclusive"``: the sensitivity at ``r`` FPs is that of the lowest score threshold with
*at most* ``r`` FPs per image (or slice). That is the project's stop check (the before-stop hook,
section 5) and the issue's wording "at <= 4 FPs"; the default "strict" differs only where
``r x images`` is a whole number of FPs reached exactly.

* :func:`evaluate_deeplesion_key_slices`: every key slice ``Images_png/<series>/<slice>.png`` that has
  rows in the ``DL_info*.csv`` tables of the folder is loaded alone (``load_volume(png)``, one slice;
  the detector repeats it as its own context) and detected on. ``Possibly_noisy`` rows stay lesions,
  as in the stop check (their number is reported). Sensitivity overall, per lesion type and per
  long-diameter bucket (< 10, 10-30, >= 30 mm) at the overall operating points.
* :func:`evaluate_lidc_volume`: the volume in an LIDC folder, detected on every slice. Ground truth:
  the lesions of :mod:`lesionviewer.evaluation.lidc_lesions` marked by >= 2 readers and >= 3 mm, a box
  on every slice they cover. The FROC runs per slice (FPs per slice over all slices of the volume):
  its sensitivity is per lesion-slice. A lesion counts as found at a rate when any of its slices is
  hit at that rate's score threshold. The other readers' marks (1 reader or < 3 mm) are "irrelevant
  findings", as in LUNA16: a detection on them counts neither as a hit nor as a false positive.

Example:
    >>> from types import SimpleNamespace
    >>> as_detections([SimpleNamespace(slice_index=1, box_px=(0, 0, 4, 4), score=0.9)], 2)[1].tolist()
    [[0.0, 0.0, 4.0, 4.0, 0.9]]
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import numpy as np

from lesionviewer.evaluation.breakdown import sensitivity_by_lesion_type, sensitivity_by_size
from lesionviewer.evaluation.froc import DEFAULT_FPS, FROCResult, froc
from lesionviewer.evaluation.lidc_lesions import MIN_DIAMETER_MM, MIN_READERS, lidc_lesions, select_lesions, volume_sop_uids
from lesionviewer.io import load_volume, read_dl_info
from lesionviewer.io.deeplesion_info import DeepLesionRecord
from lesionviewer.io.errors import EmptyInputError, LoadError
from lesionviewer.io.lidc_xml import LidcXmlError, find_lidc_xml, read_lidc_xml

IOU = 0.5
#: LIDC ground-truth boxes are padded like DeepLesion's (see :func:`evaluate_lidc_volume`).
LIDC_BOX_PADDING_PX = 5.0
FP_BUDGET: Final[Literal["strict", "inclusive"]] = "inclusive"


class SupportsDetect(Protocol):
    """What the evaluation needs of a detector: :meth:`lesionviewer.detection.Detector.detect`'s signature,
    returning objects with ``slice_index``, ``box_px`` (x1, y1, x2, y2) and ``score``.

    Example:
        >>> from lesionviewer.detection.finding import Finding
        >>> class Fixed:
        ...     def detect(self, volume, slices=None, **kwargs):
        ...         return [Finding(1, (0, 0, 4, 4), 0.9, "m")]
        >>> [d[:, 4].tolist() for d in as_detections(Fixed().detect(None), 2)]
        [[], [0.9]]
    """

    def detect(self, volume, slices=None, **kwargs) -> list:
        """Findings on the given slices of ``volume`` (all slices when ``slices`` is None).

        Example:
            >>> SupportsDetect.detect(None, None) is None
            True
        """


def as_detections(findings: Sequence, num_slices: int) -> list[np.ndarray]:
    """Findings (``slice_index``, ``box_px``, ``score``) as per-slice ``(K, 5)`` FROC arrays, highest score first.

    Example:
        >>> from lesionviewer.detection.finding import Finding
        >>> [d.shape for d in as_detections([Finding(0, (1, 2, 3, 4), 0.5, "m")], 2)]
        [(1, 5), (0, 5)]
    """
    rows: list[list] = [[] for _ in range(num_slices)]
    for f in findings:
        rows[int(f.slice_index)].append([*map(float, f.box_px), float(f.score)])
    arrays = [np.asarray(r, dtype=np.float64).reshape(-1, 5) for r in rows]
    return [a[np.argsort(-a[:, 4], kind="stable")] for a in arrays]


def deeplesion_key_slices(folder: str | Path) -> tuple[list[tuple[Path, list[DeepLesionRecord]]], int]:
    """The key-slice PNGs of a DeepLesion folder with their annotation rows, and the number of PNGs without rows.

    Rows come from every ``DL_info*.csv`` directly in ``folder``; PNGs from
    ``folder/Images_png/<series>/<slice>.png``, sorted by path. Raises ``EmptyInputError`` (naming the
    folder) when there is no table or no annotated PNG.

    Example:
        >>> import tempfile
        >>> deeplesion_key_slices(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.io.errors.EmptyInputError: ...: no DL_info*.csv annotation table in this folder
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LoadError(folder, "no such folder")
    tables = sorted(folder.glob("DL_info*.csv"))
    if not tables:
        raise EmptyInputError(folder, "no DL_info*.csv annotation table in this folder")
    rows: dict[str, list[DeepLesionRecord]] = {}
    for table in tables:
        for record in read_dl_info(table):
            rows.setdefault(record.file_name, []).append(record)
    cases, without_rows = [], 0
    for png in sorted(folder.glob("Images_png/*/*.png")):
        records = rows.get(f"{png.parent.name}_{png.name}")
        if records:
            cases.append((png, records))
        else:
            without_rows += 1
    if not cases:
        raise EmptyInputError(folder, "no Images_png/<series>/<slice>.png with a row in the DL_info*.csv tables")
    return cases, without_rows


def evaluate_deeplesion_key_slices(detector: SupportsDetect, folder: str | Path, fps: Sequence[float] = DEFAULT_FPS,
                                   progress: Callable[[int, int], Any] | None = None) -> dict:
    """FROC of ``detector`` on the DeepLesion key slices in ``folder`` (see the module docstring), JSON-ready.

    Keys: ``sensitivity`` (by FP rate per image, as text: ``"0.5"`` ... ``"16"``), ``mean_sensitivity``
    (0.5-4), ``num_images``, ``num_lesions``, ``num_possibly_noisy``, ``pngs_without_rows``,
    ``by_type``, ``by_size``, ``froc`` (the whole :meth:`FROCResult.to_dict`) and ``seconds``.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from PIL import Image
        >>> from types import SimpleNamespace
        >>> from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS
        >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "Images_png/000001_01_01").mkdir(parents=True)
        >>> Image.fromarray(np.full((64, 64), 31744, np.uint16)).save(root / "Images_png/000001_01_01/005.png")
        >>> _ = (root / "DL_info_test.csv").write_text(",".join(DL_INFO_COLUMNS) + "\\n" +
        ...     '000001_01_01_005.png,1,1,1,5,"0, 0, 0, 0, 0, 0, 0, 0","10, 10, 29, 19","20, 10","0, 0, 0",4,0,'
        ...     '"5, 5","0.5, 0.5, 1","64, 64","-175, 275",F,50,3\\n')
        >>> hit = SimpleNamespace(slice_index=0, box_px=(9, 9, 28, 18), score=0.8)
        >>> miss = SimpleNamespace(slice_index=0, box_px=(40, 40, 50, 50), score=0.9)
        >>> fake = SimpleNamespace(detect=lambda volume, slices=None: [miss, hit])
        >>> result = evaluate_deeplesion_key_slices(fake, root, fps=(0.5, 1))
        >>> result["sensitivity"], result["by_type"]["liver"]["sensitivity"]
        ({'0.5': 0.0, '1': 1.0}, {'0.5': 0.0, '1': 1.0})
    """
    start = time.perf_counter()
    cases, without_rows = deeplesion_key_slices(folder)
    detections, truth, types, sizes = [], [], [], []
    for i, (png, records) in enumerate(cases):
        volume = load_volume(png)
        detections.append(as_detections(detector.detect(volume, slices=[0]), 1)[0])
        truth.append(np.asarray([r.bounding_box for r in records], dtype=np.float64).reshape(-1, 4))
        types.append([r.lesion_type for r in records])
        sizes.append([r.long_diameter_mm for r in records])
        if progress is not None:
            progress(i + 1, len(cases))
    result = froc(detections, truth, fps=fps, iou=IOU, fp_budget=FP_BUDGET)
    return {
        **_summary(result),
        "num_possibly_noisy": sum(r.possibly_noisy for _, records in cases for r in records),
        "pngs_without_rows": without_rows,
        "by_type": sensitivity_by_lesion_type(result, types, fps),
        "by_size": sensitivity_by_size(result, sizes, fps),
        "froc": result.to_dict(),
        "seconds": round(time.perf_counter() - start, 2),
    }


def evaluate_lidc_volume(detector: SupportsDetect, folder: str | Path, fps: Sequence[float] = DEFAULT_FPS, *,
                         min_readers: int = MIN_READERS, min_diameter_mm: float = MIN_DIAMETER_MM,
                         ignore_other_marks: bool = True, box_padding_px: float = LIDC_BOX_PADDING_PX,
                         progress: Callable[[int, int], Any] | None = None) -> dict:
    """FROC of ``detector`` on the LIDC volume in ``folder`` (DICOM slices + reader XML), JSON-ready.

    Keys: ``lesion_sensitivity`` and ``slice_sensitivity`` (by FP rate per slice), ``num_slices``,
    ``num_lesions``, ``num_lesion_slices``, ``num_readers``, ``num_marked_lesions`` (all groups of
    marks), ``lesions`` (per ground-truth lesion: readers, diameter, slices, ``found_at``: per rate
    whether found), ``froc`` and ``seconds``. Raises ``LoadError`` for an unreadable folder and
    :class:`~lesionviewer.io.lidc_xml.LidcXmlError` for an XML that belongs to another series.
    Each ground-truth box is the readers' outline box grown by ``box_padding_px`` on every side
    (clipped to the image): DeepLesion's ``Bounding_boxes`` are the RECIST end points' extent plus
    5 px, detectors trained on DeepLesion (and on our synthetic lesions) draw boxes that way, and an
    IoU of 0.5 against an unpadded 4 mm nodule would need a box the padding alone makes impossible.
    ``box_padding_px=0`` scores against the readers' own boxes.

    Example:
        >>> import numpy as np, tempfile, pathlib
        >>> from types import SimpleNamespace
        >>> from lesionviewer.io import Volume, write_dicom_series
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_dicom_series(Volume(np.full((3, 32, 32), -1000, np.int16), (2.0, 1.0, 1.0)), folder)
        >>> roi = lambda z: f'<roi><imageZposition>{z}</imageZposition><inclusion>TRUE</inclusion>' + ''.join(
        ...     f'<edgeMap><xCoord>{x}</xCoord><yCoord>{y}</yCoord></edgeMap>' for x, y in [(8, 8), (15, 15)]) + '</roi>'
        >>> session = lambda: f'<readingSession><unblindedReadNodule>{roi(2.0)}{roi(4.0)}</unblindedReadNodule></readingSession>'
        >>> _ = (folder / "read.xml").write_text(f'<LidcReadMessage>{session()}{session()}</LidcReadMessage>')
        >>> hit = SimpleNamespace(slice_index=2, box_px=(8, 8, 16, 16), score=0.7)
        >>> fake = SimpleNamespace(detect=lambda volume, slices=None: [hit])
        >>> r = evaluate_lidc_volume(fake, folder, fps=(1,), box_padding_px=0)
        >>> r["num_lesions"], r["num_lesion_slices"], r["lesion_sensitivity"], r["slice_sensitivity"]
        (1, 2, {'1': 1.0}, {'1': 0.5})
    """
    start = time.perf_counter()
    folder = Path(folder)
    volume = load_volume(folder)
    series_uid = str(volume.meta.get("SeriesInstanceUID", "") or "")
    uids = volume_sop_uids(volume)
    lesions, num_readers = [], 0
    for path in find_lidc_xml(folder):
        read = read_lidc_xml(path)
        if read.series_uid and series_uid and read.series_uid != series_uid:
            raise LidcXmlError(path, f"reads series {read.series_uid}, but the folder's CT is series {series_uid}")
        lesions.extend(lidc_lesions(read, volume, sop_uids=uids))
        num_readers = max(num_readers, read.num_readers)
    chosen = select_lesions(lesions, min_readers, min_diameter_mm)
    others = [l for l in lesions if l not in chosen] if ignore_other_marks else []

    n = volume.num_slices
    truth: list[list] = [[] for _ in range(n)]
    ignored: list[list] = [[] for _ in range(n)]
    owner: list[list] = [[] for _ in range(n)]  # per slice, per box: index of its lesion in ``chosen`` (-1: ignored)
    height, width = volume.hu.shape[1:]
    for number, lesion in enumerate(chosen + others):
        for s in lesion.slices:
            truth[s.slice_index].append(padded_box(s.box_px, box_padding_px, width, height))
            ignored[s.slice_index].append(number >= len(chosen))
            owner[s.slice_index].append(number if number < len(chosen) else -1)
    options = {"progress": progress} if progress is not None else {}
    detections = as_detections(detector.detect(volume, slices=None, **options), n)
    result = froc(detections, truth, fps=fps, iou=IOU, exclude=ignored, exclude_mode="ignore", fp_budget=FP_BUDGET)
    found = {f"{rate:g}": _lesions_found(result, owner, len(chosen), rate) for rate in fps}
    summary = _summary(result)
    return {
        "lesion_sensitivity": {k: (float(np.mean(v)) if len(v) else None) for k, v in found.items()},
        "slice_sensitivity": summary["sensitivity"],
        "num_slices": n,
        "num_lesions": len(chosen),
        "num_lesion_slices": summary["num_lesions"],
        "num_readers": num_readers,
        "num_marked_lesions": len(lesions),
        "criteria": {"min_readers": min_readers, "min_diameter_mm": min_diameter_mm,
                     "ignore_other_marks": ignore_other_marks, "box_padding_px": box_padding_px},
        "lesions": [{"readers": len(l.readers), "diameter_mm": round(l.diameter_mm, 2),
                     "slices": [l.slices[0].slice_index, l.slices[-1].slice_index] if l.slices else [],
                     "found_at": {k: bool(v[i]) for k, v in found.items()}} for i, l in enumerate(chosen)],
        "froc": result.to_dict(),
        "seconds": round(time.perf_counter() - start, 2),
    }


def padded_box(box: Sequence[float], padding_px: float, width: int, height: int) -> tuple[float, float, float, float]:
    """``box`` (x1, y1, x2, y2) grown by ``padding_px`` on every side and clipped to a ``width`` x ``height`` image.

    Example:
        >>> padded_box((10, 2, 20, 12), 5, width=24, height=64)
        (5.0, 0.0, 24.0, 17.0)
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    p = float(padding_px)
    return max(0.0, x1 - p), max(0.0, y1 - p), min(float(width), x2 + p), min(float(height), y2 + p)


def _lesions_found(result: FROCResult, owner: list[list], num_lesions: int, rate: float) -> list[bool]:
    found = np.zeros(num_lesions, dtype=bool)
    for hits, lesion_of in zip(result.detected_at(rate), owner):
        for hit, lesion in zip(hits, lesion_of):
            if hit and lesion >= 0:
                found[lesion] = True
    return found.tolist()


def _summary(result: FROCResult) -> dict:
    data = result.to_dict()
    return {k: data[k] for k in ("sensitivity", "mean_sensitivity", "num_images", "num_lesions", "num_detections")}
