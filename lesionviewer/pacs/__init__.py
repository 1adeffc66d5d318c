"""Work with a hospital PACS: DICOMweb and DIMSE clients, the local cache of retrieved series,
and the AI node (``lesionviewer-node``). Headless: no Qt here.

:func:`connect` gives the right client for a configured :class:`PacsServer`; both clients
search (:class:`StudyQuery`), retrieve a series into a :class:`PacsCache` and store files.
Every failure is a :class:`PacsError` subclass.

Example:
    >>> from lesionviewer.pacs import PacsServer, connect
    >>> type(connect(PacsServer("w", url="https://pacs.example/dicom-web"))).__name__
    'DicomWebClient'
    >>> type(connect(PacsServer("d", kind="dimse", ae_title="PACS", host="pacs"))).__name__
    'DimseClient'
"""
from __future__ import annotations

from lesionviewer.pacs.cache import PacsCache
from lesionviewer.pacs.connect import connect
from lesionviewer.pacs.credentials import CredentialStore
from lesionviewer.pacs.errors import (
    AssociationRejectedError,
    AuthenticationError,
    ConnectionLostError,
    NotFoundError,
    OperationFailedError,
    PacsConnectionError,
    PacsError,
    PacsTimeoutError,
    PermissionDeniedError,
    TransferCancelledError,
)
from lesionviewer.pacs.query import SeriesRecord, StudyQuery, StudyRecord
from lesionviewer.pacs.server import PacsServer

__all__ = [
    "PacsServer", "PacsCache", "CredentialStore", "StudyQuery", "StudyRecord", "SeriesRecord", "connect",
    "PacsError", "AssociationRejectedError", "AuthenticationError", "ConnectionLostError", "NotFoundError",
    "OperationFailedError", "PacsConnectionError", "PacsTimeoutError", "PermissionDeniedError",
    "TransferCancelledError",
]
