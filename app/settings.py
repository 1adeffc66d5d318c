"""The viewer's persisted settings: a typed, range-checked object saved as JSON in the user's folder.

Kept in ``user_data_dir()/viewer_settings.json`` (atomic write), so ``LESIONVIEWER_HOME`` redirects it
for tests. A missing or damaged file gives the defaults, never an error at start-up.

Example::

    settings = ViewerSettings.load()
    settings.threshold = 0.7
    settings.save()
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from lesionviewer.paths import user_data_dir
from lesionviewer.util.atomic import atomic_write_text

SETTINGS_FILE_NAME = "viewer_settings.json"
MAX_RECENT = 10
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class ViewerSettings:
    """Everything the viewer remembers between runs, with defaults and range checks."""

    last_folder: str = ""
    recent_files: list[str] = field(default_factory=list)
    #: Extra or changed presets: name -> [width, level]; the library's presets are the base.
    window_presets: dict[str, list[float]] = field(default_factory=dict)
    threshold: float = 0.5
    device: str = "auto"
    model_path: str = ""
    show_patient_name: bool = False
    #: run the detector when a study opens (only the slices not yet done)
    auto_detect: bool = True
    #: the risk model file chosen by the user ("": the one shipped in resources/models)
    risk_model_path: str = ""
    #: compute the study's risk score (after detection) when a study without one opens
    auto_risk: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Clamp or reset values that are out of range (a hand-edited file must not break start-up)."""
        try:
            self.threshold = min(max(float(self.threshold), 0.0), 1.0)
        except (TypeError, ValueError):
            self.threshold = 0.5
        if self.device not in DEVICES:
            self.device = "auto"
        self.recent_files = [str(p) for p in self.recent_files if isinstance(p, str)][:MAX_RECENT]
        presets = {}
        for name, value in dict(self.window_presets).items():
            try:
                width, level = (float(v) for v in value)
            except (TypeError, ValueError):
                continue
            if width > 0:
                presets[str(name)] = [width, level]
        self.window_presets = presets
        self.show_patient_name = bool(self.show_patient_name)
        self.auto_detect = bool(self.auto_detect)
        self.last_folder = str(self.last_folder or "")
        self.model_path = str(self.model_path or "")
        self.risk_model_path = str(self.risk_model_path or "")
        self.auto_risk = bool(self.auto_risk)

    @staticmethod
    def path() -> Path:
        """Where the settings file lives."""
        return user_data_dir() / SETTINGS_FILE_NAME

    @classmethod
    def load(cls) -> "ViewerSettings":
        """The saved settings, or the defaults when there is no readable file."""
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, ValueError):
            return cls()

    def save(self) -> None:
        """Write the settings atomically (a crash never leaves half a file)."""
        self.validate()
        atomic_write_text(self.path(), json.dumps(asdict(self), indent=2))

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent-files list (no duplicates, at most ``MAX_RECENT``)."""
        text = str(Path(path))
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        self.recent_files = self.recent_files[:MAX_RECENT]
