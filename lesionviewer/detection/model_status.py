"""Whether a detector is only a demonstration: what its model card says about real lesions in training.

A model learns what a lesion is from annotated lesions. Its card's ``training_data.real_lesions``
counts the real, radiologist-annotated lesions it was trained on; below
:data:`MIN_REAL_LESIONS` (or when the card does not say) the viewer marks the model as a
demonstration, in the image area, whatever else the card claims. Synthetic lesions, however
realistic, do not count.

Example:
    >>> demonstration_reason({"training_data": {"real_lesions": 22919}}) is None
    True
    >>> demonstration_reason({"training_data": {"synthetic": "true: phantoms"}})
    'Demonstration model: not for diagnosis (trained without real annotated lesions)'
"""
from __future__ import annotations

from typing import Any

#: Fewer real annotated lesions than this in training make a model a demonstration (DeepLesion's
#: training split has 22,919).
MIN_REAL_LESIONS = 1000


def real_lesion_count(card: Any) -> int:
    """The number of real annotated lesions a card says the model was trained on (0 when it does not say).

    An ensemble's card that does not say counts as its member that saw the fewest.

    Example:
        >>> real_lesion_count({"training_data": {"real_lesions": "2"}}), real_lesion_count({})
        (2, 0)
        >>> real_lesion_count({"ensemble_members": [{"training_data": {"real_lesions": 3}}, {"training_data": {}}]})
        0
    """
    data = card.get("training_data") if isinstance(card, dict) else getattr(card, "training_data", None)
    members = card.get("ensemble_members") if isinstance(card, dict) else getattr(card, "ensemble_members", None)
    if isinstance(members, list) and members and not (isinstance(data, dict) and "real_lesions" in data):
        return min(real_lesion_count(member) for member in members)
    if not isinstance(data, dict):
        return 0
    try:
        count = int(float(data.get("real_lesions", 0) or 0))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(count, 0)


def demonstration_reason(card: Any) -> str | None:
    """The banner text for a model trained on too few real lesions, or None for a model that was not.

    Example:
        >>> demonstration_reason({"training_data": {"real_lesions": 2}})
        'Demonstration model: not for diagnosis (trained on 2 real annotated lesions)'
        >>> demonstration_reason(None)
        'Demonstration model: not for diagnosis (no model card)'
    """
    if card is None:
        return "Demonstration model: not for diagnosis (no model card)"
    count = real_lesion_count(card)
    if count >= MIN_REAL_LESIONS:
        return None
    if count == 0:
        return "Demonstration model: not for diagnosis (trained without real annotated lesions)"
    noun = "lesion" if count == 1 else "lesions"
    return f"Demonstration model: not for diagnosis (trained on {count} real annotated {noun})"
