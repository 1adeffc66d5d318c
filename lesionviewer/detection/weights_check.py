"""Refuse weights that hold NaN or infinity: such a network finds nothing and says nothing.

A run trained with an absurd learning rate (``optim.lr = inf``) ends with every weight non-finite;
a model made from it would load, run and report no finding on any scan, silently. The trainer
stops at the first optimizer step that makes a weight non-finite, ``lesionviewer-train export``
refuses such a checkpoint, and ``Detector.from_file`` refuses such a model file, each with
:class:`NonFiniteWeightsError` naming the tensors.

Example:
    >>> import torch
    >>> check_finite_weights({"a.weight": torch.ones(2), "b.bias": torch.tensor([1.0, float("nan")])}, "run/best.pt")
    Traceback (most recent call last):
    ...
    lesionviewer.detection.weights_check.NonFiniteWeightsError: run/best.pt: 1 of 2 weight tensors hold NaN or infinity (b.bias); such a model would find nothing
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: How many tensor names a message lists before "and N more".
NAMES_SHOWN = 3


class NonFiniteWeightsError(ValueError):
    """Weights that hold NaN or infinity; ``names`` lists the tensors, ``reason`` says it without the place.

    Example:
        >>> err = NonFiniteWeightsError("m.safetensors", "1 tensor is NaN", ["x"])
        >>> str(err), err.names
        ('m.safetensors: 1 tensor is NaN', ['x'])
    """

    def __init__(self, where: str, reason: str, names: list[str]) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason
        self.names = list(names)


def non_finite_tensors(tensors: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity (integer tensors cannot).

    Example:
        >>> import torch
        >>> non_finite_tensors([("w", torch.tensor([1.0, float("inf")])), ("n", torch.tensor([3]))])
        ['w']
    """
    import torch

    items = tensors.items() if isinstance(tensors, Mapping) else tensors
    bad = []
    for name, tensor in items:
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.numel():
            if not bool(torch.isfinite(tensor).all()):
                bad.append(str(name))
    return bad


def check_finite_weights(tensors: Mapping[str, Any] | Iterable[tuple[str, Any]], where: str) -> None:
    """Raise :class:`NonFiniteWeightsError` (naming ``where`` and the tensors) unless every weight is finite.

    Example:
        >>> import torch
        >>> check_finite_weights({"w": torch.zeros(3)}, "model.safetensors")  # finite: nothing happens
        >>> check_finite_weights({"w": torch.zeros(3), "b": torch.tensor([0.0, float("inf")])}, "model.safetensors")
        Traceback (most recent call last):
        ...
        lesionviewer.detection.weights_check.NonFiniteWeightsError: model.safetensors: 1 of 2 weight tensors hold NaN or infinity (b); such a model would find nothing
    """
    items = list(tensors.items() if isinstance(tensors, Mapping) else tensors)
    bad = non_finite_tensors(items)
    if not bad:
        return
    shown = ", ".join(bad[:NAMES_SHOWN]) + (f" and {len(bad) - NAMES_SHOWN} more" if len(bad) > NAMES_SHOWN else "")
    raise NonFiniteWeightsError(
        where, f"{len(bad)} of {len(items)} weight tensors hold NaN or infinity ({shown}); such a model would find nothing",
        bad,
    )
