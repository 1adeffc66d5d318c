"""DIMSE client (pynetdicom): C-ECHO, C-FIND at study and series level, C-GET and C-MOVE of a
series into the :class:`~lesionviewer.pacs.cache.PacsCache`, and C-STORE of files.

Retrieved instances are written as received (the encoded bytes, never decoded and re-encoded,
in the transfer syntax the PACS sent), into a staging folder that becomes the cached series
only when the PACS reports every sub-operation done and the count matches. Everything that goes
wrong is a :class:`~lesionviewer.pacs.errors.PacsError`.

Example:
    >>> from lesionviewer.pacs.server import PacsServer
    >>> from lesionviewer.pacs.orthanc import free_port
    >>> client = DimseClient(PacsServer("nobody", kind="dimse", ae_title="PACS", host="127.0.0.1",
    ...                                 port=free_port(), timeout_s=2))
    >>> client.echo()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.pacs.errors.PacsConnectionError: nobody: no DICOM association with PACS@127.0.0.1:...
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from pydicom.dataset import Dataset

from lesionviewer.pacs.cache import PacsCache, Staging
from lesionviewer.pacs.contexts import add_storage_scp_contexts, get_contexts, scp_roles
from lesionviewer.pacs.errors import (
    AssociationRejectedError,
    ConnectionLostError,
    NotFoundError,
    OperationFailedError,
    PacsConnectionError,
    PacsTimeoutError,
    TransferCancelledError,
)
from lesionviewer.pacs.progress import Cancel, Progress, is_cancelled, report
from lesionviewer.pacs.query import SERIES_FIELDS, STUDY_FIELDS, SeriesRecord, StudyQuery, StudyRecord
from lesionviewer.pacs.server import PacsServer

logging.getLogger("pynetdicom").setLevel(logging.WARNING)

_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
_GET = "1.2.840.10008.5.1.4.1.2.2.3"
_MAX_PDU = 0  # no limit from our side: the PACS chooses the largest PDU it likes


def write_received(staging: Staging, event) -> int:
    """Write the instance of a C-STORE ``event`` to ``staging`` byte for byte; returns the status.

    Example:
        >>> import tempfile
        >>> from types import SimpleNamespace
        >>> from io import BytesIO
        >>> from pydicom.dataset import FileMetaDataset
        >>> meta = FileMetaDataset()
        >>> meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "1.2.3"
        >>> meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        >>> event = SimpleNamespace(file_meta=meta, request=SimpleNamespace(AffectedSOPInstanceUID="1.2.3",
        ...                                                                 DataSet=BytesIO(b"")))
        >>> stage = Staging(Path(tempfile.mkdtemp()), "1.2")
        >>> write_received(stage, event), stage.path_for("1.2.3").read_bytes()[128:132]
        (0, b'DICM')
    """
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    meta = DicomBytesIO()
    meta.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(meta, event.file_meta, enforce_standard=True)
    staging.write_instance(str(event.request.AffectedSOPInstanceUID), meta.getvalue(),
                           event.request.DataSet.getvalue())
    return 0x0000


def series_identifier(study_uid: str, series_uid: str) -> Dataset:
    """The C-GET / C-MOVE identifier for one series (study root).

    Example:
        >>> series_identifier("1.2", "1.2.3").QueryRetrieveLevel
        'SERIES'
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    return ds


class DimseClient:
    """Talks to one DIMSE server (``server.kind == "dimse"``).

    Example:
        >>> DimseClient(PacsServer("p", kind="dimse", ae_title="PACS", host="h", port=104)).server.port
        104
    """

    def __init__(self, server: PacsServer) -> None:
        if server.kind != "dimse":
            raise ValueError(f"server {server.name!r} is not a DIMSE server")
        self.server = server

    # -- association -------------------------------------------------------------------------
    def _ae(self):
        from pynetdicom import AE

        ae = AE(ae_title=self.server.calling_ae)
        t = float(self.server.timeout_s)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = t
        ae.connection_timeout = t
        ae.maximum_pdu_size = _MAX_PDU
        return ae

    @contextlib.contextmanager
    def _association(self, contexts, ext_neg=None, handlers=None) -> Iterator:
        from pynetdicom import build_context

        ae = self._ae()
        contexts = [build_context(c) if isinstance(c, str) else c for c in contexts]
        s = self.server
        # One more try when the request ended at once without an answer: a peer that rejects and closes
        # its socket in the same breath may have the close read before the rejection (our guess at one CI
        # failure against Orthanc, where a wrong AE title came back as "no association" instead of refused).
        for attempt in range(2):
            started = time.monotonic()
            assoc = ae.associate(s.host, int(s.port), contexts=contexts, ae_title=s.ae_title, ext_neg=ext_neg,
                                 evt_handlers=handlers, max_pdu=_MAX_PDU)
            quick = time.monotonic() - started < s.timeout_s * 0.9
            if assoc.is_established or assoc.is_rejected or not quick or attempt == 1:
                break
        if not assoc.is_established and not assoc.is_rejected and time.monotonic() - started >= s.timeout_s * 0.9:
            raise PacsTimeoutError(s.name, f"{s.describe()} accepted the connection but did not answer the "
                                           f"association request within {s.timeout_s:.0f} s")
        if assoc.is_rejected:
            raise AssociationRejectedError(s.name, f"{s.describe()} refused the association (is our AE title "
                                                   f"{s.calling_ae!r} known to it, and is its AE title right?)")
        if not assoc.is_established:
            raise PacsConnectionError(s.name, f"no DICOM association with {s.describe()} (nothing listening, "
                                              "or it did not answer in time)")
        try:
            yield assoc
        finally:
            if assoc.is_established:
                assoc.release()
            ae.shutdown()

    def _check_alive(self, assoc, what: str, started: float) -> None:
        if assoc.is_aborted or not assoc.is_established:
            if time.monotonic() - started >= self.server.timeout_s:
                raise PacsTimeoutError(self.server.name, f"{what}: no answer within {self.server.timeout_s:.0f} s")
            raise ConnectionLostError(self.server.name, f"{what}: the connection was lost")

    # -- C-ECHO ------------------------------------------------------------------------------
    def echo(self) -> float:
        """C-ECHO; returns the round trip in seconds.

        Example:
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="127.0.0.1", port=free_port(),
            ...                        timeout_s=1)).echo()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: p: no DICOM association with P@127.0.0.1:...
        """
        started = time.monotonic()
        with self._association(["1.2.840.10008.1.1"]) as assoc:
            status = assoc.send_c_echo()
            if not status or status.Status != 0x0000:
                self._check_alive(assoc, "C-ECHO", started)
                raise OperationFailedError(self.server.name, f"C-ECHO failed (status {status.get('Status')})")
        return time.monotonic() - started

    # -- C-FIND ------------------------------------------------------------------------------
    def _find(self, identifier: Dataset, what: str) -> list[Dataset]:
        started = time.monotonic()
        answers: list[Dataset] = []
        with self._association([_FIND]) as assoc:
            for status, found in assoc.send_c_find(identifier, _FIND):
                if not status:
                    self._check_alive(assoc, what, started)
                    raise ConnectionLostError(self.server.name, f"{what}: no answer")
                code = int(status.Status)
                if code in (0xFF00, 0xFF01) and found is not None:
                    answers.append(found)
                elif code == 0x0000:
                    break
                else:
                    raise OperationFailedError(self.server.name, f"{what} failed (status 0x{code:04X})")
        return answers

    def find_studies(self, query: StudyQuery = StudyQuery()) -> list[StudyRecord]:  # noqa: B008 - a frozen dataclass: one shared default is safe
        """C-FIND at study level.

        Example:
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> client = DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="127.0.0.1", port=free_port()))
            >>> client.find_studies(StudyQuery(patient_id="X"))  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: p: no DICOM association with P@127.0.0.1:...
        """
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for name in STUDY_FIELDS:
            setattr(ds, name, "")
        for name, value in query.matching().items():
            setattr(ds, name, value)
        return [StudyRecord.from_mapping(d) for d in self._find(ds, "study search (C-FIND)")]

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRecord]:
        """C-FIND at series level within one study.

        Example:
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> client = DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="127.0.0.1", port=free_port()))
            >>> client.find_series("1.2.3")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: p: no DICOM association with P@127.0.0.1:...
        """
        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES"
        for name in SERIES_FIELDS:
            setattr(ds, name, "")
        ds.StudyInstanceUID = study_uid
        if modality:
            ds.Modality = modality
        records = [SeriesRecord.from_mapping(d) for d in self._find(ds, "series search (C-FIND)")]
        return [r if r.study_uid else replace(r, study_uid=study_uid) for r in records]

    # -- retrieve ----------------------------------------------------------------------------
    def _follow(self, assoc, responses, staging: Staging, what: str, expected: int,
                progress: Progress | None, cancel: Cancel) -> int:
        """Read the pending/final responses of a C-GET or C-MOVE; returns the completed count."""
        started = time.monotonic()
        completed = 0
        for status, _ in responses:
            if is_cancelled(cancel):
                assoc.abort()
                raise TransferCancelledError(self.server.name, f"{what}: cancelled")
            if not status:
                self._check_alive(assoc, what, started)
                raise ConnectionLostError(self.server.name, f"{what}: the server stopped answering")
            code = int(status.Status)
            done = int(status.get("NumberOfCompletedSuboperations", 0) or 0)
            left = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
            failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
            if code in (0xFF00, 0xFF01):
                report(progress, max(staging.count, done), expected or done + left + failed)
                continue
            if code == 0x0000:
                completed = done
                break
            if code == 0xFE00:
                raise TransferCancelledError(self.server.name, f"{what}: cancelled by the server")
            if code in (0xA701, 0xA702):
                raise OperationFailedError(self.server.name, f"{what}: out of resources at the server "
                                                             f"(status 0x{code:04X})")
            if code == 0xA801:
                raise OperationFailedError(self.server.name, f"{what}: the PACS does not know the move destination")
            if 0xC000 <= code <= 0xCFFF and staging.count == 0 and not done:
                raise NotFoundError(self.server.name, f"{what}: the server found nothing to send "
                                                      f"(status 0x{code:04X}: no such series?)")
            if code == 0xB000 or failed:
                raise OperationFailedError(self.server.name, f"{what}: {failed} instance(s) failed to arrive")
            raise OperationFailedError(self.server.name, f"{what} failed (status 0x{code:04X})")
        else:
            self._check_alive(assoc, what, started)
        return completed

    def get_series(self, study_uid: str, series_uid: str, cache: PacsCache, *, expected: int = 0,
                   progress: Progress | None = None, cancel: Cancel = None) -> Path:
        """C-GET one series into ``cache``; returns its folder (complete, or an error is raised).

        Example (nothing listening: an error, and nothing in the cache):
            >>> import tempfile
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> cache = PacsCache(tempfile.mkdtemp())
            >>> client = DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="127.0.0.1", port=free_port()))
            >>> client.get_series("1.2", "1.2.3", cache)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: p: no DICOM association with P@127.0.0.1:...
            >>> cache.get("1.2.3") is None
            True
        """
        what = f"retrieving series {series_uid} (C-GET)"
        from pynetdicom import evt

        with cache.staging(series_uid) as staging:
            lock = threading.Lock()

            def on_store(event):
                with lock:
                    status = write_received(staging, event)
                report(progress, staging.count, expected)
                return status

            with self._association(get_contexts(), ext_neg=scp_roles(),
                                   handlers=[(evt.EVT_C_STORE, on_store)]) as assoc:
                responses = assoc.send_c_get(series_identifier(study_uid, series_uid), _GET)
                completed = self._follow(assoc, responses, staging, what, expected, progress, cancel)
            self._check_count(staging, completed, what)
            staging.info.update(server=self.server.name, study_uid=study_uid, method="C-GET")
        return cache.series_folder(series_uid)  # the staging block has just stored it there

    def move_series(self, study_uid: str, series_uid: str, cache: PacsCache, *, destination_ae: str,
                    listen_port: int, listen_host: str = "127.0.0.1", expected: int = 0,
                    progress: Progress | None = None, cancel: Cancel = None) -> Path:
        """C-MOVE one series to our own storage SCP (``destination_ae`` on ``listen_host:listen_port``,
        which the PACS must know) and into ``cache``; returns its folder.

        Example:
            >>> import tempfile
            >>> from lesionviewer.pacs.orthanc import free_port
            >>> client = DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="127.0.0.1", port=free_port()))
            >>> client.move_series("1.2", "1.2.3", PacsCache(tempfile.mkdtemp()), destination_ae="ME",
            ...                    listen_port=free_port())  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: p: no DICOM association with P@127.0.0.1:...
        """
        from pynetdicom import AE, evt

        what = f"retrieving series {series_uid} (C-MOVE to {destination_ae})"
        with cache.staging(series_uid) as staging:
            lock = threading.Lock()

            def on_store(event):
                with lock:
                    status = write_received(staging, event)
                report(progress, staging.count, expected)
                return status

            receiver = AE(ae_title=destination_ae)
            receiver.maximum_pdu_size = _MAX_PDU
            receiver.network_timeout = receiver.dimse_timeout = receiver.acse_timeout = self.server.timeout_s
            add_storage_scp_contexts(receiver)
            try:
                server = receiver.start_server((listen_host, int(listen_port)), block=False,
                                               evt_handlers=[(evt.EVT_C_STORE, on_store)])
            except OSError as exc:
                raise PacsConnectionError(self.server.name, f"cannot listen on {listen_host}:{listen_port} for "
                                                            f"the C-MOVE ({exc})") from None
            try:
                with self._association([_MOVE]) as assoc:
                    responses = assoc.send_c_move(series_identifier(study_uid, series_uid), destination_ae, _MOVE)
                    completed = self._follow(assoc, responses, staging, what, expected, progress, cancel)
            finally:
                if server is not None:  # start_server(block=False) always returns one
                    server.shutdown()
            self._check_count(staging, completed, what)
            staging.info.update(server=self.server.name, study_uid=study_uid, method="C-MOVE")
        return cache.series_folder(series_uid)  # the staging block has just stored it there

    def _check_count(self, staging: Staging, completed: int, what: str) -> None:
        if staging.count == 0:
            raise NotFoundError(self.server.name, f"{what}: the server has no such series (nothing arrived)")
        if completed and staging.count < completed:
            raise ConnectionLostError(self.server.name, f"{what}: {completed} reported sent, "
                                                        f"{staging.count} arrived")

    # -- C-STORE -----------------------------------------------------------------------------
    def store(self, files: Iterable[str | Path], *, progress: Progress | None = None, cancel: Cancel = None) -> int:
        """C-STORE DICOM files (sent as they are encoded); returns how many were stored.

        Example:
            >>> DimseClient(PacsServer("p", kind="dimse", ae_title="P", host="h")).store([])
            0
        """
        from pydicom.filereader import read_file_meta_info

        paths = [Path(f) for f in files]
        if not paths:
            return 0
        pairs: dict[str, set[str]] = {}
        for path in paths:
            meta = read_file_meta_info(path)
            pairs.setdefault(str(meta.MediaStorageSOPClassUID), set()).add(str(meta.TransferSyntaxUID))
        from pynetdicom import build_context

        contexts = [build_context(sop, [ts]) for sop, syntaxes in pairs.items() for ts in sorted(syntaxes)]
        if len(contexts) > 128:
            raise ValueError(f"{len(contexts)} class/syntax pairs: more than one association allows (128)")
        started = time.monotonic()
        stored = 0
        with self._association(contexts) as assoc:
            for path in paths:
                if is_cancelled(cancel):
                    assoc.abort()
                    raise TransferCancelledError(self.server.name, f"storing: cancelled after {stored} file(s)")
                status = assoc.send_c_store(path)
                if not status:
                    self._check_alive(assoc, f"storing {path.name} (C-STORE)", started)
                    raise ConnectionLostError(self.server.name, f"storing {path.name}: no answer")
                code = int(status.Status)
                if code not in (0x0000, 0xB000, 0xB006, 0xB007):
                    raise OperationFailedError(self.server.name, f"storing {path.name} failed (status 0x{code:04X})")
                stored += 1
                report(progress, stored, len(paths))
        return stored
