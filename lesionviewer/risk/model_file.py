"""Risk model files: safetensors weights with the risk card (JSON) in the file's metadata.

The same container as the detector's files (:mod:`lesionviewer.detection.model_file`, whose header
checks are reused: a pickle, a truncated or tampered file is refused before anything is loaded)
with the card under :data:`~lesionviewer.risk.model_card.RISK_CARD_KEY`. A detector file given
where a risk model is expected is named as such.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.risk.networks import build_risk_network
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "risk.safetensors"
    >>> card = save_risk_model(path, build_risk_network("i3d", {"width": 0.125}),
    ...                        {"name": "tiny", "preprocessing": {"voxel_mm": 5.0, "crop_shape": [16, 16, 16]}})
    >>> read_risk_card(path)["backbone_options"], type(load_risk_network(path)[0]).__name__
    ({'width': 0.125}, 'InceptionI3D')
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lesionviewer.common.json_numbers import nan_to_null, plain_number
from lesionviewer.common.model_container import CARD_METADATA_KEY
from lesionviewer.detection.model_file import ModelFileError, read_header
from lesionviewer.risk.model_card import RISK_CARD_KEY, RiskCardError, check_risk_card, risk_card

__all__ = ["RiskModelFileError", "read_risk_card", "save_risk_model", "load_risk_network"]


class RiskModelFileError(ModelFileError, ValueError):
    """A risk model file that cannot be used: ``path`` names it, ``reason`` says why (a ``ValueError``).

    Example:
        >>> err = RiskModelFileError("m.safetensors", "the file is empty")
        >>> str(err), isinstance(err, ValueError), isinstance(err, ModelFileError)
        ('m.safetensors: the file is empty', True, True)
    """


def read_risk_card(path: str | os.PathLike) -> dict[str, Any]:
    """The checked card of a risk model file (weights are not read).

    A missing file is a ``FileNotFoundError``; anything else wrong a :class:`RiskModelFileError`;
    both name the file.

    Example:
        >>> read_risk_card("/nonexistent/risk.safetensors")
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent/risk.safetensors: no such risk model file
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"{os.fspath(path)}: no such risk model file")
    try:
        _, metadata = read_header(path)
    except ModelFileError as err:
        raise RiskModelFileError(path, err.reason) from None
    if RISK_CARD_KEY not in metadata:
        if CARD_METADATA_KEY in metadata:
            raise RiskModelFileError(path, "this is a LesionViewer lesion detector file, not a risk model")
        raise RiskModelFileError(path, f"a safetensors file without a LesionViewer risk model card "
                                   f"(no {RISK_CARD_KEY!r} metadata); it is not a risk model file")
    try:
        card = json.loads(metadata[RISK_CARD_KEY])
    except json.JSONDecodeError:
        raise RiskModelFileError(path, "the risk model card is not valid JSON") from None
    except RecursionError:  # a hostile or damaged card: one clear error, never a RecursionError
        raise RiskModelFileError(path, "the risk model card is nested too deeply to be a model card") from None
    try:
        return check_risk_card(card)
    except RiskCardError as err:
        raise RiskModelFileError(path, str(err)) from None


def save_risk_model(path: str | os.PathLike, net, card: dict[str, Any]) -> dict[str, Any]:
    """Write ``net``'s weights and ``card`` atomically; returns the stored card.

    ``backbone`` and ``backbone_options`` come from the network (set by
    :func:`~lesionviewer.risk.networks.build_risk_network`) unless the card gives them; the file is
    checked to rebuild the same network before it is written.

    Example:
        >>> save_risk_model("/tmp/x.safetensors", object(), {"name": "x"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.risk.model_file.RiskModelFileError: /tmp/x.safetensors: cannot write the model: the network ...
    """
    import safetensors.torch

    from lesionviewer.util.atomic import atomic_write_bytes

    path = Path(path)
    if not hasattr(net, "state_dict") or not hasattr(net, "backbone"):
        raise RiskModelFileError(path, "cannot write the model: the network was not built by build_risk_network "
                                   "(it has no backbone name)")
    fields = {"backbone": net.backbone, "backbone_options": dict(getattr(net, "backbone_options", {})), **card}
    try:
        card = risk_card(fields)
    except RiskCardError as err:
        raise RiskModelFileError(path, f"cannot write the model: {err}") from None
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    expected = _build(path, card).state_dict()
    if {k: tuple(v.shape) for k, v in expected.items()} != {k: tuple(v.shape) for k, v in tensors.items()}:
        raise RiskModelFileError(path, "cannot write the model: the weights do not match the card's backbone and options")
    try:
        plain = json.loads(json.dumps(card, default=plain_number))
        card_json = json.dumps(nan_to_null(plain), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise RiskModelFileError(path, f"cannot write the model: the card holds a value JSON cannot store ({err})") from None
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata={"format": "pt", RISK_CARD_KEY: card_json}))
    return json.loads(card_json)


def load_risk_network(path: str | os.PathLike, device="cpu"):
    """Rebuild the network a risk file describes, load its weights strictly; ``(network in eval mode, card)``.

    Example:
        >>> load_risk_network("/nonexistent.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: /nonexistent.safetensors: no such risk model file
    """
    import safetensors
    from safetensors.torch import load as tensors_from_bytes  # raw tensors only, never a pickle

    path = Path(path)
    card = read_risk_card(path)
    net = _build(path, card)
    try:
        tensors = tensors_from_bytes(path.read_bytes())
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise RiskModelFileError(path, f"cannot read the weights ({err})") from None
    expected = net.state_dict()
    try:
        net.load_state_dict({k: v.to(expected[k].dtype) if k in expected else v for k, v in tensors.items()}, strict=True)
    except RuntimeError as err:
        raise RiskModelFileError(path, f"the weights do not fit the card's backbone: {err}") from None
    return net.to(device).eval(), card


def _build(path: Path, card: dict[str, Any]):
    from lesionviewer.risk.networks import build_risk_network

    try:
        return build_risk_network(card["backbone"], card["backbone_options"])
    except ValueError as err:
        raise RiskModelFileError(path, str(err)) from None
