"""Plain-language messages for the user: errors become a message box, never a traceback.

All message boxes of the viewer go through here, so tests patch one place
(``lesionviewer_app.messages.QMessageBox``) and nothing ever blocks a test run.
"""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from lesionviewer.io import LoadError
from lesionviewer_app.worker import JobFailure


def describe_error(error: BaseException) -> str:
    """One or two sentences for the user; a LoadError already names the file and the problem."""
    if isinstance(error, LoadError):
        return str(error)
    if isinstance(error, MemoryError):
        return "There is not enough memory for this study."
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return f"{error.strerror or 'Cannot open the file'}: {error.filename}"
    return f"Unexpected error ({type(error).__name__}): {error}"


def show_error(parent: QWidget | None, title: str, error: BaseException | JobFailure) -> None:
    """A warning box with the plain message; the traceback, if any, only under 'Show Details'."""
    details = ""
    if isinstance(error, JobFailure):
        details = "" if isinstance(error.error, LoadError) else error.details
        error = error.error
    box = QMessageBox(QMessageBox.Warning, title, describe_error(error), QMessageBox.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def show_warning(parent: QWidget | None, title: str, text: str) -> None:
    """A warning box with a plain sentence the library already wrote for the user (no details)."""
    QMessageBox(QMessageBox.Warning, title, text, QMessageBox.Ok, parent).exec()


def show_info(parent: QWidget | None, title: str, text: str) -> None:
    """An information box (loader warnings, model card, about)."""
    QMessageBox.information(parent, title, text)


def ask_yes_no_cancel(parent: QWidget | None, title: str, text: str) -> str:
    """``"yes"``, ``"no"`` or ``"cancel"``."""
    answer = QMessageBox.question(parent, title, text,
                                  QMessageBox.Yes | QMessageBox.No | QMessageBox.Cancel, QMessageBox.Yes)
    return {QMessageBox.Yes: "yes", QMessageBox.No: "no"}.get(answer, "cancel")
