"""The model card: what a detector file is, how its inputs must be prepared, and how it was made.

The card travels inside the safetensors file (see :mod:`lesionviewer.detection.model_file`) as JSON.
It is the single source of the preprocessing: the viewer, the batch CLI and the trainer read the
context (slices and their millimetre interval), the HU clip, the normalisation and the resize rule
from here, so they can never disagree.

This module is plain Python (no torch), so a card can be read and shown without loading a network.

Layouts: ``layout_version`` grows when the stored fields change. Older layouts are upgraded on
reading by the functions in ``_MIGRATIONS``, so every file ever written keeps loading.

* layout 1 - the first draft: short names (``model_name``, ``arch``, ``slices``, ``interval_mm``,
  ``window``, ``trained_on``) and no normalisation or resize fields (MP3D's were implied).
* layout 2 - the fields of :class:`ModelCard` without ``ensemble_members``.
* layout 3 - the current one: ``ensemble_members`` added (empty for a file holding one detector; the
  members' own cards (two to four) for an output ensemble, :mod:`lesionviewer.detection.ensemble_file`).

Example:
    >>> card = ModelCard(name="demo", architecture="mp3d_small", num_slices=3, slice_interval_mm=2.5)
    >>> ModelCard.from_dict(card.to_dict()) == card
    True
    >>> card.hu_clip, card.input_min_size
    ((-1024.0, 1050.0), 512)
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

#: The layout this version writes; every layout up to it is read.
CURRENT_LAYOUT = 3

#: How many detectors an ensemble file may hold (the fusion, ``fuse_passes``, takes any number; each
#: member reads every slice, so the time per slice grows with the count).
ENSEMBLE_SIZES = range(2, 5)


def ensemble_size_problem(count: int) -> str | None:
    """Why ``count`` detectors cannot form an ensemble (None when they can).

    Example:
        >>> ensemble_size_problem(3) is None, ensemble_size_problem(1)
        (True, 'an ensemble holds 2 to 4 detectors, not 1')
    """
    if count in ENSEMBLE_SIZES:
        return None
    return f"an ensemble holds {ENSEMBLE_SIZES[0]} to {ENSEMBLE_SIZES[-1]} detectors, not {count}"

# Declared sizes are checked before anything is built or allocated from them: a card is data from
# a file, and a number such as input_min_size 40000 or blocks [2000]*4 would cost gigabytes.
MAX_NUM_SLICES = 128
MAX_INPUT_SIZE = 4096  # pixels a side after resizing; CT slices are 512 (at most 1024)
MAX_SIZE_DIVISIBLE = 256
MAX_SLICE_INTERVAL_MM = 100.0
MAX_NAME_CHARS = 256  # name, architecture, version, library_version, created
MAX_DESCRIPTION_CHARS = 64 * 1024
MAX_SECTION_CHARS = 256 * 1024  # architecture_options, training_data, metrics, each as JSON
MAX_NESTING = 32
MAX_BLOCKS_PER_STAGE = 64  # ResNet-152 has 36
MAX_STAGES = 8
MAX_CHANNELS = 8192  # width, fpn_channels, representation_size
MAX_OPTION_NUMBER = 1_000_000  # any other number among the architecture options


class ModelCardError(ValueError):
    """The card is incomplete, of an unknown layout, or holds an impossible value.

    Example:
        >>> try:
        ...     ModelCard.from_dict({"layout_version": 2})
        ... except ModelCardError as err:
        ...     print(str(err).split(":")[0])
        the model card lacks required fields
    """


def _library_version() -> str:
    import lesionviewer

    return lesionviewer.__version__


def _now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to rebuild a detector and feed it correctly, plus where it came from.

    Preprocessing, in the order the engine applies it: a stack of ``num_slices`` slices centred on
    the slice to read, ``slice_interval_mm`` apart (linear interpolation between the nearest
    slices, the edge slice repeated past the ends); HU clipped to ``hu_clip`` and scaled linearly to
    0..255; then the network's own transform subtracts ``pixel_mean``, divides by ``pixel_std``,
    resizes the shorter side to ``input_min_size`` (the longer one at most ``input_max_size``,
    aspect kept) and pads to a multiple of ``size_divisible``. With ``test_time_flip`` the engine
    also reads each slice mirrored left-right and keeps the fusion of the two passes
    (:mod:`lesionviewer.detection.flip_fusion`); the card's metrics were measured that way.

    Example:
        >>> c = ModelCard(name="m", architecture="mp3d63", num_slices=9, slice_interval_mm=2.5,
        ...               metrics={"sensitivity@4fp": 0.92})
        >>> c.layout_version, c.metrics["sensitivity@4fp"]
        (3, 0.92)
    """

    name: str
    architecture: str
    num_slices: int
    slice_interval_mm: float
    architecture_options: dict[str, Any] = field(default_factory=dict)
    version: str = "1"
    description: str = ""
    hu_clip: tuple[float, float] = (-1024.0, 1050.0)
    pixel_mean: float = 123.675
    pixel_std: float = 58.395
    input_min_size: int = 512
    input_max_size: int = 1333
    size_divisible: int = 32
    test_time_flip: bool = False
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    ensemble_members: list[dict[str, Any]] = field(default_factory=list)
    library_version: str = field(default_factory=_library_version)
    created: str = field(default_factory=_now_utc)
    layout_version: int = CURRENT_LAYOUT

    def __post_init__(self) -> None:
        # Normalise types first (JSON gives lists and ints), then check ranges, so a card that
        # passes here can be used without further checks.
        clip = self.hu_clip if isinstance(self.hu_clip, (list, tuple)) else [self.hu_clip]
        object.__setattr__(self, "hu_clip", tuple(_as_float("hu_clip", v) for v in clip))
        for name in ("slice_interval_mm", "pixel_mean", "pixel_std"):
            object.__setattr__(self, name, _as_float(name, getattr(self, name)))
        for name in ("num_slices", "input_min_size", "input_max_size", "size_divisible", "layout_version"):
            object.__setattr__(self, name, _as_int(name, getattr(self, name)))
        problems = []
        if not isinstance(self.name, str) or not self.name.strip():
            problems.append("name must be a non-empty text")
        if not isinstance(self.architecture, str) or not self.architecture.strip():
            problems.append("architecture must be a non-empty text")
        if not isinstance(self.architecture_options, dict):
            problems.append("architecture_options must be a JSON object")
        if self.num_slices < 1:
            problems.append(f"num_slices must be at least 1 (got {self.num_slices})")
        if not self.slice_interval_mm > 0:
            problems.append(f"slice_interval_mm must be positive (got {self.slice_interval_mm})")
        if len(self.hu_clip) != 2 or not self.hu_clip[1] > self.hu_clip[0]:
            problems.append(f"hu_clip must be [low, high] with high > low (got {list(self.hu_clip)})")
        if not self.pixel_std > 0:
            problems.append(f"pixel_std must be positive (got {self.pixel_std})")
        if self.input_min_size < 1 or self.input_max_size < self.input_min_size:
            problems.append(
                f"input sizes must satisfy 1 <= input_min_size <= input_max_size "
                f"(got {self.input_min_size}, {self.input_max_size})"
            )
        if self.size_divisible < 1:
            problems.append(f"size_divisible must be at least 1 (got {self.size_divisible})")
        if not isinstance(self.test_time_flip, bool):
            problems.append(f"test_time_flip must be true or false (got {self.test_time_flip!r})")
        if not isinstance(self.training_data, dict) or not isinstance(self.metrics, dict):
            problems.append("training_data and metrics must be JSON objects")
        problems.extend(_ensemble_problems(self.ensemble_members))
        problems.extend(declared_size_problems(self))
        if problems:
            raise ModelCardError("the model card is invalid: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (the stored form).

        Example:
            >>> ModelCard("m", "mp3d63", 9, 2.5).to_dict()["hu_clip"]
            [-1024.0, 1050.0]
        """
        data = asdict(self)
        data["hu_clip"] = list(self.hu_clip)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelCard":
        """Read a stored card of any known layout, strictly: every stored field must be present.

        Raises :class:`ModelCardError` naming the missing or unknown fields.

        Example:
            >>> old = {"layout_version": 1, "model_name": "old", "arch": "mp3d63", "arch_options": {},
            ...        "slices": 9, "interval_mm": 2.5, "window": [-1024, 1050],
            ...        "library_version": "0.0.1", "created": "2026-01-01T00:00:00Z"}
            >>> ModelCard.from_dict(old).name, ModelCard.from_dict(old).layout_version
            ('old', 3)
        """
        if not isinstance(data, dict):
            raise ModelCardError(f"the model card must be a JSON object, not {type(data).__name__}")
        data = migrate(data)
        known = {f.name for f in fields(cls)}
        missing = sorted(REQUIRED_FIELDS - data.keys())
        if missing:
            raise ModelCardError(f"the model card lacks required fields: {', '.join(missing)}")
        unknown = sorted(data.keys() - known)
        if unknown:
            raise ModelCardError(f"the model card has unknown fields: {', '.join(unknown)}")
        return cls(**data)


    @property
    def member_cards(self) -> list["ModelCard"]:
        """The cards of an ensemble's members, in order (empty for a file holding one detector).

        Example:
            >>> one = ModelCard("a", "mp3d_small", 5, 2.5).to_dict()
            >>> [c.name for c in ModelCard("a+b", "mp3d_small", 5, 2.5, ensemble_members=[one, one]).member_cards]
            ['a', 'a']
        """
        return [ModelCard.from_dict(member) for member in self.ensemble_members]


def _ensemble_problems(members: Any) -> list[str]:
    """What is wrong with a card's ``ensemble_members`` (empty when it is a valid list: none, or two to four cards)."""
    if not isinstance(members, list):
        return ["ensemble_members must be a JSON list"]
    if not members:
        return []
    size_problem = ensemble_size_problem(len(members))
    if size_problem:
        return [size_problem]
    problems = []
    for i, member in enumerate(members):
        try:
            card = ModelCard.from_dict(member)
        except ModelCardError as err:
            problems.append(f"ensemble member {i}: {err}")
            continue
        if card.ensemble_members:
            problems.append(f"ensemble member {i} is itself an ensemble")
    return problems


#: Fields a stored (current-layout) card must hold; the others have harmless defaults.
REQUIRED_FIELDS = frozenset(
    {
        "layout_version",
        "name",
        "architecture",
        "architecture_options",
        "num_slices",
        "slice_interval_mm",
        "hu_clip",
        "pixel_mean",
        "pixel_std",
        "input_min_size",
        "input_max_size",
        "size_divisible",
        "library_version",
        "created",
    }
)


def _migrate_1_to_2(old: dict[str, Any]) -> dict[str, Any]:
    # Layout 1 stored no normalisation or resize: every layout-1 model was an MP3D-style model
    # trained with MP3D's defaults, which are exactly ModelCard's defaults.
    renames = {
        "model_name": "name",
        "arch": "architecture",
        "arch_options": "architecture_options",
        "slices": "num_slices",
        "interval_mm": "slice_interval_mm",
        "window": "hu_clip",
    }
    new = {renames.get(k, k): v for k, v in old.items() if k != "trained_on"}
    if "trained_on" in old:
        new["training_data"] = {"description": str(old["trained_on"])}
    new.setdefault("architecture_options", {})
    new.update(pixel_mean=123.675, pixel_std=58.395, input_min_size=512, input_max_size=1333, size_divisible=32)
    new["layout_version"] = 2
    return new


def _migrate_2_to_3(old: dict[str, Any]) -> dict[str, Any]:
    # Every layout-2 file holds one detector.
    return {**old, "ensemble_members": [], "layout_version": 3}


#: ``layout -> function`` upgrading a card of that layout by one step.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade a stored card dict to :data:`CURRENT_LAYOUT`, one layout at a time.

    A card from a newer LesionViewer (a layout above the current one) is refused with a message
    saying so, rather than misread.

    Example:
        >>> migrate({"layout_version": 1, "slices": 5})["num_slices"]
        5
        >>> try:
        ...     migrate({"layout_version": 99})
        ... except ModelCardError as err:
        ...     print(err)
        the model card has layout 99, newer than this LesionViewer reads (up to 3); update LesionViewer
    """
    layout = data.get("layout_version")
    if isinstance(layout, bool) or not isinstance(layout, int):
        raise ModelCardError(f"the model card has no integer layout_version (got {layout!r})")
    if layout > CURRENT_LAYOUT:
        raise ModelCardError(
            f"the model card has layout {layout}, newer than this LesionViewer reads "
            f"(up to {CURRENT_LAYOUT}); update LesionViewer"
        )
    if layout < 1:
        raise ModelCardError(f"the model card has an impossible layout_version {layout}")
    data = dict(data)
    while data["layout_version"] < CURRENT_LAYOUT:
        data = _MIGRATIONS[data["layout_version"]](data)
    return data


def declared_size_problems(card: "ModelCard") -> list[str]:
    """What in ``card`` declares an implausible size (empty when every size is sane), checked before any use.

    Example:
        >>> ModelCard("m", "mp3d63", 9, 2.5)  # the defaults are sane
        ModelCard(name='m', ...)
        >>> try:
        ...     ModelCard("m", "mp3d63", 9, 2.5, input_min_size=40000, input_max_size=40000)
        ... except ModelCardError as err:
        ...     print(err)
        the model card is invalid: input_min_size 40000 is larger than 4096 pixels
    """
    problems = []
    if card.num_slices > MAX_NUM_SLICES:
        problems.append(f"num_slices {card.num_slices} is more than {MAX_NUM_SLICES}")
    if card.input_min_size > MAX_INPUT_SIZE:
        problems.append(f"input_min_size {card.input_min_size} is larger than {MAX_INPUT_SIZE} pixels")
    elif card.input_max_size > MAX_INPUT_SIZE:
        problems.append(f"input_max_size {card.input_max_size} is larger than {MAX_INPUT_SIZE} pixels")
    if card.size_divisible > MAX_SIZE_DIVISIBLE:
        problems.append(f"size_divisible {card.size_divisible} is larger than {MAX_SIZE_DIVISIBLE}")
    if card.slice_interval_mm > MAX_SLICE_INTERVAL_MM:
        problems.append(f"slice_interval_mm {card.slice_interval_mm:g} is more than {MAX_SLICE_INTERVAL_MM:g} mm")
    for name in ("name", "architecture", "version", "library_version", "created"):
        value = getattr(card, name)
        if isinstance(value, str) and len(value) > MAX_NAME_CHARS:
            problems.append(f"{name} is {len(value)} characters long (at most {MAX_NAME_CHARS})")
        elif not isinstance(value, str):
            problems.append(f"{name} must be a text")
    if not isinstance(card.description, str):
        problems.append("description must be a text")
    elif len(card.description) > MAX_DESCRIPTION_CHARS:
        problems.append(f"description is {len(card.description)} characters long (at most {MAX_DESCRIPTION_CHARS})")
    for name in ("architecture_options", "training_data", "metrics"):
        problem = _section_problem(name, getattr(card, name))
        if problem:
            problems.append(problem)
    if isinstance(card.architecture_options, dict) and not any(p.startswith("architecture_options") for p in problems):
        problems.extend(_option_problems(card.architecture_options))
    return problems


def _section_problem(name: str, value: Any) -> str | None:
    """A JSON section that is too large or too deeply nested; counted without serialising it whole."""
    budget = [MAX_SECTION_CHARS]
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_NESTING:
            return f"{name} is nested more than {MAX_NESTING} levels deep"
        if isinstance(item, dict):
            budget[0] -= 2 + sum(len(str(k)) + 4 for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            budget[0] -= 2 + len(item)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            budget[0] -= len(item) + 2
        else:
            budget[0] -= 24
        if budget[0] < 0:
            return f"{name} is larger than {MAX_SECTION_CHARS} characters of JSON"
    return None


def _option_problems(options: dict[str, Any]) -> list[str]:
    problems = []
    blocks = options.get("blocks")
    if blocks is not None:
        if not isinstance(blocks, (list, tuple)) or not 1 <= len(blocks) <= MAX_STAGES:
            problems.append(f"architecture_options.blocks must list 1 to {MAX_STAGES} stage depths")
        elif not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= MAX_BLOCKS_PER_STAGE for b in blocks):
            shown = list(blocks)[:8]
            problems.append(f"architecture_options.blocks {shown} asks for more than {MAX_BLOCKS_PER_STAGE} "
                            f"blocks in a stage (or a block count that is not a whole number)")
    for name in ("width", "fpn_channels", "representation_size"):
        value = options.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not 1 <= value <= MAX_CHANNELS:
            problems.append(f"architecture_options.{name} {value} is outside 1..{MAX_CHANNELS}")
    for name, value in options.items():
        if name in ("blocks", "width", "fpn_channels", "representation_size"):
            continue
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for number in numbers:
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                if not math.isfinite(number) or abs(number) > MAX_OPTION_NUMBER:
                    problems.append(f"architecture_options.{name} holds {number!r}, outside +-{MAX_OPTION_NUMBER}")
                    break
    return problems


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelCardError(f"the model card is invalid: {name} must be a finite number (got {value!r})")
    return float(value)


def _as_int(name: str, value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ModelCardError(f"the model card is invalid: {name} must be a whole number (got {value!r})")
    return int(value)
