"""The viewer's persisted settings: a typed, range-checked object saved as JSON in the user's folder.

Kept in ``user_data_dir()/viewer_settings.json`` (atomic write), so ``LESIONVIEWER_HOME`` redirects it
for tests. A missing or damaged file gives the defaults, never an error at start-up.

Command-line options (``--no-detect``, ``--no-risk``, ``--device``, ``--model``, ``--risk-model``)
apply to one run only: :meth:`ViewerSettings.for_this_run` sets them without ever saving them;
the file keeps what it held, unless the user changes that setting in the menus during the run
(then the user's choice is saved, as any other).

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
    #: faster detection: skip the mirrored second reading of each slice that a model's card may ask for
    skip_mirrored_pass: bool = False

    def __post_init__(self) -> None:
        #: name -> (the value set for this run only, the value the file keeps meanwhile)
        self._run_only: dict[str, tuple[object, object]] = {}
        self.validate()

    def for_this_run(self, **values: object) -> None:
        """Use ``values`` (field name = value) in this run only; :meth:`save` keeps writing the old ones.

        A field the user changes afterwards (a menu) is saved with the user's value as usual.
        """
        known = {f.name for f in fields(self)}
        for name, value in values.items():
            if name not in known:
                raise AttributeError(f"no setting named {name!r}")
            saved = self._run_only.get(name, (None, getattr(self, name)))[1]
            setattr(self, name, value)
            self.validate()
            self._run_only[name] = (getattr(self, name), saved)

    def to_saved_dict(self) -> dict:
        """What :meth:`save` writes: every field, run-only values replaced by the values they hide."""
        data = asdict(self)
        for name, (run_value, saved) in self._run_only.items():
            if data[name] == run_value:
                data[name] = saved
        return data

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
        self.skip_mirrored_pass = bool(self.skip_mirrored_pass)

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
        atomic_write_text(self.path(), json.dumps(self.to_saved_dict(), indent=2))

    def add_recent(self, path: str | Path) -> None:
        """Put ``path`` first in the recent-files list (no duplicates, at most ``MAX_RECENT``)."""
        text = str(Path(path))
        self.recent_files = [text] + [p for p in self.recent_files if p != text]
        self.recent_files = self.recent_files[:MAX_RECENT]
