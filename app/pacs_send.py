"""Findings > Send to PACS: the DICOM SR (TID 1500) of the accepted findings, stored back on the
server the study came from (else the first configured one), with the result shown."""
from __future__ import annotations

import tempfile
from pathlib import Path

from lesionviewer.pacs import PacsServer, connect
from lesionviewer.pacs.errors import AuthenticationError, PacsError
from lesionviewer.pacs.server_list import load_servers
from lesionviewer.pacs.sr_send import send_sr
from lesionviewer_app import messages
from lesionviewer_app.pacs_credentials import STORE, forget_secret, secret_for
from lesionviewer_app.worker import BackgroundJob, JobFailure, run_in_background


def target_server(window) -> PacsServer | None:
    """Where the SR goes: the server the study was retrieved from, else the first configured one."""
    server = getattr(window, "pacs_source", None)
    if server is not None:
        return server
    servers = load_servers()
    return servers[0] if servers else None


def send_to_pacs(window, server: PacsServer | None = None) -> BackgroundJob | None:
    """Start sending the SR of the open review (in the background); None (with a message) when
    there is nothing to send or no server."""
    session, volume = window.bridge.session, window.state.volume
    if session is None or volume is None:
        messages.show_warning(window, "Send to PACS", "Open a study and review its findings first.")
        return None
    server = server or target_server(window)
    if server is None:
        messages.show_warning(window, "Send to PACS", "No PACS server is configured (see the README: PACS).")
        return None
    secret = secret_for(window, server)
    client = connect(server, secret)
    folder = Path(tempfile.gettempdir())

    def done(report) -> None:
        session.mark_exported(f"{server.name}:{report.sop_uid}")
        text = (f"DICOM SR with {report.groups} item(s) stored on {server.name} ({server.describe()}).\n"
                f"Series {report.series_uid}\nInstance {report.sop_uid}")
        window.statusBar().showMessage(f"SR sent to {server.name}", 5000)
        messages.show_info(window, "Send to PACS", text)

    def failed(failure: JobFailure) -> None:
        if isinstance(failure.error, AuthenticationError):
            forget_secret(server, STORE)
        if isinstance(failure.error, (PacsError, ValueError, RuntimeError)):
            messages.show_warning(window, "Send to PACS failed", str(failure.error))
        else:
            messages.show_error(window, "Send to PACS failed", failure)

    window.statusBar().showMessage(f"Sending the SR to {server.name}...")
    return run_in_background(lambda ctx: send_sr(client, session, volume, folder=folder), "pacs-send",
                             on_finished=done, on_failed=failed)
