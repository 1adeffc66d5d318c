"""Which shipped model file is the detector and which the risk model (the library decides).

``resources/models/`` holds both kinds as ``*.safetensors`` with a JSON model card in the file's
metadata; a risk model's card says ``"task": "risk"``. The card is read from the file's header
without torch (start-up must stay fast), and only the card decides: a risk model named like a
detector is a risk model, a detector named "risk_x" a detector. The rules live in
:mod:`lesionviewer.detection.default_model`, which ``lesionviewer-detect`` uses too, so the viewer
and the command line pick the same files.

Example:
    >>> default_risk_model_path().name, is_risk_model(default_detector_path())
    ('demo_risk_mp3d.safetensors', False)
"""
from __future__ import annotations

from lesionviewer.common.model_container import card_task, read_card_dict
from lesionviewer.detection.default_model import (
    default_detector_file,
    default_risk_model_file,
    is_risk_model,
    shipped_model_files,
)

__all__ = ["read_card", "card_task", "is_risk_model", "shipped_model_files", "default_detector_path",
           "default_risk_model_path"]

#: The model card in a file's safetensors metadata as a dict, or None (``lesionviewer.common``).
read_card = read_card_dict
#: The first shipped model file that is not a risk model, or None.
default_detector_path = default_detector_file
#: The first shipped risk model file, or None.
default_risk_model_path = default_risk_model_file
