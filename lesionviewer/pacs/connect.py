"""One entry point for both kinds of server: :func:`connect` returns the client for a
:class:`~lesionviewer.pacs.server.PacsServer`.

Both clients offer ``echo()``, ``find_studies(query)``, ``find_series(study_uid)``, ``store(files)``
and :func:`retrieve_series` retrieves with either (C-GET, C-MOVE when a move destination is given,
or WADO-RS).

Example:
    >>> from lesionviewer.pacs.server import PacsServer
    >>> connect(PacsServer("d", kind="dimse", ae_title="A", host="h")).server.name
    'd'
"""
from __future__ import annotations

from pathlib import Path

from lesionviewer.pacs.cache import PacsCache
from lesionviewer.pacs.progress import Cancel, Progress
from lesionviewer.pacs.server import PacsServer


def connect(server: PacsServer, secret: str | None = None):
    """A :class:`~lesionviewer.pacs.dicomweb.DicomWebClient` or
    :class:`~lesionviewer.pacs.dimse.DimseClient` for ``server`` (``secret``: password or token).

    Example:
        >>> type(connect(PacsServer("w", url="http://h/dw"))).__name__
        'DicomWebClient'
    """
    if server.kind == "dicomweb":
        from lesionviewer.pacs.dicomweb import DicomWebClient

        return DicomWebClient(server, secret)
    from lesionviewer.pacs.dimse import DimseClient

    return DimseClient(server)


def retrieve_series(client, study_uid: str, series_uid: str, cache: PacsCache, *, expected: int = 0,
                    progress: Progress | None = None, cancel: Cancel = None,
                    move_destination: tuple[str, int] | None = None) -> Path:
    """Retrieve one series with ``client`` into ``cache``: WADO-RS for DICOMweb; C-GET for DIMSE,
    or C-MOVE to ``move_destination`` (our AE title and the local port to receive on).

    Example:
        >>> retrieve_series(object(), "1", "2", None)
        Traceback (most recent call last):
        ...
        TypeError: not a PACS client: object
    """
    options = dict(expected=expected, progress=progress, cancel=cancel)
    if hasattr(client, "retrieve_series"):
        return client.retrieve_series(study_uid, series_uid, cache, **options)
    if hasattr(client, "get_series"):
        if move_destination is not None:
            ae, port = move_destination
            return client.move_series(study_uid, series_uid, cache, destination_ae=ae, listen_port=port, **options)
        return client.get_series(study_uid, series_uid, cache, **options)
    raise TypeError(f"not a PACS client: {type(client).__name__}")
