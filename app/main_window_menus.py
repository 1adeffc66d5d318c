"""The main window's menus, tool bar and status bar.

A mixin of :class:`lesionviewer_app.main_window.MainWindow`: it builds the widgets and connects them
to the window's actions; it decides nothing.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QToolBar

from lesionviewer_app.settings import DEVICES

__all__ = ["MenuActions"]


class MenuActions:
    """File, View, Detection, Risk and Help menus, the main tool bar and the status bar's labels."""

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.hover_label = QLabel("")
        self.hover_label.setMinimumWidth(420)
        bar.addWidget(self.hover_label, 1)
        self.model_label = QLabel("")
        bar.addPermanentWidget(self.model_label)
        self.device_note = QLabel("")
        self.device_note.setStyleSheet("color: #e0a030; font-weight: bold")
        self.device_note.setVisible(False)
        bar.addPermanentWidget(self.device_note)
        self.progress_label = QLabel("")
        bar.addPermanentWidget(self.progress_label)
        self.progress_bar = QProgressBar()
        self.progress_bar.setMaximumWidth(180)
        self.progress_bar.setVisible(False)
        bar.addPermanentWidget(self.progress_bar)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setFocusPolicy(Qt.NoFocus)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_work)
        bar.addPermanentWidget(self.cancel_button)

    def _action(self, text: str, slot, shortcut: str | QKeySequence | None = None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_file_action = self._action("Open file...", self.open_file_dialog, QKeySequence.Open)
        self.open_folder_action = self._action("Open folder...", self.open_folder_dialog, "Ctrl+Shift+O")
        file_menu.addAction(self.open_file_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Recent")
        self._rebuild_recent_menu()
        from lesionviewer_app.pacs_menu import install_pacs_menus  # Open from PACS, Findings > Send to PACS
        install_pacs_menus(self, file_menu)
        file_menu.addSeparator()
        self.export_action = self._action("Export findings (CSV)...", self.export_dialog, "Ctrl+E")
        file_menu.addAction(self.export_action)
        self.export_sr_action = self._action("Export DICOM SR...", self.export_sr_dialog)
        file_menu.addAction(self.export_sr_action)
        self.include_patient_action = self._action("Include patient name and ID in exports", lambda: None,
                                                   checkable=True)
        file_menu.addAction(self.include_patient_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.Quit))

        view_menu = menu.addMenu("&View")
        self.patient_name_action = self._action("Show patient name", self._toggle_patient_name, checkable=True)
        self.patient_name_action.setChecked(self.settings.show_patient_name)
        view_menu.addAction(self.patient_name_action)
        view_menu.addAction(self._action("Reset view (r)", self.reset_view))
        view_menu.addAction(self._action("Save window as preset...", self.save_window_preset_dialog))
        self.view3d_action = self._action("3D view", self.show_3d_view, "Ctrl+3")
        view_menu.addAction(self.view3d_action)

        detect_menu = menu.addMenu("&Detection")
        self.detect_action = self._action("Run detection", lambda: self.run_detection(), "Ctrl+D")
        self.cancel_action = self._action("Cancel", self.cancel_work)
        self.load_model_action = self._action("Load model...", self.load_model_dialog)
        self.auto_detect_action = self._action("Detect when a study opens", self._toggle_auto_detect,
                                               checkable=True)
        self.auto_detect_action.setChecked(self.settings.auto_detect)
        self.fast_detect_action = self._action("Faster: read each slice once (skip the mirrored reading)",
                                               self._toggle_fast_detection, checkable=True)
        self.fast_detect_action.setChecked(self.settings.skip_mirrored_pass)
        detect_menu.addAction(self.detect_action)
        detect_menu.addAction(self.cancel_action)
        detect_menu.addAction(self.load_model_action)
        detect_menu.addAction(self.auto_detect_action)
        detect_menu.addAction(self.fast_detect_action)
        device_menu = detect_menu.addMenu("Device")
        group = QActionGroup(self)
        for device in DEVICES:
            action = self._action(device, lambda _=False, d=device: self.set_device(d), checkable=True)
            action.setChecked(device == self.settings.device)
            group.addAction(action)
            device_menu.addAction(action)

        risk_menu = menu.addMenu("&Risk")
        self.risk_action = self._action("Compute risk", lambda: self.run_risk(), "Ctrl+R")
        self.load_risk_model_action = self._action("Load risk model...", self.load_risk_model_dialog)
        self.risk_card_action = self._action("Risk model card", self.show_risk_card)
        self.auto_risk_action = self._action("Compute risk when a study opens", self._toggle_auto_risk,
                                             checkable=True)
        self.auto_risk_action.setChecked(self.settings.auto_risk)
        for action in (self.risk_action, self.load_risk_model_action, self.risk_card_action, self.auto_risk_action):
            risk_menu.addAction(action)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self._action("Keys and mouse", self._show_keys))

        toolbar = QToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addAction(self.open_file_action)
        toolbar.addAction(self.open_folder_action)
        toolbar.addSeparator()
        toolbar.addWidget(self.window_controls)
        toolbar.addSeparator()
        self.ruler_action = self._action("Ruler", lambda on: self.set_tool("ruler" if on else None), checkable=True)
        self.recist_action = self._action("RECIST", lambda on: self.set_tool("recist" if on else None), checkable=True)
        toolbar.addAction(self.ruler_action)
        toolbar.addAction(self.recist_action)
        toolbar.addSeparator()
        toolbar.addAction(self.detect_action)
        toolbar.addAction(self.view3d_action)
        toolbar.addAction(self.export_action)
        self.addToolBar(toolbar)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self.recent_menu.addAction(self._action(path, lambda _=False, p=path: self.open_path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))
