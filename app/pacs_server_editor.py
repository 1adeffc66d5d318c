"""Add a PACS server from the viewer: a small form (DICOMweb URL, or AE title, host and port;
authentication kind and user name; TLS verification). The password or token is not asked here:
the first search asks for it (see :mod:`lesionviewer_app.pacs_credentials`)."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QSpinBox,
                               QWidget)

from lesionviewer.pacs.server import AUTH_KINDS, PacsServer
from lesionviewer_app import messages


class ServerEditor(QDialog):
    """The form; :meth:`to_server` gives the :class:`PacsServer` (or raises ValueError with the reason)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add PACS server")
        self.name = QLineEdit()
        self.kind = QComboBox()
        self.kind.addItems(["dicomweb", "dimse"])
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://pacs.example.org/dicom-web")
        self.ae_title, self.host = QLineEdit(), QLineEdit()
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.port.setValue(104)
        self.calling_ae = QLineEdit("LESIONVIEWER")
        self.auth = QComboBox()
        self.auth.addItems(list(AUTH_KINDS))
        self.username = QLineEdit()
        self.verify_tls = QCheckBox("Verify the HTTPS certificate")
        self.verify_tls.setChecked(True)
        form = QFormLayout(self)
        for label, widget in (("Name", self.name), ("Kind", self.kind), ("DICOMweb URL", self.url),
                              ("AE title", self.ae_title), ("Host", self.host), ("Port", self.port),
                              ("Our AE title", self.calling_ae), ("Authentication", self.auth),
                              ("User name", self.username), ("", self.verify_tls)):
            form.addRow(label, widget)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.kind.currentTextChanged.connect(self._kind_changed)
        self._kind_changed(self.kind.currentText())

    def _kind_changed(self, kind: str) -> None:
        web = kind == "dicomweb"
        self.url.setEnabled(web)
        self.verify_tls.setEnabled(web)
        self.auth.setEnabled(web)
        self.username.setEnabled(web)
        for widget in (self.ae_title, self.host, self.port, self.calling_ae):
            widget.setEnabled(not web)

    def to_server(self) -> PacsServer:
        """The server the form describes (ValueError with the reason when it is incomplete)."""
        name = self.name.text().strip()
        if not name:
            raise ValueError("give the server a name")
        if self.kind.currentText() == "dicomweb":
            return PacsServer(name, url=self.url.text().strip(), auth=self.auth.currentText(),
                              username=self.username.text().strip(), verify_tls=self.verify_tls.isChecked())
        return PacsServer(name, kind="dimse", ae_title=self.ae_title.text().strip(), host=self.host.text().strip(),
                          port=self.port.value(), calling_ae=self.calling_ae.text().strip() or "LESIONVIEWER")

    def accept(self) -> None:  # only a valid server closes the form
        try:
            self.to_server()
        except ValueError as error:
            messages.show_warning(self, "PACS server", str(error))
            return
        super().accept()
