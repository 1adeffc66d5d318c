"""The viewer's one credential store for PACS servers, and asking the user for a missing secret."""
from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from lesionviewer.pacs.credentials import CredentialStore
from lesionviewer.pacs.server import PacsServer

#: shared by the dialogs for the whole session (the keyring when there is one, else memory only)
STORE = CredentialStore()


def secret_for(parent: QWidget | None, server: PacsServer, store: CredentialStore = STORE,
               ask: bool = True) -> str | None:
    """The password or token for ``server``: from the store, else asked (and remembered); None
    when the server needs none or the user cancelled."""
    if server.auth == "none":
        return None
    user = server.username or "token"
    secret = store.get(server.name, user)
    if secret is None and ask:
        what = "password" if server.auth == "basic" else "access token"
        text, ok = QInputDialog.getText(parent, f"PACS {server.name}",
                                        f"The {what} for {user} on {server.describe()}"
                                        f"{'' if store.persistent else ' (kept for this session only)'}:",
                                        QLineEdit.Password)
        if not ok:
            return None
        secret = text
        store.set(server.name, user, secret)
    return secret


def forget_secret(server: PacsServer, store: CredentialStore = STORE) -> None:
    """Drop a secret the server refused, so that the next try asks again."""
    store.forget(server.name, server.username or "token")
