"""What the viewer calls: a risk model file loaded once, scoring whole CT volumes.

``RiskModel.from_file(path)`` reads the card and the weights (errors name the file: missing,
not safetensors, a detector file, a damaged file); ``predict(volume)`` prepares the volume exactly
as the training crops were (the card's voxel size, lung-centred crop and intensity window) and
returns a :class:`RiskResult`. ``progress(fraction, message)`` is told each stage and
``cancel()`` is asked between them; when it answers True, :class:`lesionviewer.io.LoadCancelled`
is raised. :func:`is_risk_model_file` tells risk files from detector files by the card alone.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from lesionviewer.io import Volume
    >>> from lesionviewer.risk.model_file import save_risk_model
    >>> from lesionviewer.risk.networks import build_risk_network
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "risk.safetensors"
    >>> _ = save_risk_model(path, build_risk_network("i3d", {"width": 0.125}),
    ...                     {"name": "tiny", "preprocessing": {"voxel_mm": 8.0, "crop_shape": [16, 16, 16]}})
    >>> model = RiskModel.from_file(path)
    >>> result = model.predict(Volume(np.full((10, 32, 32), -1000, np.int16), (5.0, 4.0, 4.0)))
    >>> model.name, 0.0 <= result.probability <= 1.0, result.lung_found, result.note[:13]
    ('tiny', True, False, 'no lungs were')
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from lesionviewer.io.errors import LoadCancelled
from lesionviewer.risk.intensity import normalise_crop
from lesionviewer.risk.model_file import load_risk_network, read_risk_card
from lesionviewer.risk.preprocess import PreprocessSettings, preprocess_volume

#: Less lung than this (ml) in the crop: the scan probably does not cover the chest.
MIN_LUNG_ML = 500.0


@dataclass(frozen=True)
class RiskResult:
    """One volume's score: probability (0..1), the logit, the model's name, whether lungs were found,
    and a note saying why the score is unreliable ("" when nothing is known against it).

    Example:
        >>> RiskResult(0.25, -1.0986, "demo", True, "").to_dict()["probability"]
        0.25
    """

    probability: float
    logit: float
    model_name: str
    lung_found: bool
    note: str = ""
    #: False when too little lung was found (none, or under :data:`MIN_LUNG_ML`): the viewer then
    #: shows no number, only the note.
    enough_lung: bool = True

    def __post_init__(self) -> None:
        if not self.lung_found:
            object.__setattr__(self, "enough_lung", False)

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict.

        Example:
            >>> sorted(RiskResult(0.5, 0.0, "m", False, "no lungs").to_dict())
            ['enough_lung', 'logit', 'lung_found', 'model_name', 'note', 'probability']
        """
        return asdict(self)


def is_risk_model_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is a readable safetensors file with a valid risk card (the weights are not read).

    Example:
        >>> is_risk_model_file("/nonexistent.safetensors")
        False
    """
    try:
        read_risk_card(path)
    except (OSError, ValueError):
        return False
    return True


class RiskModel:
    """A loaded risk model: its card, its network, and :meth:`predict`.

    Example:
        >>> RiskModel.from_file("/nonexistent/risk.safetensors")
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/risk.safetensors: no such risk model file
    """

    def __init__(self, network: torch.nn.Module, card: dict[str, Any], device: str | torch.device = "cpu",
                 path: str | os.PathLike | None = None) -> None:
        self.network = network.eval()
        self.card = card
        self.device = torch.device(device)
        self.path = Path(path) if path is not None else None
        self.settings = PreprocessSettings.from_dict(card["preprocessing"])

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "RiskModel":
        """Load a risk model file; ``FileNotFoundError`` when missing, otherwise
        :class:`~lesionviewer.risk.model_file.RiskModelFileError` (a ``ValueError``) naming the file and the problem.

        Example:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "bad.safetensors"; _ = p.write_bytes(b"\\x80\\x04junk")
            >>> RiskModel.from_file(p)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            lesionviewer.risk.model_file.RiskModelFileError: ...bad.safetensors: this is a PyTorch checkpoint...
        """
        network, card = load_risk_network(path, device)
        return cls(network, card, device, path)

    @property
    def name(self) -> str:
        """The model's name (from its card).

        Example:
            >>> card = {"name": "demo_risk", "preprocessing": {"voxel_mm": 8.0, "crop_shape": [16, 16, 16]}}
            >>> RiskModel(torch.nn.Identity(), card).name
            'demo_risk'
        """
        return str(self.card["name"])

    def predict(self, volume, progress: Callable[[float, str], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> RiskResult:
        """Score one CT volume (a :class:`lesionviewer.io.Volume`); see the module notes.

        Example:
            >>> import numpy as np
            >>> from lesionviewer.io import Volume
            >>> class Fixed(torch.nn.Module):  # logit ln 3 whatever the crop: probability 3 / (3 + 1)
            ...     def forward(self, x):
            ...         return torch.full((x.shape[0],), math.log(3.0))
            >>> model = RiskModel(Fixed(), {"name": "fixed", "intensity": {"hu_window": [-1000, 400], "mean": 0.5, "std": 0.5},
            ...                             "preprocessing": {"voxel_mm": 8.0, "crop_shape": [16, 16, 16]}})
            >>> air = Volume(np.full((10, 32, 32), -1000, np.int16), (5.0, 4.0, 4.0))
            >>> stages = []
            >>> result = model.predict(air, progress=lambda fraction, message: stages.append(fraction))
            >>> round(result.probability, 6), result.model_name, result.lung_found, result.enough_lung, stages[-1]
            (0.75, 'fixed', False, False, 1.0)
            >>> model.predict(air, cancel=lambda: True)
            Traceback (most recent call last):
            ...
            lesionviewer.io.errors.LoadCancelled: volume: risk scoring was cancelled
        """
        source = str(volume.meta.get("source") or volume.meta.get("path") or "volume")

        def step(fraction: float, message: str) -> None:
            if cancel is not None and cancel():
                raise LoadCancelled(source, "risk scoring was cancelled")
            if progress is not None:
                progress(float(fraction), message)

        crop, meta = preprocess_volume(volume, self.settings, source=source,
                                       step=lambda f, m: step(0.7 * f, m))
        inten = self.card["intensity"]
        x = normalise_crop(crop, tuple(inten["hu_window"]), inten["mean"], inten["std"])
        step(0.7, f"running {self.name}")
        with torch.no_grad():
            logit = float(self.network(torch.from_numpy(x)[None, None].to(self.device)).float().item())
        step(1.0, "done")
        probability = 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))
        lung_found = bool(meta["lungs_found"])
        note = ""
        if not lung_found:
            note = "no lungs were found in this volume: the crop is centred on the volume, the score is unreliable"
        elif meta["lung_volume_ml"] < MIN_LUNG_ML:
            note = (f"only {meta['lung_volume_ml']:.0f} ml of lung were found: the scan may not cover the chest, "
                    f"the score is unreliable")
        enough_lung = lung_found and meta["lung_volume_ml"] >= MIN_LUNG_ML
        return RiskResult(probability, logit, self.name, lung_found, note, enough_lung)
