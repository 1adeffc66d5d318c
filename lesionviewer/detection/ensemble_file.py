"""Model files that hold an output ensemble: two to four detectors' weights and cards in one safetensors file.

An ensemble is shipped, copied and opened as one thing, like a single detector: one ``.safetensors``
whose tensors are each member's state dict under ``members.0.``, ``members.1.`` (up to ``members.3.``), and one card
(:class:`~lesionviewer.detection.model_card.ModelCard`) that describes the ensemble (its name, what it
was trained on, what it measured) and carries the members' own cards, unchanged, in
``ensemble_members``. ``Detector.from_file`` opens such a file as an
:class:`~lesionviewer.detection.ensemble.EnsembleDetector`; ``load_model`` refuses it (it is not one
network). Weights are read by safetensors only, as for any model file.

Example:
    >>> import tempfile, pathlib
    >>> from lesionviewer.detection.factory import build_detector
    >>> from lesionviewer.detection.model_file import save_model
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> net = build_detector("mp3d_small", 3, width=8, blocks=(1, 1, 1, 1), fpn_channels=32)
    >>> for name in "ab":
    ...     _ = save_model(folder / f"{name}.safetensors", net, {"name": name, "slice_interval_mm": 2.5})
    >>> card = save_ensemble(folder / "ab.safetensors", [folder / "a.safetensors", folder / "b.safetensors"], "a+b")
    >>> [(c.name, m.training) for m, c in load_ensemble(folder / "ab.safetensors")]
    [('a', False), ('b', False)]
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lesionviewer.common.json_numbers import nan_to_null, plain_number
from lesionviewer.detection.model_card import ModelCard, ModelCardError, ensemble_size_problem
from lesionviewer.detection.model_file import (
    CARD_METADATA_KEY,
    ModelFileError,
    load_model,
    network_from_tensors,
    read_card,
    read_header,
    read_tensors,
)


def member_prefix(index: int) -> str:
    """The prefix of member ``index``'s tensor names in an ensemble file.

    Example:
        >>> member_prefix(1)
        'members.1.'
    """
    return f"members.{index}."


def save_ensemble(path: str | os.PathLike, members: Sequence[str | os.PathLike], name: str,
                  description: str = "", training_data: Mapping[str, Any] | None = None,
                  metrics: Mapping[str, Any] | None = None, input_size: int | None = None,
                  proposals: int | None = None, test_time_flip: bool | None = None) -> ModelCard:
    """Write the ensemble of the model files ``members`` (two to four) to ``path`` (atomically); returns its card.

    Each member is loaded as the viewer would load it (so a bad member file is refused here, naming
    it); its weights are stored unchanged and its card goes into ``ensemble_members``. The ensemble's
    card takes the first member's input settings (slices, interval, HU clip, sizes; what a reader
    that only shows one card needs) and the given name, description, training data and metrics.
    ``input_size`` (pixels) sets every member's ``input_min_size`` (the shorter side a slice is resized
    to; ``input_max_size`` grows to it where smaller), as ``export --input-size`` does for one file.
    ``proposals`` sets every member's test-time proposal counts (``rpn_pre_nms_top_n_test``, per
    pyramid level before the RPN's NMS, and ``rpn_post_nms_top_n_test``, after it) to that number;
    MP3D's own configuration reads with 1,000 of each, the small CPU model was trained and shipped with 300.
    ``test_time_flip`` sets every member's test-time flipping (``False``: each member reads a slice once,
    not also mirrored, halving the time; as the viewer's Detection > Faster does for a file's session).

    Example:
        >>> save_ensemble("e.safetensors", ["a.safetensors"], "e")
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: e.safetensors: an ensemble holds 2 to 4 detectors, not 1
    """
    path = Path(path)
    size_problem = ensemble_size_problem(len(members))
    if size_problem:
        raise ModelFileError(path, size_problem)
    if proposals is not None and int(proposals) < 1:
        raise ModelFileError(path, f"proposals must be at least 1, not {proposals}")
    loaded = [load_model(member, device="cpu") for member in members]  # refuses an ensemble as a member, naming it
    try:
        member_cards = [_read_as(card, input_size, proposals, test_time_flip).to_dict() for _, card in loaded]
    except ModelCardError as err:
        raise ModelFileError(path, f"cannot write the ensemble: {err}") from None
    first = member_cards[0]
    fields = {key: first[key] for key in ("architecture", "architecture_options", "num_slices", "slice_interval_mm",
                                          "hu_clip", "pixel_mean", "pixel_std", "input_min_size", "input_max_size",
                                          "size_divisible", "test_time_flip")}
    try:
        card = ModelCard(name=name, description=description, training_data=dict(training_data or {}),
                         metrics=dict(metrics or {}), ensemble_members=member_cards, **fields)
    except ModelCardError as err:
        raise ModelFileError(path, f"cannot write the ensemble: {err}") from None
    _write(path, [model for model, _ in loaded], card)
    return card


def _read_as(card: ModelCard, input_size: int | None, proposals: int | None,
             test_time_flip: bool | None = None) -> ModelCard:
    """``card`` with its input size, test-time proposal counts and flipping set where given (``None`` keeps the card's)."""
    if input_size is not None:
        card = replace(card, input_min_size=int(input_size), input_max_size=max(card.input_max_size, int(input_size)))
    if proposals is not None:
        options = {**card.architecture_options, "rpn_pre_nms_top_n_test": int(proposals),
                   "rpn_post_nms_top_n_test": int(proposals)}
        card = replace(card, architecture_options=options)
    if test_time_flip is not None:
        card = replace(card, test_time_flip=bool(test_time_flip))
    return card


def set_ensemble_metric(path: str | os.PathLike, key: str, value: Any) -> None:
    """Set ``metrics[key] = value`` in an ensemble file's card; the weights and members' cards stay as they are.

    Example:
        >>> set_ensemble_metric("no/such/ensemble.safetensors", "real_ct", {})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: no/such/ensemble.safetensors: no such file
    """
    members = load_ensemble(path)  # checks every member's weights before the file is rewritten
    card = read_card(path)
    _write(Path(path), [model for model, _ in members], replace(card, metrics={**card.metrics, key: value}))


def _write(path: Path, networks: Sequence[Any], card: ModelCard) -> None:
    import safetensors.torch

    from lesionviewer.util.atomic import atomic_write_bytes

    tensors = {member_prefix(i) + key: value.detach().to("cpu").contiguous().clone()
               for i, network in enumerate(networks) for key, value in network.state_dict().items()}
    try:
        plain = json.loads(json.dumps(card.to_dict(), default=plain_number))
        card_json = json.dumps(nan_to_null(plain), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ModelFileError(path, f"cannot write the ensemble: the card holds a value JSON cannot store ({err})") from None
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata={"format": "pt", CARD_METADATA_KEY: card_json}))


def load_ensemble(path: str | os.PathLike, device: Any = "cpu") -> list[tuple[Any, ModelCard]]:
    """``[(network, card), ...]`` of an ensemble file's members, each in eval mode on ``device``.

    Every tensor must belong to a member and every member's tensors must fit its card's
    architecture; a file holding one detector is refused (open it with ``load_model``).

    Example:
        >>> load_ensemble("no/such/ensemble.safetensors")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.detection.model_file.ModelFileError: no/such/ensemble.safetensors: no such file
    """
    path = Path(path)
    card = read_card(path)
    if not card.ensemble_members:
        raise ModelFileError(path, "this file holds one detector, not an ensemble")
    shapes = {name: tuple(info["shape"]) for name, info in read_header(path)[0].items()}
    prefixes = [member_prefix(i) for i in range(len(card.ensemble_members))]
    strays = sorted(name for name in shapes if not name.startswith(tuple(prefixes)))
    if strays:
        raise ModelFileError(path, f"{len(strays)} tensors belong to no ensemble member (e.g. {', '.join(strays[:3])})")
    everything: dict[str, Any] = {}

    def tensors_of(prefix: str):
        def read():
            if not everything:
                everything.update(read_tensors(path))
            return {k[len(prefix):]: v for k, v in everything.items() if k.startswith(prefix)}
        return read

    members = []
    for prefix, member_card in zip(prefixes, card.member_cards):
        own = {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)}
        try:
            model = network_from_tensors(path, member_card, own, tensors_of(prefix))
        except ModelFileError as err:
            raise ModelFileError(path, f"ensemble member {prefix[:-1]!r} ({member_card.name}): {err.reason}") from None
        members.append((model.to(device).eval(), member_card))
    return members
