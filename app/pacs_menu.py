"""Puts the PACS entries into the main window's menus: File > Open from PACS... and
Findings > Send to PACS..., so that main_window.py needs a single call."""
from __future__ import annotations

from pathlib import Path

from lesionviewer_app.pacs_dialog import PacsDialog
from lesionviewer_app.pacs_send import send_to_pacs


def open_from_pacs(window, **dialog_options) -> PacsDialog:
    """Show the Open from PACS dialog (non-modal); a retrieved series opens in ``window``."""
    dialog = PacsDialog(window, **dialog_options)

    def ready(folder: Path, server) -> None:
        window.pacs_source = server  # Send to PACS goes back to the same server
        window.open_path(folder)

    dialog.series_ready.connect(ready)
    dialog.show()
    window.pacs_dialog = dialog
    return dialog


def install_pacs_menus(window, file_menu) -> None:
    """Add File > Open from PACS... (after the open actions) and a Findings menu with Send to PACS...."""
    window.pacs_source = None
    window.open_pacs_action = window._action("Open from PACS...", lambda: open_from_pacs(window), "Ctrl+Shift+P")
    actions = file_menu.actions()
    file_menu.insertAction(actions[2] if len(actions) > 2 else None, window.open_pacs_action)
    findings_menu = window.menuBar().addMenu("F&indings")
    window.send_pacs_action = window._action("Send to PACS...", lambda: send_to_pacs(window))
    findings_menu.addAction(window.send_pacs_action)
