"""Window/level controls: preset menu, numeric width and level fields, invert, reset.

Presets are the library's (``lesionviewer.imaging.presets``) plus any the user saved in the
settings; keys 1..6 select them and 0 the header window (bound by the main window through
:func:`preset_for_key`).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from lesionviewer.imaging.presets import HEADER_WINDOW_KEY, PRESET_KEYS, WINDOW_PRESETS
from lesionviewer_app.view_state import ViewState

HEADER_NAME = "Header window"


def preset_list(extra: dict[str, list[float]] | None = None) -> list[tuple[str, float, float]]:
    """``(name, width, level)`` of the library's presets, then the user's own (which may override)."""
    presets = {p.name: (p.width, p.level) for p in WINDOW_PRESETS}
    for name, (width, level) in (extra or {}).items():
        presets[name] = (float(width), float(level))
    return [(name, w, l) for name, (w, l) in presets.items()]


def preset_for_key(key_text: str, state: ViewState, extra: dict[str, list[float]] | None = None
                   ) -> tuple[str, float, float] | None:
    """``(name, width, level)`` bound to a number key, or None for a key without a preset."""
    if key_text == HEADER_WINDOW_KEY:
        header = state.header_window() or state.default_window
        return (HEADER_NAME, *header)
    preset = PRESET_KEYS.get(key_text)
    if preset is None:
        return None
    width, level = (extra or {}).get(preset.name, (preset.width, preset.level))
    return preset.name, float(width), float(level)


class WindowLevelControls(QWidget):
    """A tool-bar row that edits the shared :class:`ViewState` window and mirrors its changes."""

    def __init__(self, state: ViewState, extra_presets: dict[str, list[float]] | None = None, parent=None):
        super().__init__(parent)
        self.state = state
        self.extra_presets = extra_presets or {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.preset_box = QComboBox()
        self._fill_presets()
        self.preset_box.activated.connect(self._preset_chosen)
        self.width_field = QDoubleSpinBox(decimals=0, minimum=1, maximum=10000, singleStep=10)
        self.level_field = QDoubleSpinBox(decimals=0, minimum=-3000, maximum=5000, singleStep=10)
        self.width_field.setKeyboardTracking(False)
        self.level_field.setKeyboardTracking(False)
        self.width_field.valueChanged.connect(self._fields_edited)
        self.level_field.valueChanged.connect(self._fields_edited)
        self.invert_box = QCheckBox("Invert (i)")
        self.invert_box.toggled.connect(lambda on: state.set_window(state.width, state.level, on))
        reset = QPushButton("Reset (r)")
        reset.clicked.connect(state.reset_window)
        for widget in (QLabel("Window:"), self.preset_box, QLabel("W"), self.width_field, QLabel("L"),
                       self.level_field, self.invert_box, reset):
            widget.setFocusPolicy(Qt.ClickFocus if widget is not reset else Qt.NoFocus)
            layout.addWidget(widget)
        state.window_changed.connect(self._mirror)
        self._mirror(state.width, state.level, state.inverted)

    def _fill_presets(self) -> None:
        self.preset_box.clear()
        self.preset_box.addItem("Preset...")
        for name, width, level in preset_list(self.extra_presets):
            key = next((p.key for p in WINDOW_PRESETS if p.name == name), "")
            label = f"{key}  {name}  {width:g}/{level:g}" if key else f"{name}  {width:g}/{level:g}"
            self.preset_box.addItem(label, (width, level))
        self.preset_box.addItem(f"{HEADER_WINDOW_KEY}  {HEADER_NAME}", "header")

    def set_extra_presets(self, extra: dict[str, list[float]]) -> None:
        """Show the user's presets (after one was saved)."""
        self.extra_presets = extra
        self._fill_presets()

    def preset_labels(self) -> list[str]:
        """The entries of the preset menu, as shown."""
        return [self.preset_box.itemText(i) for i in range(self.preset_box.count())]

    def _preset_chosen(self, index: int) -> None:
        data = self.preset_box.itemData(index)
        if data == "header":
            self.state.set_window(*(self.state.header_window() or self.state.default_window))
        elif data:
            self.state.set_window(*data)
        self.preset_box.setCurrentIndex(0)

    def _fields_edited(self) -> None:
        self.state.set_window(self.width_field.value(), self.level_field.value())

    def _mirror(self, width: float, level: float, inverted: bool) -> None:
        for field, value in ((self.width_field, width), (self.level_field, level)):
            field.blockSignals(True)
            field.setValue(value)
            field.blockSignals(False)
        self.invert_box.blockSignals(True)
        self.invert_box.setChecked(inverted)
        self.invert_box.blockSignals(False)
