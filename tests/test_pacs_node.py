"""lesionviewer-node against a real Orthanc: a CT series pushed with C-STORE is detected and its SR
sent back (read back with highdicom: same findings, boxes, scores); a SIGKILL mid-series loses
nothing, and nothing is processed twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from lesionviewer.pacs import PacsCache, PacsServer, StudyQuery, connect
from lesionviewer.pacs.node_queue import NodeQueue
from lesionviewer.pacs.orthanc import free_port
from test_pacs_client import shared_orthanc

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def orthanc(request, tmp_path_factory):
    return shared_orthanc(request, tmp_path_factory)


def start_node(state: Path, port: int, orthanc) -> subprocess.Popen:
    command = [sys.executable, "-m", "lesionviewer.pacs.node_cli", "--state", str(state), "--port", str(port),
               "--dest-ae", orthanc.aet, "--dest-host", "127.0.0.1", "--dest-port", str(orthanc.dicom_port),
               "--device", "cpu", "--quiet", "1.5"]
    log = open(state.parent / "node.log", "ab")
    node = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    client = connect(PacsServer("node", kind="dimse", ae_title="LVNODE", host="127.0.0.1", port=port, timeout_s=2))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            client.echo()
            return node
        except Exception:
            assert node.poll() is None, (state.parent / "node.log").read_text()
            time.sleep(0.2)
    raise AssertionError("the node did not start")


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def sr_groups(path: Path) -> list[tuple[str, tuple[float, ...], float]]:
    import highdicom as hd

    sr = hd.sr.srread(path)
    out = []
    for group in sr.content.get_planar_roi_measurement_groups():
        points = np.asarray(group.roi.value, dtype=float)
        box = (points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max())
        (score,) = [m.value for m in group.get_measurements() if m.name.value == "score"]
        sop = group.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        out.append((sop, tuple(round(v, 2) for v in box), round(float(score), 4)))
    return sorted(out)


def test_node_detects_sends_sr_and_resumes_after_sigkill(orthanc, tmp_path, monkeypatch):
    from lesionviewer.phantom import PhantomConfig
    from lesionviewer.sample import sample_study_path

    series_folder = sample_study_path(config=PhantomConfig.preset("small").with_(num_slices=4))
    files = sorted(series_folder.glob("*.dcm"))
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    series_uid, study_uid = first.SeriesInstanceUID, first.StudyInstanceUID
    state, port = tmp_path / "state", free_port()
    sender = connect(PacsServer("node", kind="dimse", ae_title="LVNODE", host="127.0.0.1", port=port, timeout_s=10,
                                calling_ae="MODALITY"))

    node = start_node(state, port, orthanc)
    assert sender.store(files[:2]) == 2
    os.kill(node.pid, signal.SIGKILL)  # mid-series: two of four slices received
    node.wait(10)

    node = start_node(state, port, orthanc)
    try:
        assert sender.store(files[2:] + files[:1]) == 3  # the rest, and one slice again
        queue = NodeQueue(state / "queue.sqlite3")
        wait_for(lambda: queue.state(series_uid) in ("done", "failed"), 120, "the series to be processed")
        info = queue.series(series_uid)
        assert info["state"] == "done" and info["instances"] == 4, info
        result = json.loads((state / "results" / f"{series_uid}.json").read_text())
        assert result["slices"] == 4 and result["findings"] and "sr" in result

        # the SR on the PACS, read back with highdicom, holds the node's findings
        pacs = connect(PacsServer("o", kind="dimse", ae_title=orthanc.aet, host="127.0.0.1",
                                  port=orthanc.dicom_port, timeout_s=10))
        sr_series = [s for s in pacs.find_series(study_uid) if s.modality == "SR"]
        assert [(s.series_uid, s.instances) for s in sr_series] == [(result["sr"]["series_uid"], 1)]
        folder = pacs.get_series(study_uid, sr_series[0].series_uid, PacsCache(tmp_path / "cache"))
        (sr_file,) = folder.glob("*.dcm")
        sop_of_slice = {i: pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for i, f in enumerate(files)}
        cols = rows = first.Columns
        expected = sorted((sop_of_slice[f["slice"]],
                           tuple(round(min(max(v, 0.0), cols if k % 2 == 0 else rows), 2) for k, v in enumerate(f["box"])),
                           round(f["score"], 4)) for f in result["findings"])
        assert sr_groups(sr_file) == expected

        # sent again after it was done: not processed twice
        assert sender.store(files) == 4
        time.sleep(2.5)
        assert queue.state(series_uid) == "done"
    finally:
        node.send_signal(signal.SIGTERM)
        node.wait(30)
    lines = [line for line in (tmp_path / "node.log").read_text().splitlines() if f"series {series_uid}: 4 slices" in line]
    assert len(lines) == 1, lines


def test_node_polls_dicomweb_and_stows_the_sr(tmp_path):
    """The node's DICOMweb side, in-process against a private Orthanc: it finds a new CT series by
    QIDO-RS, retrieves it by WADO-RS, detects and STOW-RSes the SR back; a second poll finds nothing new."""
    from lesionviewer.pacs.node import AiNode, NodeConfig
    from lesionviewer.pacs.orthanc import OrthancProcess, find_orthanc
    from lesionviewer.phantom import PhantomConfig
    from lesionviewer.sample import sample_study_path

    if find_orthanc() is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)")
    files = sorted(sample_study_path(config=PhantomConfig.preset("small").with_(num_slices=4)).glob("*.dcm"))
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    with OrthancProcess(tmp_path / "orthanc") as pacs:
        pacs.upload(files)
        web = PacsServer("pacs-web", url=pacs.dicomweb_url, auth="basic", username=pacs.user, timeout_s=10)
        node = AiNode(NodeConfig(state_dir=tmp_path / "state", port=free_port(), destination=web,
                                 destination_secret=pacs.password, poll=web, poll_secret=pacs.password,
                                 poll_since="19000101", device="cpu", quiet_s=0.5))
        assert node.poll_once() == [header.SeriesInstanceUID]
        node.start()
        try:
            wait_for(lambda: node.queue.state(header.SeriesInstanceUID) in ("done", "failed"), 120, "the series")
            assert node.queue.state(header.SeriesInstanceUID) == "done"
            assert node.poll_once() == []  # seen already
        finally:
            node.stop()
        client = connect(web, pacs.password)
        series = client.find_series(header.StudyInstanceUID)
        assert sorted(s.modality for s in series) == ["CT", "SR"]
