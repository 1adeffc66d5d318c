"""Typed errors of the PACS client: each says which server and what went wrong, in plain words.

Every error is a :class:`PacsError`, so a caller can catch one family; the subclasses let the GUI
say the right thing (ask for a password again on 401, offer a retry on a timeout, ...).

Example:
    >>> err = AuthenticationError("orthanc", "the user name or password was not accepted (HTTP 401)")
    >>> str(err)
    'orthanc: the user name or password was not accepted (HTTP 401)'
    >>> isinstance(err, PacsError), err.server
    (True, 'orthanc')
"""
from __future__ import annotations


class PacsError(Exception):
    """Something went wrong talking to a PACS; ``server`` names it, ``reason`` says what.

    Example:
        >>> PacsError("pacs1", "no answer").reason
        'no answer'
    """

    def __init__(self, server: str, reason: str):
        self.server = str(server)
        self.reason = reason
        super().__init__(f"{self.server}: {reason}")


class AssociationRejectedError(PacsError):
    """The DICOM server refused the association (unknown AE title, no accepted presentation context)."""


class PacsConnectionError(PacsError):
    """The server could not be reached (nothing listening, name unknown, TLS failure)."""


class PacsTimeoutError(PacsError):
    """The server did not answer in time."""


class AuthenticationError(PacsError):
    """HTTP 401: credentials missing or not accepted."""


class PermissionDeniedError(PacsError):
    """HTTP 403: the credentials are valid but may not do this."""


class NotFoundError(PacsError):
    """HTTP 404, or a retrieve that found no such study or series."""


class ConnectionLostError(PacsError):
    """The server went away in the middle of a transfer; nothing partial was kept."""


class TransferCancelledError(PacsError):
    """The caller cancelled a transfer; nothing partial was kept."""


class OperationFailedError(PacsError):
    """The server answered with a failure status (DIMSE status or another HTTP error)."""


def error_for_http_status(server: str, status: int, what: str) -> PacsError:
    """The typed error for an HTTP failure ``status`` while doing ``what``.

    Example:
        >>> type(error_for_http_status("s", 403, "searching")).__name__
        'PermissionDeniedError'
        >>> str(error_for_http_status("s", 404, "retrieving series 1.2"))
        's: retrieving series 1.2: not found (HTTP 404)'
    """
    if status == 401:
        return AuthenticationError(server, f"{what}: the user name or password was not accepted (HTTP 401)")
    if status == 403:
        return PermissionDeniedError(server, f"{what}: permission denied (HTTP 403)")
    if status == 404:
        return NotFoundError(server, f"{what}: not found (HTTP 404)")
    if status in (408, 504):
        return PacsTimeoutError(server, f"{what}: the server timed out (HTTP {status})")
    return OperationFailedError(server, f"{what}: the server answered HTTP {status}")
