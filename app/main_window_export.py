"""The main window's exports: the review as CSV and as a DICOM SR, through the library.

A mixin of :class:`lesionviewer_app.main_window.MainWindow`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from lesionviewer_app import messages

__all__ = ["ExportActions"]


class ExportActions:
    """File > Export findings (CSV)... and Export DICOM SR..."""

    def export_dialog(self) -> bool:
        """Ask for a file name and export; True when exported."""
        if self.bridge.session is None:
            return False
        start = str(Path(self.settings.last_folder or ".") / f"{self.bridge.session.key}_findings.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export findings", start, "CSV (*.csv)")
        return bool(path) and self.export_csv(path)

    def export_csv(self, path: str | Path) -> bool:
        """Write the review's findings to ``path`` as CSV through the library; True on success."""
        session = self.bridge.session
        if session is None:
            return False
        try:
            from lesionviewer.review import export_csv

            export_csv(session, path, include_patient=self.include_patient_action.isChecked(),
                       volume=self.state.volume)
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            messages.show_error(self, "Export failed", error)
            return False
        self.statusBar().showMessage(f"Exported to {path}", 5000)
        return True

    def export_sr_dialog(self) -> bool:
        """Ask for a file name and write a DICOM SR of the accepted findings; True when written."""
        if self.bridge.session is None:
            return False
        start = str(Path(self.settings.last_folder or ".") / f"{self.bridge.session.key}_findings_sr.dcm")
        path, _ = QFileDialog.getSaveFileName(self, "Export DICOM SR", start, "DICOM (*.dcm)")
        return bool(path) and self.export_sr(path)

    def export_sr(self, path: str | Path) -> bool:
        """Write the accepted findings and measurements as a DICOM SR (TID 1500) through the library.

        A study not loaded from DICOM, images without UIDs or nothing accepted yet: a message saying
        so, and False.
        """
        session = self.bridge.session
        if session is None or self.state.volume is None:
            return False
        try:
            from lesionviewer.review.sr_export import export_sr

            groups = export_sr(session, self.state.volume, path)
        except (ValueError, RuntimeError) as error:  # the library's plain reasons
            messages.show_warning(self, "Cannot export a DICOM SR", str(error))
            return False
        except Exception as error:  # noqa: BLE001 - shown, never a traceback
            messages.show_error(self, "DICOM SR export failed", error)
            return False
        self.statusBar().showMessage(f"DICOM SR with {groups} item(s) written to {path}", 5000)
        return True
