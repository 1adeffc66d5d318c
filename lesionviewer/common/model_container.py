"""LesionViewer's model files: safetensors (raw tensors, never a pickle) with a JSON model card in the metadata.

The container layer checks a file's header without torch and finds its card: the detector and the
risk model both store theirs under :data:`CARD_METADATA_KEY`; the card's ``task`` says which kind
of model a file holds. What a card must contain is each model's own business
(``lesionviewer.detection.model_card``, ``lesionviewer.risk.model_card``).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty.safetensors"
    >>> _ = p.write_bytes(b"")
    >>> read_card_dict(p) is None, card_task(p)
    (True, None)
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

#: The metadata key under which a model file keeps its card (JSON text).
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


class ModelContainerError(Exception):
    """A model file's container cannot be used; ``path`` names it and ``reason`` says why, in plain words.

    Example:
        >>> str(ModelContainerError("m.safetensors", "the file is empty"))
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
        lesionviewer.common.model_container.ModelContainerError: ...: the file is only 2 bytes long...
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            start = handle.read(9)
            looks_like_safetensors = start[8:9] == b"{"  # the JSON header follows the 8-byte length
            if not looks_like_safetensors and (start[:4] == b"PK\x03\x04" or start[:1] == b"\x80"):
                raise ModelContainerError(
                    path,
                    "this is a PyTorch checkpoint (a zip or pickle written by torch.save), not a "
                    "safetensors file; it is refused because loading a pickle can run arbitrary code. "
                    "Convert it with lesionviewer.detection.model_file.save_model in a trusted setting.",
                )
            if size < 8:
                raise ModelContainerError(path, f"the file is only {size} bytes long; it is not a safetensors model")
            if not looks_like_safetensors:
                raise ModelContainerError(path, "not a safetensors model (the file does not start with a safetensors header)")
            (header_len,) = struct.unpack("<Q", start[:8])
            if header_len > min(size - 8, _MAX_HEADER_BYTES):
                raise ModelContainerError(
                    path,
                    f"not a safetensors model, or truncated: the header claims {header_len} bytes "
                    f"but the file holds {size} bytes",
                )
            handle.seek(8)
            raw = handle.read(header_len)
    except FileNotFoundError:
        raise ModelContainerError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelContainerError(path, "this is a folder, not a model file") from None
    except PermissionError:
        raise ModelContainerError(path, "permission denied while reading the model file") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelContainerError(path, "not a safetensors model: its header is not valid JSON") from None
    except RecursionError:
        raise ModelContainerError(path, "not a safetensors model: its header is nested too deeply to be one") from None
    if not isinstance(header, dict):
        raise ModelContainerError(path, "not a safetensors model: its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise ModelContainerError(path, "damaged safetensors header: __metadata__ is not an object")
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
            raise ModelContainerError(path, f"damaged safetensors header: bad entry for tensor {name!r}") from None
        if end - begin != expected or begin < 0:
            raise ModelContainerError(path, f"damaged safetensors header: tensor {name!r} has a byte range "
                                       f"that does not match its shape and dtype")
        ranges.append((begin, end))
    ranges.sort()
    covered = 0
    for begin, end in ranges:
        if begin != covered:
            raise ModelContainerError(path, "damaged safetensors file: the tensors' byte ranges overlap or leave gaps")
        covered = end
    if covered > data_size:
        raise ModelContainerError(
            path,
            f"the file is truncated: its weights need {covered} bytes but only {data_size} are present "
            f"(an interrupted download or copy?)",
        )
    if covered < data_size:
        raise ModelContainerError(path, f"damaged safetensors file: {data_size - covered} unexpected bytes after the weights")
    return header, {str(k): str(v) for k, v in metadata.items()}


def read_card_dict(path: str | os.PathLike) -> dict[str, Any] | None:
    """The model card in ``path``'s metadata as a dict (read from the header, without torch), or None.

    None when the file is no readable model file or holds no JSON object; a card with a ``task`` is
    preferred, else the one under :data:`CARD_METADATA_KEY`, else the first JSON object found.

    Example:
        >>> read_card_dict("/nonexistent.safetensors") is None
        True
    """
    try:
        _, metadata = read_header(path)
    except (ModelContainerError, OSError, ValueError):  # not a readable model file: no card
        return None
    texts = [metadata.get(CARD_METADATA_KEY)] + [v for k, v in metadata.items() if k != CARD_METADATA_KEY]
    cards = []
    for text in texts:
        if not isinstance(text, str):
            continue
        try:
            card = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested absurdly deep: no card
            continue
        if isinstance(card, dict):
            cards.append(card)
    return next((c for c in cards if c.get("task")), cards[0] if cards else None)


def card_task(path: str | os.PathLike) -> str | None:
    """The ``task`` of ``path``'s model card ("risk" for a risk model); None when unreadable or absent.

    Example:
        >>> card_task("/nonexistent.safetensors") is None
        True
    """
    card = read_card_dict(path)
    return str(card["task"]) if card and card.get("task") else None
