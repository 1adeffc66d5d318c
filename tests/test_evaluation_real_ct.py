"""Real-CT evaluation on tiny hand-checkable cases (fake detectors with known boxes), a tiny real network,
and the shared real data (DeepLesion key slices, LIDC-IDRI-0002) with detectors that return the truth."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lesionviewer.detection.finding import Finding
from lesionviewer.evaluation.lidc_lesions import lidc_lesions, select_lesions
from lesionviewer.evaluation.real_ct import evaluate_deeplesion_key_slices, evaluate_lidc_volume, padded_box
from lesionviewer.io import Volume, load_volume, read_dl_info, write_dicom_series
from lesionviewer.io.deeplesion_info import DL_INFO_COLUMNS
from lesionviewer.io.errors import EmptyInputError
from lesionviewer.io.lidc_xml import LidcXmlError, read_lidc_xml


class QueueDetector:
    """Returns the next prepared list of (slice, box, score) per detect() call."""

    def __init__(self, *calls):
        self.calls = list(calls)

    def detect(self, volume, slices=None, **_):
        return [SimpleNamespace(slice_index=s, box_px=b, score=p) for s, b, p in self.calls.pop(0)]


def dl_row(series, slice_, box, lesion_type, diameter_px, spacing, noisy=0, split=3):
    patient, study, ser = series.split("_")
    return (f'{series}_{slice_:03d}.png,{int(patient)},{int(study)},{int(ser)},{slice_},"0, 0, 0, 0, 0, 0, 0, 0",'
            f'"{", ".join(str(v + 1) for v in box)}","{diameter_px}, {diameter_px / 2}","0.5, 0.5, 0.5",'
            f'{lesion_type},{noisy},"{slice_}, {slice_}","{spacing}, {spacing}, 5","64, 64","-175, 275",F,50,{split}')


def write_png(root, series, slice_):
    folder = root / "Images_png" / series
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 64), 31744 + 40, np.uint16)).save(folder / f"{slice_:03d}.png")


@pytest.fixture
def keyslices(tmp_path):
    """Two annotated key slices (3 lesions, one possibly noisy) and one PNG without a row."""
    write_png(tmp_path, "000001_01_01", 10)
    write_png(tmp_path, "000002_01_01", 20)
    write_png(tmp_path, "000003_01_01", 5)
    header = ",".join(DL_INFO_COLUMNS)
    (tmp_path / "DL_info_test.csv").write_text("\n".join([
        header,
        dl_row("000001_01_01", 10, (10, 10, 30, 30), 4, 20, 0.5),           # liver, 10 mm
        dl_row("000001_01_01", 10, (40, 40, 50, 50), 5, 10, 0.5, noisy=1),  # lung, 5 mm, possibly noisy
    ]) + "\n")
    (tmp_path / "DL_info_val.csv").write_text(header + "\n" + dl_row("000002_01_01", 20, (5, 5, 45, 45), 4, 40, 1.0, split=2) + "\n")
    return tmp_path


def test_deeplesion_key_slices_hand_checked(keyslices):
    detector = QueueDetector(
        [(0, (10, 10, 30, 30), 0.9), (0, (60, 0, 63, 3), 0.8), (0, (40, 40, 50, 50), 0.3)],  # 000001_01_01
        [(0, (0, 50, 9, 60), 0.7), (0, (6, 6, 45, 45), 0.6), (0, (50, 0, 60, 9), 0.2)])       # 000002_01_01
    r = evaluate_deeplesion_key_slices(detector, keyslices, fps=(0.5, 1, 2))
    # by score: hit .9, FP .8 (0.5/image), FP .7 (1.0/image), hit .6, hit .3, FP .2 (1.5/image)
    assert (r["num_images"], r["num_lesions"], r["num_possibly_noisy"], r["pngs_without_rows"]) == (2, 3, 1, 1)
    # "at most r FPs per image" (the stop check's rule): at 1 FP/image all three are hit
    assert r["sensitivity"] == {"0.5": pytest.approx(1 / 3), "1": 1.0, "2": 1.0}
    assert r["froc"]["settings"]["fp_budget"] == "inclusive"
    assert r["by_type"]["liver"] == {"num_lesions": 2, "sensitivity": {"0.5": 0.5, "1": 1.0, "2": 1.0}}
    assert r["by_type"]["lung"]["sensitivity"] == {"0.5": 0.0, "1": 1.0, "2": 1.0}
    assert {k: v["sensitivity"]["0.5"] for k, v in r["by_size"].items()} == {"<10 mm": 0.0, "10-30 mm": 1.0, ">=30 mm": 0.0}
    assert not detector.calls  # the PNG without a row was not detected on


def stop_check_rule(detections, truths, rate):
    """The before-stop hook's counting, written out independently: sensitivity at <= rate FPs per image."""
    scored = []
    for dets, gts in zip(detections, truths):
        gts = np.asarray(gts, float).reshape(-1, 4)
        hit = np.zeros(len(gts), bool)
        for x1, y1, x2, y2, score in sorted(dets, key=lambda d: -d[4]):
            inter = (np.clip(np.minimum(x2, gts[:, 2]) - np.maximum(x1, gts[:, 0]), 0, None)
                     * np.clip(np.minimum(y2, gts[:, 3]) - np.maximum(y1, gts[:, 1]), 0, None))
            iou = inter / ((x2 - x1) * (y2 - y1) + (gts[:, 2] - gts[:, 0]) * (gts[:, 3] - gts[:, 1]) - inter)
            j = int(np.argmax(iou)) if len(iou) else -1
            new = j >= 0 and iou[j] >= 0.5 and not hit[j]
            if new:
                hit[j] = True
            scored.append((score, new, j >= 0 and iou[j] >= 0.5))
    scored.sort(key=lambda t: -t[0])
    tp = fp = 0
    best = 0.0
    total = sum(len(np.asarray(g).reshape(-1, 4)) for g in truths)
    for _, new, match in scored:
        tp += new
        fp += not new and not match
        if fp / len(truths) <= rate:
            best = max(best, tp / total)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_deeplesion_key_slices_agree_with_the_stop_check(keyslices, seed):
    rng = np.random.default_rng(seed)
    truths = [[(10, 10, 30, 30), (40, 40, 50, 50)], [(5, 5, 45, 45)]]
    calls = []
    for gts in truths:
        dets = []
        for _ in range(rng.integers(3, 12)):
            if rng.random() < 0.4:
                x1, y1, x2, y2 = gts[rng.integers(len(gts))]
            else:
                x1, y1 = rng.integers(0, 50, 2)
                x2, y2 = x1 + rng.integers(3, 20), y1 + rng.integers(3, 20)
            j = rng.normal(0, 2, 4)
            box = (x1 + j[0], y1 + j[1], max(x2 + j[2], x1 + j[0] + 1), max(y2 + j[3], y1 + j[1] + 1))
            dets.append((0, box, float(rng.random())))
        calls.append(dets)
    rates = (0.5, 1, 2, 4)
    r = evaluate_deeplesion_key_slices(QueueDetector(*calls), keyslices, fps=rates)
    arrays = [[(*b, s) for _, b, s in c] for c in calls]
    assert [r["sensitivity"][f"{f:g}"] for f in rates] == pytest.approx([stop_check_rule(arrays, truths, f) for f in rates])


def test_a_folder_without_tables_or_annotated_pngs_is_refused(tmp_path):
    with pytest.raises(EmptyInputError, match="no DL_info"):
        evaluate_deeplesion_key_slices(QueueDetector(), tmp_path)
    (tmp_path / "DL_info.csv").write_text(",".join(DL_INFO_COLUMNS) + "\n")
    with pytest.raises(EmptyInputError, match="Images_png"):
        evaluate_deeplesion_key_slices(QueueDetector(), tmp_path)


def test_a_tiny_real_network_runs_through_the_key_slice_evaluation(keyslices, tmp_path):
    import torch

    from lesionviewer.detection import Detector
    from lesionviewer.detection.factory import build_detector
    from lesionviewer.detection.model_file import save_model

    torch.manual_seed(0)
    net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    path = tmp_path / "tiny.safetensors"
    save_model(path, net, {"name": "tiny", "slice_interval_mm": 2.5, "input_min_size": 64, "input_max_size": 64})
    r = evaluate_deeplesion_key_slices(Detector.from_file(path, device="cpu", score_floor=0.0), keyslices, fps=(4,))
    assert r["num_images"] == 2 and 0.0 <= r["sensitivity"]["4"] <= 1.0


# --- LIDC: 5 slices at z 0, 2, 4, 6, 8 mm, 1 mm pixels ------------------------------------------------------

def lidc_roi(z, points):
    edges = "".join(f"<edgeMap><xCoord>{x}</xCoord><yCoord>{y}</yCoord></edgeMap>" for x, y in points)
    return f"<roi><imageZposition>{z}</imageZposition><inclusion>TRUE</inclusion>{edges}</roi>"


def lidc_folder(root: Path, series_uid: str | None = None) -> Path:
    write_dicom_series(Volume(np.full((5, 32, 32), -800, np.int16), (2.0, 1.0, 1.0)), root)
    square = [(8, 8), (15, 8), (15, 15), (8, 15)]
    both = lidc_roi(2.0, square) + lidc_roi(4.0, square)  # lesion X: slices 1 and 2, box (8, 8, 16, 16), 9.9 mm
    one_reader = lidc_roi(6.0, [(20, 20), (27, 20), (27, 27), (20, 27)])  # only reader 1: slice 3
    point = lidc_roi(0.0, [(4, 24)])  # < 3 mm, both readers: slice 0

    def nodules(*rois):
        return "".join(f"<unblindedReadNodule><noduleID>n{i}</noduleID>{r}</unblindedReadNodule>" for i, r in enumerate(rois))

    header = f"<ResponseHeader><SeriesInstanceUid>{series_uid}</SeriesInstanceUid></ResponseHeader>" if series_uid else ""
    (root / "reads.xml").write_text(f'<LidcReadMessage xmlns="http://www.nih.gov">{header}'
                                    f"<readingSession>{nodules(both, one_reader, point)}</readingSession>"
                                    f"<readingSession>{nodules(both, point)}</readingSession></LidcReadMessage>")
    return root


LIDC_DETECTIONS = [(2, (8, 8, 16, 16), 0.9), (3, (20, 20, 29, 29), 0.8), (0, (0, 0, 4, 4), 0.7),
                   (1, (8, 8, 16, 16), 0.4), (4, (0, 0, 4, 4), 0.3)]


def test_lidc_volume_hand_checked(tmp_path):
    folder = lidc_folder(tmp_path)
    r = evaluate_lidc_volume(QueueDetector(LIDC_DETECTIONS), folder, fps=(0.1, 0.2, 1), box_padding_px=0)
    assert (r["num_slices"], r["num_lesions"], r["num_lesion_slices"], r["num_readers"], r["num_marked_lesions"]) == \
        (5, 1, 2, 2, 3)
    # by score: hit X on slice 2 (.9), the one-reader mark (.8: neither), FP (.7: 0.2/slice), hit X on slice 1 (.4), FP
    assert r["slice_sensitivity"] == {"0.1": 0.5, "0.2": 1.0, "1": 1.0}
    assert r["lesion_sensitivity"] == {"0.1": 1.0, "0.2": 1.0, "1": 1.0}
    assert r["lesions"] == [{"readers": 2, "diameter_mm": 9.9, "slices": [1, 2],
                             "found_at": {"0.1": True, "0.2": True, "1": True}}]
    strict = evaluate_lidc_volume(QueueDetector(LIDC_DETECTIONS), folder, fps=(0.1, 0.2), ignore_other_marks=False,
                                  box_padding_px=0)
    assert strict["slice_sensitivity"] == {"0.1": 0.5, "0.2": 0.5}  # the .8 detection is now a false positive


def test_lidc_lesion_found_on_any_slice_and_missed_when_only_fps(tmp_path):
    folder = lidc_folder(tmp_path)
    r = evaluate_lidc_volume(QueueDetector([(1, (8, 8, 16, 16), 0.2), (4, (0, 0, 4, 4), 0.9)]), folder, fps=(0.1, 0.2),
                             box_padding_px=0)
    assert r["lesion_sensitivity"] == {"0.1": 0.0, "0.2": 1.0} and r["slice_sensitivity"] == {"0.1": 0.0, "0.2": 0.5}


def test_lidc_boxes_are_padded_like_deeplesion_by_default(tmp_path):
    # lesion X's readers drew the box (8, 8, 16, 16); DeepLesion's rule grows it by 5 px: (3, 3, 21, 21).
    # A detector trained on DeepLesion boxes answers with the padded box: IoU 1 against the padded truth,
    # 64 / 324 = 0.20 against the readers' own box (a miss under the 0.5 rule); and the other way round.
    folder = lidc_folder(tmp_path)
    padded = [(1, (3, 3, 21, 21), 0.9)]
    tight = [(1, (8, 8, 16, 16), 0.9)]
    assert evaluate_lidc_volume(QueueDetector(padded), folder, fps=(1,))["lesion_sensitivity"] == {"1": 1.0}
    assert evaluate_lidc_volume(QueueDetector(padded), folder, fps=(1,), box_padding_px=0)["lesion_sensitivity"] == {"1": 0.0}
    assert evaluate_lidc_volume(QueueDetector(tight), folder, fps=(1,))["lesion_sensitivity"] == {"1": 0.0}
    r = evaluate_lidc_volume(QueueDetector(tight), folder, fps=(1,), box_padding_px=0)
    assert r["lesion_sensitivity"] == {"1": 1.0} and r["criteria"]["box_padding_px"] == 0


def test_lidc_xml_of_another_series_is_refused(tmp_path):
    folder = lidc_folder(tmp_path, series_uid="1.2.3.4.5")
    with pytest.raises(LidcXmlError, match="reads series 1.2.3.4.5"):
        evaluate_lidc_volume(QueueDetector([]), folder)


# --- the shared real data, with detectors that return the truth ----------------------------------------------

def test_real_deeplesion_key_slices_with_the_truth_as_detections(shared_data):
    folder = shared_data / "deeplesion"
    rows: dict[str, list] = {}
    for table in sorted(folder.glob("DL_info*.csv")):
        for rec in read_dl_info(table):
            rows.setdefault(rec.file_name, []).append(rec)

    class Truth:
        def detect(self, volume, slices=None):
            png = Path(volume.meta["source_files"][0])
            assert volume.num_slices == 1 and slices == [0]
            return [SimpleNamespace(slice_index=0, box_px=rec.bounding_box, score=0.9)
                    for rec in rows[f"{png.parent.name}_{png.name}"]]

    r = evaluate_deeplesion_key_slices(Truth(), folder)
    assert r["num_images"] == 24 and r["pngs_without_rows"] == 0
    assert r["num_lesions"] == sum(len(rows[f"{p.parent.name}_{p.name}"]) for p in folder.glob("Images_png/*/*.png"))
    assert set(r["sensitivity"].values()) == {1.0}
    assert r["by_type"]["liver"]["num_lesions"] >= 20  # "almost all are liver lesions" (SOURCE.md)


def test_real_lidc_volume_with_the_truth_as_detections(shared_data):
    folder = shared_data / "lidc_idri_0002"
    volume = load_volume(folder)
    [nodule] = select_lesions(lidc_lesions(read_lidc_xml(folder / "071.xml"), volume))
    truth = [Finding(s.slice_index, padded_box(s.box_px, 5, 512, 512), 0.9, "truth") for s in nodule.slices]
    r = evaluate_lidc_volume(SimpleNamespace(detect=lambda v, slices=None: truth), folder)
    assert (r["num_slices"], r["num_lesions"], r["num_lesion_slices"], r["num_readers"]) == (261, 1, 28, 4)
    assert set(r["lesion_sensitivity"].values()) == {1.0} and set(r["slice_sensitivity"].values()) == {1.0}
