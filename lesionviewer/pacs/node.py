"""The AI node: a C-STORE SCP that receives studies, runs the lesion detector on each complete CT
series and sends the findings back as a DICOM SR (TID 1500).

Received instances are written (atomically, fsynced) to ``<state>/inbox/<series UID>/`` and
recorded in the :class:`~lesionviewer.pacs.node_queue.NodeQueue` before the C-STORE is
acknowledged. DICOM has no "end of series" message, so a series counts as complete once no
instance of it has arrived for ``quiet_s`` seconds. The worker then loads it with
:func:`~lesionviewer.io.load_volume`, runs :class:`~lesionviewer.detection.Detector` on every
slice, writes the SR of the findings scoring at least ``min_score`` (stable UIDs from the series UID and the model) to
``<state>/outbox/`` and C-STOREs it to the destination; the findings also go to
``<state>/results/<series UID>.json``. It logs one line per series with its timings.
With ``poll`` (a DICOMweb server), it also searches that server every ``poll_every_s`` seconds for
CT series of studies dated ``poll_since`` or later that it has not seen, retrieves them (WADO-RS)
and queues them like received ones. A series
that is not CT is skipped; one without findings is done with no SR sent (TID 1500 needs one).

Example:
    >>> import tempfile
    >>> from lesionviewer.pacs.orthanc import free_port
    >>> from lesionviewer.pacs.server import PacsServer
    >>> dest = PacsServer("pacs", kind="dimse", ae_title="PACS", host="127.0.0.1", port=free_port())
    >>> node = AiNode(NodeConfig(state_dir=tempfile.mkdtemp(), port=free_port(), destination=dest))
    >>> node.start(); node.echo_self() < 5; node.stop()
    True
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from lesionviewer.pacs.cache import safe_name
from lesionviewer.pacs.node_queue import NodeQueue
from lesionviewer.pacs.server import PacsServer
from lesionviewer.util.atomic import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from pynetdicom.transport import ThreadedAssociationServer

log = logging.getLogger("lesionviewer.node")


def default_model_path() -> Path:
    """The viewer's default detector (:func:`lesionviewer.detection.default_model.default_detector_file`).

    Example:
        >>> default_model_path().suffix
        '.safetensors'
    """
    from lesionviewer.detection.default_model import default_detector_file

    path = default_detector_file()
    if path is None:
        raise FileNotFoundError("no detector file is shipped in resources/models; give the node --model")
    return path


@dataclass
class NodeConfig:
    """How the node runs: where it keeps its state, what it listens on, where results go.

    Example:
        >>> NodeConfig(state_dir="/tmp/node").ae_title
        'LVNODE'
    """

    state_dir: str | Path
    ae_title: str = "LVNODE"
    host: str = "127.0.0.1"
    port: int = 11112
    destination: PacsServer | None = None
    destination_secret: str | None = None
    model_path: str | Path = field(default_factory=default_model_path)
    device: str = "auto"
    quiet_s: float = 5.0
    poll_s: float = 0.25
    min_score: float = 0.5
    poll: PacsServer | None = None
    poll_secret: str | None = None
    poll_every_s: float = 30.0
    poll_since: str = field(default_factory=lambda: time.strftime("%Y%m%d"))


class AiNode:
    """A running node; ``detector_factory`` (path, device) -> detector lets a caller share one.

    Example:
        >>> AiNode(NodeConfig(state_dir="/tmp/n")).config.quiet_s
        5.0
    """

    def __init__(self, config: NodeConfig, detector_factory: Callable[[str, str], Any] | None = None) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.inbox = self.state_dir / "inbox"
        self.outbox = self.state_dir / "outbox"
        self.results = self.state_dir / "results"
        for folder in (self.inbox, self.outbox, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.queue = NodeQueue(self.state_dir / "queue.sqlite3")
        self._detector_factory = detector_factory
        self._detector = None
        self._server: ThreadedAssociationServer | None = None
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.processed: list[str] = []
        self._last_poll = float("-inf")

    # -- receiving ----------------------------------------------------------------------------
    def _on_store(self, event) -> int:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filewriter import write_file_meta_info

        try:
            ds = event.dataset
            series_uid, study_uid = str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID)
            modality = str(ds.get("Modality", ""))
            sop_uid = str(event.request.AffectedSOPInstanceUID)
            buffer = DicomBytesIO()
            buffer.write(b"\0" * 128 + b"DICM")
            write_file_meta_info(buffer, event.file_meta, enforce_standard=True)
            buffer.write(event.request.DataSet.getvalue())
            path = self.inbox / safe_name(series_uid) / f"{safe_name(sop_uid)}.dcm"
            atomic_write_bytes(path, buffer.getvalue())
            state = self.queue.record_instance(series_uid, study_uid, modality, sop_uid, str(path))
            if state != "receiving":
                log.info("series %s: instance %s arrived after the series was %s; not processed again",
                         series_uid, sop_uid, state)
            return 0x0000
        except Exception as exc:  # the sender should know: "cannot process"
            log.error("could not store an instance: %s", exc)
            return 0xC210

    def start(self) -> None:
        """Recover the queue, start the storage SCP and the worker thread.

        Example:
            >>> import tempfile
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> node = AiNode(NodeConfig(state_dir=tempfile.mkdtemp(), port=free_port()))
            >>> node.start(); node.queue.series_in("receiving"); node.stop()
            []
        """
        from pynetdicom import AE, evt

        from lesionviewer.pacs.contexts import add_storage_scp_contexts

        recovered = self.queue.recover()
        if recovered["requeued"] or recovered["to_send"]:
            log.info("resuming: %d series to detect again, %d SR(s) to send", len(recovered["requeued"]),
                     len(recovered["to_send"]))
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_pdu_size = 0
        add_storage_scp_contexts(ae)
        self._server = ae.start_server((self.config.host, int(self.config.port)), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="lesionviewer-node-worker", daemon=True)
        self._worker.start()
        log.info("listening as %s on %s:%s; results to %s", self.config.ae_title, self.config.host,
                 self.config.port, self.config.destination.describe() if self.config.destination else "nowhere")

    def stop(self) -> None:
        """Stop receiving and let the worker finish its current series.

        Example:
            >>> import tempfile
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> node = AiNode(NodeConfig(state_dir=tempfile.mkdtemp(), port=free_port()))
            >>> node.start(); worker = node._worker; worker.is_alive()
            True
            >>> node.stop(); worker.is_alive(), node._server is None
            (False, True)
            >>> node.stop()  # a second stop does nothing
        """
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def echo_self(self) -> float:
        """C-ECHO the node itself (a readiness check); returns seconds.

        Example:
            >>> import tempfile
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> node = AiNode(NodeConfig(state_dir=tempfile.mkdtemp(), port=free_port()))
            >>> node.start(); node.echo_self() < 5; node.stop()
            True
        """
        from lesionviewer.pacs.dimse import DimseClient

        me = PacsServer("node", kind="dimse", ae_title=self.config.ae_title, host=self.config.host,
                        port=int(self.config.port), calling_ae="LVCHECK", timeout_s=5)
        return DimseClient(me).echo()

    # -- working ------------------------------------------------------------------------------
    def _work(self) -> None:
        for series_uid in self.queue.series_in("sending"):
            self._send(series_uid)
        while not self._stop.is_set():
            if self.config.poll is not None and time.monotonic() - self._last_poll >= self.config.poll_every_s:
                self._last_poll = time.monotonic()
                try:
                    self.poll_once()
                except Exception as exc:  # a PACS that is down now may be up at the next poll
                    log.error("polling %s failed: %s", self.config.poll.describe(), exc)
            for series_uid in self.queue.claim_quiet(self.config.quiet_s):
                self._process(series_uid)
            self._stop.wait(self.config.poll_s)

    def poll_once(self) -> list[str]:
        """Search the ``poll`` server for CT series not seen yet, retrieve and queue them; returns
        their UIDs (queued as complete: their quiet period is already over).

        Example:
            >>> import tempfile
            >>> AiNode(NodeConfig(state_dir=tempfile.mkdtemp())).poll_once()
            []
        """
        import os

        import pydicom

        from lesionviewer.pacs.cache import PacsCache
        from lesionviewer.pacs.connect import connect
        from lesionviewer.pacs.query import StudyQuery

        if self.config.poll is None:
            return []
        client = connect(self.config.poll, self.config.poll_secret)
        cache = PacsCache(self.state_dir / "poll-cache", max_bytes=1 << 62)
        queued = []
        for study in client.find_studies(StudyQuery(date_from=self.config.poll_since, modality="CT")):
            for series in client.find_series(study.study_uid, modality="CT"):
                if self.queue.state(series.series_uid) is not None:
                    continue
                folder = client.retrieve_series(study.study_uid, series.series_uid, cache,
                                                expected=series.instances or 0)
                done_at = time.time() - self.config.quiet_s
                for path in sorted(folder.glob("*.dcm")):
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                    target = self.inbox / safe_name(series.series_uid) / f"{safe_name(str(ds.SOPInstanceUID))}.dcm"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                    self.queue.record_instance(series.series_uid, study.study_uid, str(ds.get("Modality", "")),
                                               str(ds.SOPInstanceUID), str(target), now=done_at)
                cache.remove(series.series_uid)
                queued.append(series.series_uid)
                log.info("series %s: %d instances retrieved from %s (poll)", series.series_uid,
                         series.instances or 0, self.config.poll.describe())
        return queued

    def detector(self):
        """The detector, loaded on first use.

        Example:
            >>> node = AiNode(NodeConfig(state_dir="/tmp/n3"), detector_factory=lambda path, device: "a detector")
            >>> node.detector()
            'a detector'
        """
        if self._detector is None:
            if self._detector_factory is not None:
                self._detector = self._detector_factory(str(self.config.model_path), self.config.device)
            else:
                from lesionviewer.detection import Detector

                self._detector = Detector.from_file(self.config.model_path, device=self.config.device)
        return self._detector

    def process_now(self, series_uid: str) -> dict:
        """Detect on one received series and send its SR; returns what the results file holds.

        Example (a series that is not CT is skipped):
            >>> import tempfile
            >>> node = AiNode(NodeConfig(state_dir=tempfile.mkdtemp()))
            >>> _ = node.queue.record_instance("1.2", "1", "MR", "1.2.1", "/x.dcm")
            >>> node.process_now("1.2")
            {'series_uid': '1.2', 'skipped': "modality 'MR' is not CT"}
        """
        from lesionviewer.io import load_volume
        from lesionviewer.pacs.sr_send import write_sr
        from lesionviewer.review.session import ReviewSession

        info = self.queue.series(series_uid) or {}
        if info.get("modality") != "CT":
            return {"series_uid": series_uid, "skipped": f"modality {info.get('modality')!r} is not CT"}
        t0 = time.monotonic()
        volume = load_volume(self.inbox / safe_name(series_uid))
        t1 = time.monotonic()
        detector = self.detector()
        t2 = time.monotonic()
        found = detector.detect(volume)
        findings = [f for f in found if f.score >= self.config.min_score]
        t3 = time.monotonic()
        result = {"series_uid": series_uid, "study_uid": info.get("study_uid"), "slices": volume.num_slices,
                  "model": detector.model_name,
                  "findings": [{"slice": f.slice_index, "box": [float(v) for v in f.box_px], "score": float(f.score)}
                               for f in findings],
                  "below_min_score": len(found) - len(findings), "min_score": self.config.min_score,
                  "seconds": {"load": round(t1 - t0, 3), "model": round(t2 - t1, 3), "detect": round(t3 - t2, 3)}}
        if findings:
            session = ReviewSession(f"node-{series_uid}")
            session.begin_run(detector.model_name)
            session.add_findings(findings)
            sr_path = self.outbox / f"{safe_name(series_uid)}.dcm"
            report = write_sr(session, volume, sr_path, selection="all",
                              uid_seed=f"{series_uid}/{detector.model_name}")
            result["sr"] = {"series_uid": report.series_uid, "sop_uid": report.sop_uid, "groups": report.groups}
        atomic_write_text(self.results / f"{safe_name(series_uid)}.json", json.dumps(result, indent=1))
        return result

    def _process(self, series_uid: str) -> None:
        started = time.monotonic()
        try:
            result = self.process_now(series_uid)
        except Exception as exc:
            self.queue.set_state(series_uid, "failed", error=f"{type(exc).__name__}: {exc}")
            log.error("series %s: failed: %s: %s", series_uid, type(exc).__name__, exc)
            return
        if "skipped" in result:
            self.queue.set_state(series_uid, "skipped", result=result)
            log.info("series %s: skipped (%s)", series_uid, result["skipped"])
            return
        if "sr" not in result:
            self.queue.set_state(series_uid, "done", result=result)
            self._log_line(series_uid, result, started, sent="no findings, no SR")
            return
        self.queue.set_state(series_uid, "sending", sr_path=str(self.outbox / f"{safe_name(series_uid)}.dcm"),
                             result=result)
        self._send(series_uid, started)

    def _send(self, series_uid: str, started: float | None = None) -> None:
        from lesionviewer.pacs.connect import connect

        info = self.queue.series(series_uid) or {}
        result = info.get("result") or {}
        destination = self.config.destination
        if destination is None:
            self.queue.set_state(series_uid, "done", result=result)
            self._log_line(series_uid, result, started, sent="SR kept (no destination)")
            return
        t = time.monotonic()
        try:
            connect(destination, self.config.destination_secret).store([info["sr_path"]])
        except Exception as exc:
            self.queue.set_state(series_uid, "failed", error=f"sending the SR: {type(exc).__name__}: {exc}")
            log.error("series %s: SR not sent: %s", series_uid, exc)
            return
        result.setdefault("seconds", {})["send"] = round(time.monotonic() - t, 3)
        self.queue.set_state(series_uid, "done", result=result)
        self.processed.append(series_uid)
        self._log_line(series_uid, result, started, sent=f"SR sent to {destination.describe()}")

    def _log_line(self, series_uid: str, result: dict, started: float | None, sent: str) -> None:
        s = result.get("seconds", {})
        total = f"{time.monotonic() - started:.1f} s" if started is not None else "resumed"
        log.info("series %s: %s slices, %d findings, load %.1f s, detect %.1f s, send %.2f s, total %s; %s",
                 series_uid, result.get("slices", "?"), len(result.get("findings", [])), s.get("load", 0),
                 s.get("detect", 0), s.get("send", 0), total, sent)
