"""Detector model files: weights in safetensors with the JSON model card inside the file's metadata.

Why one file with the card in the safetensors metadata (and no sidecar ``.json``): a model is
copied, mailed and downloaded as one thing, so the card can never be lost or paired with the wrong
weights; and the safetensors header is plain JSON at the start of the file, so the card is read
without torch (:func:`read_card`) by this package or by any safetensors tool.

Safety: weights are only ever read by safetensors, which holds raw tensors and cannot run code. A
PyTorch pickle (even renamed ``.safetensors``), a truncated or tampered file, a card that is
incomplete or names an unknown architecture, and weights that do not fit the architecture each give
a :class:`ModelFileError` naming the file and the problem.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "not_a_model.safetensors"
    >>> _ = path.write_bytes(b"PK\\x03\\x04 a torch.save zip archive")
    >>> read_card(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lesionviewer.detection.model_file.ModelFileError: ...not_a_model.safetensors: this is a PyTorch checkpoint...
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lesionviewer.common.json_numbers import nan_to_null, plain_number
from lesionviewer.common.model_container import (  # noqa: F401 - CARD_METADATA_KEY, MAX_CARD_CHARS re-exported
    CARD_METADATA_KEY,
    MAX_CARD_CHARS,
    ModelContainerError,
)
from lesionviewer.common.model_container import read_header as read_container_header
from lesionviewer.detection.model_card import ModelCard, ModelCardError


#: The safetensors metadata key holding the card's JSON.
class ModelFileError(ModelContainerError):
    """A model file cannot be used; ``path`` names it and ``reason`` says why, in plain words.

    Example:
        >>> str(ModelFileError("m.safetensors", "the file is empty"))
        'm.safetensors: the file is empty'
    """



def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, str]]:
    """The tensor index ``{name: {dtype, shape, data_offsets}}`` and metadata of a safetensors file.

    Checks the layout without reading the weights: the header is JSON, every tensor's byte range is
    inside the file and matches its dtype and shape, and the ranges cover the data exactly (so a
    truncated or padded file is caught here). Pure Python, no torch.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "short.safetensors"
        >>> _ = p.write_bytes(b"\\x10\\x00")
        >>> read_header(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: ...: the file is only 2 bytes long...
    """
    try:
        return read_container_header(path)
    except ModelFileError:
        raise
    except ModelContainerError as error:  # the container layer's error, under this module's name
        raise ModelFileError(error.path, error.reason) from None


def read_card(path: str | os.PathLike) -> ModelCard:
    """The model card of a model file, without loading the weights or importing torch.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "missing.safetensors"
        >>> read_card(p)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: ...missing.safetensors: no such file
    """
    _, metadata = read_header(path)
    if CARD_METADATA_KEY not in metadata:
        raise ModelFileError(
            path,
            f"a safetensors file without a LesionViewer model card (no {CARD_METADATA_KEY!r} metadata); "
            "it is not a LesionViewer detector file",
        )
    text = metadata[CARD_METADATA_KEY]
    if len(text) > MAX_CARD_CHARS:
        raise ModelFileError(
            path, f"the model card is {len(text)} characters long; a card is at most {MAX_CARD_CHARS} (refused unread)"
        )
    try:
        card_data = json.loads(text)
    except json.JSONDecodeError:
        raise ModelFileError(path, "the model card is not valid JSON") from None
    except RecursionError:
        raise ModelFileError(path, "the model card is nested too deeply to be a model card") from None
    try:
        return ModelCard.from_dict(card_data)
    except ModelCardError as err:
        raise ModelFileError(path, str(err)) from None


def save_model(path: str | os.PathLike, model, card: ModelCard | dict[str, Any]) -> ModelCard:
    """Write ``model``'s weights and ``card`` to ``path`` (atomically: a crash leaves the old file).

    ``card`` is a :class:`ModelCard` or a dict of its fields (the required ones: ``name``,
    ``architecture``, ``num_slices``, ``slice_interval_mm``; the rest default to MP3D's settings,
    this library's version and the current time). A dict without ``architecture`` takes the
    architecture, slice count and options from the network's ``build_config`` (set by the factory). Before writing, the weights are checked against
    the network the card describes, so a file that is written can be loaded. Returns the card stored.

    Example:
        >>> import tempfile, pathlib
        >>> from lesionviewer.detection.factory import build_detector
        >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.safetensors"
        >>> save_model(path, net, {"name": "demo", "slice_interval_mm": 2.5}).architecture
        'mp3d_small'
    """
    import safetensors.torch

    from lesionviewer.util.atomic import atomic_write_bytes

    path = Path(path)
    if isinstance(card, dict):
        card = _fill_from_build_config(card, model)
        try:
            card = ModelCard(**card)
        except TypeError as err:  # unknown or missing field names
            raise ModelFileError(path, f"cannot write the model: bad model card ({err})") from None
        except ModelCardError as err:
            raise ModelFileError(path, f"cannot write the model: {err}") from None
    if card.ensemble_members:
        raise ModelFileError(path, "cannot write the model: its card describes an ensemble; "
                                   "write one with lesionviewer.detection.ensemble_file.save_ensemble")
    # clone(): state dicts may share storage between entries, which safetensors refuses to write.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in model.state_dict().items()}
    expected = _expected_shapes(path, card)
    _check_weights_fit(path, {k: tuple(v.shape) for k, v in tensors.items()}, expected, writing=True)
    try:
        plain = json.loads(json.dumps(card.to_dict(), default=plain_number))
        card_json = json.dumps(nan_to_null(plain), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ModelFileError(path, f"cannot write the model: the card holds a value JSON cannot store ({err})") from None
    metadata = {"format": "pt", CARD_METADATA_KEY: card_json}
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))
    return card


def load_model(path: str | os.PathLike, device="cpu"):
    """Rebuild the detector a model file describes and load its weights strictly; ``(model, card)``.

    The network comes from :func:`lesionviewer.detection.factory.build_detector` with the card's
    architecture, slice count and options; its transform takes the card's normalisation and resize
    rule. The model is returned in eval mode on ``device``.

    Example:
        >>> import tempfile, pathlib
        >>> from lesionviewer.detection.factory import build_detector
        >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.safetensors"
        >>> _ = save_model(path, net, {"name": "demo", "slice_interval_mm": 2.5, "input_min_size": 256})
        >>> model, card = load_model(path)
        >>> card.num_slices, card.slice_interval_mm, model.transform.min_size
        (3, 2.5, (256,))
    """
    path = Path(path)
    card = read_card(path)  # also validates the file layout before anything is allocated
    if card.ensemble_members:
        raise ModelFileError(
            path,
            f"this file holds an ensemble of {len(card.ensemble_members)} detectors, not one network; "
            "open it with Detector.from_file (or lesionviewer.detection.ensemble_file.load_ensemble)",
        )
    stored_shapes = {name: tuple(info["shape"]) for name, info in read_header(path)[0].items()}
    model = network_from_tensors(path, card, stored_shapes, lambda: read_tensors(path))
    return model.to(device).eval(), card


def read_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """Every tensor of a safetensors file, read whole by safetensors (raw tensors only, never a pickle).

    Read whole, not memory-mapped: a model must not keep the file open (on Windows that would stop
    the trainer from replacing it) or change if the file is rewritten.

    Example:
        >>> read_tensors("no/such.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: no/such.safetensors: cannot read the weights...
    """
    import safetensors
    from safetensors.torch import load as safetensors_from_bytes

    try:
        return safetensors_from_bytes(Path(path).read_bytes())
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(path, f"cannot read the weights ({err})") from None


def network_from_tensors(path: str | os.PathLike, card: ModelCard, stored_shapes: dict[str, tuple],
                         tensors: Any) -> Any:
    """The network ``card`` describes with ``tensors`` loaded strictly, its transform set from the card.

    ``stored_shapes`` (name -> shape) is checked against the architecture before ``tensors`` (a dict,
    or a function returning one, called only once the shapes fit) is read; errors name ``path``.

    Example:
        >>> from lesionviewer.detection.factory import build_detector
        >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
        >>> card = ModelCard("n", "mp3d_small", 3, 2.5, net.build_config["options"], input_min_size=64)
        >>> weights = net.state_dict()
        >>> rebuilt = network_from_tensors("n.safetensors", card, {k: tuple(v.shape) for k, v in weights.items()}, weights)
        >>> rebuilt.transform.min_size
        (64,)
    """
    import torch

    path = Path(path)
    # Built on the meta device (where its layers allow), the network is only shapes: no time is spent
    # on a random initialisation that the weights would overwrite; the loaded tensors become its parameters.
    model = _build_network_of_shapes(path, card)
    expected = model.state_dict()
    _check_weights_fit(path, stored_shapes, {k: tuple(v.shape) for k, v in expected.items()})
    if callable(tensors):
        tensors = tensors()
    # A file saved in half precision still gives the network the dtypes it was built with.
    tensors = {k: v.to(expected[k].dtype) for k, v in tensors.items()}
    try:
        model.load_state_dict(tensors, strict=True, assign=True)
        if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
            # A buffer outside the state dict cannot come from the file: build such a network for real.
            model = _build_network(path, card, torch.device("cpu"))
            model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise ModelFileError(path, f"the weights do not fit the architecture: {err}") from None
    apply_card_to_transform(model, card)
    return model


def apply_card_to_transform(model, card: ModelCard) -> None:
    """Make the network's own transform normalise, resize and pad exactly as the card says.

    Example:
        >>> from types import SimpleNamespace
        >>> net = SimpleNamespace(transform=SimpleNamespace())
        >>> apply_card_to_transform(net, ModelCard("m", "mp3d63", 3, 2.5, input_min_size=256))
        >>> net.transform.min_size, net.transform.image_mean
        ((256,), [123.675, 123.675, 123.675])
    """
    transform = getattr(model, "transform", None)
    if transform is None:
        return
    transform.min_size = (card.input_min_size,)
    transform.max_size = card.input_max_size
    transform.size_divisible = card.size_divisible
    transform.image_mean = [card.pixel_mean] * card.num_slices
    transform.image_std = [card.pixel_std] * card.num_slices


# Older names of the shared JSON number helpers.
_plain_number = plain_number
_finite_or_none = nan_to_null


def _fill_from_build_config(card: dict[str, Any], model) -> dict[str, Any]:
    # The factory records how it built a network; a card that leaves the architecture out takes it
    # from there, so a trainer cannot describe its network wrongly by hand.
    config = getattr(model, "build_config", None)
    if not isinstance(config, dict) or "architecture" in card:
        return card
    options = dict(config.get("options", {}))
    if config.get("num_classes", 2) != 2:
        options["num_classes"] = config["num_classes"]
    filled = {"architecture": config["arch"], "num_slices": config["num_slices"], "architecture_options": options}
    filled.update(card)
    return filled


def _factory():
    from lesionviewer.detection import factory

    return factory


def _build_network(path: Path, card: ModelCard, device):
    factory = _factory()
    known = list(getattr(factory, "ARCHITECTURES", ()))
    if card.architecture not in known:
        raise ModelFileError(
            path,
            f"the model card names an unknown architecture {card.architecture!r} "
            f"(this LesionViewer builds: {', '.join(known)})",
        )
    try:
        with device:
            return factory.build_detector(card.architecture, card.num_slices, **card.architecture_options)
    except (TypeError, ValueError, KeyError) as err:
        raise ModelFileError(
            path,
            f"the architecture {card.architecture!r} rejects the card's settings "
            f"(num_slices={card.num_slices}, options={card.architecture_options}): {err}",
        ) from None


def _build_network_of_shapes(path: Path, card: ModelCard):
    """The card's network on the meta device (shapes only, no memory), or on the CPU where a layer cannot be built on meta."""
    import torch

    try:
        return _build_network(path, card, torch.device("meta"))
    except ModelFileError:
        raise
    except Exception:  # a layer whose construction cannot run on meta: build it for real
        return _build_network(path, card, torch.device("cpu"))


def _expected_shapes(path: Path, card: ModelCard) -> dict[str, tuple[int, ...]]:
    # On the meta device a network is only shapes: checking a 45M-parameter model costs no memory.
    network = _build_network_of_shapes(path, card)
    return {k: tuple(v.shape) for k, v in network.state_dict().items()}


def _check_weights_fit(path: Path, stored: dict[str, tuple], expected: dict[str, tuple], writing: bool = False) -> None:
    missing = sorted(expected.keys() - stored.keys())
    unexpected = sorted(stored.keys() - expected.keys())
    wrong = sorted(k for k in expected.keys() & stored.keys() if tuple(expected[k]) != tuple(stored[k]))
    if not (missing or unexpected or wrong):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensors (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        parts.append(
            f"{len(wrong)} tensors of the wrong shape (e.g. "
            + ", ".join(f"{k}: {list(stored[k])} instead of {list(expected[k])}" for k in wrong[:3])
            + ")"
        )
    what = "the model does not match its card" if writing else "the weights do not fit the architecture in the card"
    raise ModelFileError(path, f"{what}: " + "; ".join(parts))
