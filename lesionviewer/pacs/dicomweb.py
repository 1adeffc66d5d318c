"""DICOMweb client: QIDO-RS search (``dicomweb-client``), WADO-RS retrieve streamed to the cache,
STOW-RS store of files as they are encoded.

HTTPS certificates are verified unless the server's ``verify_tls`` is off; basic or bearer
credentials come from the caller (see :mod:`lesionviewer.pacs.credentials`) and live only in this
object's HTTP session. A retrieve asks for every instance in its stored transfer syntax
(``transfer-syntax=*``) and writes each part to the staging folder as soon as it has arrived; the
series appears in the cache only after the closing boundary. HTTP failures become typed errors
(401, 403, 404, timeouts, a server that goes away).

Example:
    >>> from lesionviewer.pacs.server import PacsServer
    >>> from lesionviewer.pacs.orthanc import free_port
    >>> client = DicomWebClient(PacsServer("w", url=f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2))
    >>> client.echo()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.pacs.errors.PacsConnectionError: w: cannot reach http://127.0.0.1:.../dicom-web (...)
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import requests

from lesionviewer.pacs.cache import PacsCache
from lesionviewer.pacs.errors import (
    ConnectionLostError,
    NotFoundError,
    OperationFailedError,
    PacsConnectionError,
    PacsError,
    PacsTimeoutError,
    TransferCancelledError,
    error_for_http_status,
)
from lesionviewer.pacs.multipart import TruncatedMultipartError, boundary_of, encode_related, iter_parts
from lesionviewer.pacs.progress import Cancel, Progress, is_cancelled, report
from lesionviewer.pacs.query import SERIES_FIELDS, STUDY_FIELDS, SeriesRecord, StudyQuery, StudyRecord
from lesionviewer.pacs.server import PacsServer

T = TypeVar("T")
_ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
_CHUNK = 1 << 20
_STOW_BATCH_BYTES = 64 << 20


def _dataset(json_item: dict):
    from pydicom.dataset import Dataset

    return Dataset.from_json(json_item)


class DicomWebClient:
    """Talks to one DICOMweb server (``server.kind == "dicomweb"``); ``secret`` is the password
    (basic) or token (bearer).

    Example:
        >>> c = DicomWebClient(PacsServer("w", url="https://pacs/dw/", auth="bearer"), secret="t0k")
        >>> c.session.headers["Authorization"], c.session.verify, c.base_url
        ('Bearer t0k', True, 'https://pacs/dw')
    """

    def __init__(self, server: PacsServer, secret: str | None = None) -> None:
        if server.kind != "dicomweb":
            raise ValueError(f"server {server.name!r} is not a DICOMweb server")
        self.server = server
        self.base_url = server.url.rstrip("/")
        self.session = requests.Session()
        self.session.verify = bool(server.verify_tls)
        if server.auth == "basic":
            self.session.auth = (server.username, secret or "")
        elif server.auth == "bearer":
            self.session.headers["Authorization"] = f"Bearer {secret or ''}"
        self._qido = None

    def close(self) -> None:
        """Close the HTTP connections.

        Example:
            >>> c = DicomWebClient(PacsServer("w", url="http://h/dw"))
            >>> pools = c.session.get_adapter("http://h/dw").poolmanager.pools
            >>> _ = c.session.get_adapter("http://h/dw").poolmanager.connection_from_url("http://h/dw")
            >>> len(pools)
            1
            >>> c.close(); len(pools)
            0
        """
        self.session.close()

    @property
    def qido(self):
        """The ``dicomweb_client.DICOMwebClient`` sharing this session.

        Example:
            >>> type(DicomWebClient(PacsServer("w", url="http://h/dw")).qido).__name__
            'DICOMwebClient'
        """
        if self._qido is None:
            from dicomweb_client.api import DICOMwebClient

            self._qido = DICOMwebClient(self.base_url, session=self.session, timeout=self.server.timeout_s)
            self._qido.set_http_retry_params(retry=False)  # fail fast; the user retries
        return self._qido

    def _call(self, what: str, work: Callable[[], T]) -> T:
        """Run ``work`` and translate what ``requests`` raises into a :class:`PacsError`."""
        name = self.server.name
        try:
            return work()
        except PacsError:
            raise
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            raise error_for_http_status(name, status, what) from None
        except requests.exceptions.SSLError as exc:
            raise PacsConnectionError(name, f"{what}: the server's TLS certificate was not accepted ({exc})") from None
        except requests.Timeout:
            raise PacsTimeoutError(name, f"{what}: no answer within {self.server.timeout_s:.0f} s") from None
        except (requests.exceptions.ChunkedEncodingError, TruncatedMultipartError) as exc:
            raise ConnectionLostError(name, f"{what}: the server went away mid-transfer ({type(exc).__name__})") \
                from None
        except requests.ConnectionError as exc:
            reason = str(exc.args[0]) if exc.args else type(exc).__name__
            if "RemoteDisconnected" in reason or "Connection aborted" in reason or "reset" in reason.lower():
                raise ConnectionLostError(name, f"{what}: the server closed the connection") from None
            raise PacsConnectionError(name, f"cannot reach {self.base_url} ({type(exc).__name__})") from None

    def _get(self, path: str, **kwargs) -> requests.Response:
        reply = self.session.get(self.base_url + path, timeout=self.server.timeout_s, **kwargs)
        reply.raise_for_status()
        return reply

    def echo(self) -> float:
        """A QIDO-RS search for one study, as a connection and credentials check; returns seconds.

        Example:
            >>> DicomWebClient(PacsServer("w", url="http://127.0.0.1:9/dw", timeout_s=1)).echo()
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: w: cannot reach http://127.0.0.1:9/dw (ConnectionError)
        """
        started = time.monotonic()
        self._call("checking the connection", lambda: self._get("/studies", params={"limit": "1"},
                                                                    headers={"Accept": "application/dicom+json"}))
        return time.monotonic() - started

    def find_studies(self, query: StudyQuery = StudyQuery()) -> list[StudyRecord]:  # noqa: B008 - a frozen dataclass: one shared default is safe
        """QIDO-RS study search.

        Example:
            >>> DicomWebClient(PacsServer("w", url="http://127.0.0.1:9/dw", timeout_s=1)).find_studies()
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: w: cannot reach http://127.0.0.1:9/dw (ConnectionError)
        """
        found = self._call("study search (QIDO-RS)", lambda: self.qido.search_for_studies(
            search_filters=query.qido_params(), fields=list(STUDY_FIELDS), get_remaining=False))
        return [StudyRecord.from_mapping(_dataset(item)) for item in found]

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRecord]:
        """QIDO-RS series search in one study.

        Example:
            >>> DicomWebClient(PacsServer("w", url="http://127.0.0.1:9/dw", timeout_s=1)).find_series("1.2")
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: w: cannot reach http://127.0.0.1:9/dw (ConnectionError)
        """
        filters = {"Modality": modality} if modality else {}
        found = self._call("series search (QIDO-RS)", lambda: self.qido.search_for_series(
            study_instance_uid=study_uid, search_filters=filters, fields=list(SERIES_FIELDS), get_remaining=False))
        records = [SeriesRecord.from_mapping(_dataset(item)) for item in found]
        from dataclasses import replace

        return [r if r.study_uid else replace(r, study_uid=study_uid) for r in records]

    def retrieve_series(self, study_uid: str, series_uid: str, cache: PacsCache, *, expected: int = 0,
                        progress: Progress | None = None, cancel: Cancel = None) -> Path:
        """WADO-RS retrieve of one series into ``cache``, streamed; returns its folder.

        Example (nothing listening: an error, and nothing in the cache):
            >>> import tempfile
            >>> cache = PacsCache(tempfile.mkdtemp())
            >>> DicomWebClient(PacsServer("w", url="http://127.0.0.1:9/dw")).retrieve_series("1", "1.2", cache)
            Traceback (most recent call last):
            ...
            lesionviewer.pacs.errors.PacsConnectionError: w: cannot reach http://127.0.0.1:9/dw (ConnectionError)
            >>> cache.get("1.2") is None
            True
        """
        what = f"retrieving series {series_uid} (WADO-RS)"

        def work() -> Path:
            with cache.staging(series_uid) as staging, contextlib.closing(self._get(
                    f"/studies/{study_uid}/series/{series_uid}", headers={"Accept": _ACCEPT_DICOM},
                    stream=True)) as reply:
                boundary = boundary_of(reply.headers.get("Content-Type", ""))
                for part in iter_parts(reply.iter_content(_CHUNK), boundary):
                    if is_cancelled(cancel):
                        raise TransferCancelledError(self.server.name, f"{what}: cancelled")
                    staging.write_instance(f"{staging.count + 1:06d}", part)
                    report(progress, staging.count, expected)
                if staging.count == 0:
                    raise NotFoundError(self.server.name, f"{what}: the server returned no instance")
                if expected and staging.count < expected:
                    raise ConnectionLostError(self.server.name, f"{what}: {staging.count} of {expected} arrived")
                staging.info.update(server=self.server.name, study_uid=study_uid, method="WADO-RS")
            return cache.series_folder(series_uid)  # the staging block has just stored it there

        return self._call(what, work)

    def store(self, files: Iterable[str | Path], *, progress: Progress | None = None, cancel: Cancel = None) -> int:
        """STOW-RS of DICOM files (sent as encoded, in batches); returns how many the server stored.

        Example:
            >>> DicomWebClient(PacsServer("w", url="http://h/dw")).store([])
            0
        """
        paths = [Path(f) for f in files]
        stored = 0
        for batch in _batches(paths, _STOW_BATCH_BYTES):
            if is_cancelled(cancel):
                raise TransferCancelledError(self.server.name, f"storing: cancelled after {stored} file(s)")
            body, content_type = encode_related(p.read_bytes() for p in batch)
            what = f"storing {len(batch)} file(s) (STOW-RS)"

            def post(body=body, content_type=content_type) -> requests.Response:  # this batch's, bound now
                reply = self.session.post(self.base_url + "/studies", data=body, timeout=self.server.timeout_s,
                                          headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
                reply.raise_for_status()
                return reply

            reply = self._call(what, post)
            answer = _dataset(reply.json()) if reply.content else None
            failed = len(answer.get("FailedSOPSequence", []) or []) if answer is not None else 0
            if failed:
                raise OperationFailedError(self.server.name, f"{what}: the server refused {failed} instance(s)")
            stored += len(batch)
            report(progress, stored, len(paths))
        return stored


def _batches(paths: list[Path], limit: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in paths:
        length = path.stat().st_size
        if batch and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch
