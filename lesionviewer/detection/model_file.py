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
import math
import os
import struct
from pathlib import Path
from typing import Any

from lesionviewer.detection.model_card import ModelCard, ModelCardError

#: The safetensors metadata key holding the card's JSON.
CARD_METADATA_KEY = "lesionviewer.model_card"

# A card plus a tensor index for a few thousand tensors is far below this; a larger claimed header
# means the file is not safetensors (or is damaged), and reading it would waste memory.
_MAX_HEADER_BYTES = 64 * 1024 * 1024
#: The longest model card JSON read (the demo model's is 3 KB; long descriptions and FROC curves fit).
MAX_CARD_CHARS = 1024 * 1024
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}


class ModelFileError(Exception):
    """A model file cannot be used; ``path`` names it and ``reason`` says why, in plain words.

    Example:
        >>> str(ModelFileError("m.safetensors", "the file is empty"))
        'm.safetensors: the file is empty'
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            start = handle.read(9)
            looks_like_safetensors = start[8:9] == b"{"  # the JSON header follows the 8-byte length
            if not looks_like_safetensors and (start[:4] == b"PK\x03\x04" or start[:1] == b"\x80"):
                raise ModelFileError(
                    path,
                    "this is a PyTorch checkpoint (a zip or pickle written by torch.save), not a "
                    "safetensors file; it is refused because loading a pickle can run arbitrary code. "
                    "Convert it with lesionviewer.detection.model_file.save_model in a trusted setting.",
                )
            if size < 8:
                raise ModelFileError(path, f"the file is only {size} bytes long; it is not a safetensors model")
            if not looks_like_safetensors:
                raise ModelFileError(path, "not a safetensors model (the file does not start with a safetensors header)")
            (header_len,) = struct.unpack("<Q", start[:8])
            if header_len > min(size - 8, _MAX_HEADER_BYTES):
                raise ModelFileError(
                    path,
                    f"not a safetensors model, or truncated: the header claims {header_len} bytes "
                    f"but the file holds {size} bytes",
                )
            handle.seek(8)
            raw = handle.read(header_len)
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFileError(path, "this is a folder, not a model file") from None
    except PermissionError:
        raise ModelFileError(path, "permission denied while reading the model file") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(path, "not a safetensors model: its header is not valid JSON") from None
    except RecursionError:
        raise ModelFileError(path, "not a safetensors model: its header is nested too deeply to be one") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "not a safetensors model: its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ModelFileError(path, "damaged safetensors header: __metadata__ is not an object")
    data_size = size - 8 - header_len
    ranges = []
    for name, info in header.items():
        try:
            begin, end = (int(v) for v in info["data_offsets"])
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
            expected = count * _DTYPE_BYTES[info["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(path, f"damaged safetensors header: bad entry for tensor {name!r}") from None
        if end - begin != expected or begin < 0:
            raise ModelFileError(path, f"damaged safetensors header: tensor {name!r} has a byte range "
                                       f"that does not match its shape and dtype")
        ranges.append((begin, end))
    ranges.sort()
    covered = 0
    for begin, end in ranges:
        if begin != covered:
            raise ModelFileError(path, "damaged safetensors file: the tensors' byte ranges overlap or leave gaps")
        covered = end
    if covered > data_size:
        raise ModelFileError(
            path,
            f"the file is truncated: its weights need {covered} bytes but only {data_size} are present "
            f"(an interrupted download or copy?)",
        )
    if covered < data_size:
        raise ModelFileError(path, f"damaged safetensors file: {data_size - covered} unexpected bytes after the weights")
    return header, {str(k): str(v) for k, v in metadata.items()}


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
    # clone(): state dicts may share storage between entries, which safetensors refuses to write.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in model.state_dict().items()}
    expected = _expected_shapes(path, card)
    _check_weights_fit(path, {k: tuple(v.shape) for k, v in tensors.items()}, expected, writing=True)
    try:
        plain = json.loads(json.dumps(card.to_dict(), default=_plain_number))
        card_json = json.dumps(_finite_or_none(plain), sort_keys=True, allow_nan=False)
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
    import safetensors
    from safetensors.torch import load as safetensors_from_bytes  # raw tensors only, never a pickle
    import torch

    path = Path(path)
    card = read_card(path)  # also validates the file layout before anything is allocated
    # Built on the meta device, the network is only shapes: no time is spent on a random
    # initialisation that the weights would overwrite; the loaded tensors become its parameters.
    model = _build_network(path, card, torch.device("meta"))
    expected = model.state_dict()
    stored_shapes = {name: tuple(info["shape"]) for name, info in read_header(path)[0].items()}
    _check_weights_fit(path, stored_shapes, {k: tuple(v.shape) for k, v in expected.items()})
    try:
        # Read whole, not memory-mapped: the model must not keep the file open (on Windows that
        # would stop the trainer from replacing it) or change if the file is rewritten.
        tensors = safetensors_from_bytes(path.read_bytes())
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(path, f"cannot read the weights ({err})") from None
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
    return model.to(device).eval(), card


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


def _plain_number(value: Any) -> Any:
    # Metrics often arrive as numpy or torch scalars (or small arrays); store them as plain numbers.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _finite_or_none(value: Any) -> Any:
    # A metric that could not be computed (NaN, e.g. no lesion in a split) is stored as null:
    # standard JSON has no NaN, and other readers of the header would reject the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


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


def _expected_shapes(path: Path, card: ModelCard) -> dict[str, tuple[int, ...]]:
    import torch

    # On the meta device a network is only shapes: checking a 45M-parameter model costs no memory.
    try:
        network = _build_network(path, card, torch.device("meta"))
    except ModelFileError:
        raise
    except Exception:  # a layer whose construction cannot run on meta: build it for real
        network = _build_network(path, card, torch.device("cpu"))
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
