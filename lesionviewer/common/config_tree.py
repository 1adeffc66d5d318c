"""Config files shared by the detector and the risk model: TOML with ``extends`` and ``--set`` overrides,
built into typed dataclass sections and range-checked, every problem a :class:`ConfigError`.

A file may start with ``extends = "base.toml"`` (relative to the file): the base is loaded first and
this file's keys replace the base's, table by table. ``--set section.key=value`` replaces any field;
the value is read as TOML (``0.01``, ``true``, ``[448, 512]``, ``"text"``), a bare word as a string.

Example:
    >>> parse_override("optim.lr=0.01"), parse_override("model.arch=mp3d63")
    ((['optim', 'lr'], 0.01), (['model', 'arch'], 'mp3d63'))
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any, Iterable

import tomllib


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file or key."""


def check_rules(cfg: Any, checks: Iterable[tuple[str, bool, str]], source: str) -> None:
    """Raise a :class:`ConfigError` for the first ``(key, ok, rule)`` whose ``ok`` is false, and before
    that for any float setting of ``cfg`` that is NaN or infinite.

    Example:
        >>> from types import SimpleNamespace
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Optim:
        ...     lr: float = 0.0
        >>> check_rules(SimpleNamespace(optim=Optim()), [("optim.lr", False, "> 0")], "run.toml")
        Traceback (most recent call last):
        ...
        lesionviewer.common.config_tree.ConfigError: run.toml: optim.lr must be > 0 (got 0.0)
    """
    if dataclasses.is_dataclass(cfg):
        for key, value in float_fields(cfg):
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"{source}: {key} must be a finite number (got {value!r})")
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{source}: {key} must be {rule} (got {get_path(cfg, key)!r})")


def float_fields(cfg: Any, prefix: str = ""):
    """Every float setting of the dataclass ``cfg`` and every float in a list setting, with its dotted name.

    Example:
        >>> from dataclasses import dataclass, field
        >>> @dataclass
        ... class Data:
        ...     step: float = 2.5
        ...     window: list = field(default_factory=lambda: [-1000.0, 400.0])
        >>> list(float_fields(Data(), "data."))
        [('data.step', 2.5), ('data.window', -1000.0), ('data.window', 400.0)]
    """
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            yield from float_fields(value, key + ".")
        elif isinstance(value, float):
            yield key, value
        elif isinstance(value, list):
            yield from ((key, v) for v in value if isinstance(v, float))


def get_path(cfg: Any, key: str) -> Any:
    """The value at the dotted ``key`` of nested dataclasses.

    Example:
        >>> from types import SimpleNamespace
        >>> get_path(SimpleNamespace(optim=SimpleNamespace(lr=0.02)), "optim.lr")
        0.02
    """
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def build_section(cls, raw: Any, source: str, prefix: str = ""):
    """An instance of the dataclass ``cls`` from the table ``raw``, nested sections included;
    unknown keys and wrong types are a :class:`ConfigError` naming ``source`` and the key.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Optim:
        ...     lr: float = 0.1
        ...     epochs: int = 1
        >>> build_section(Optim, {"lr": 1}, "a.toml", "optim.")
        Optim(lr=1.0, epochs=1)
        >>> build_section(Optim, {"epochs": "2"}, "a.toml", "optim.")
        Traceback (most recent call last):
        ...
        lesionviewer.common.config_tree.ConfigError: a.toml: optim.epochs must be int (got '2')
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(prefix + u for u in unknown)}; "
                          f"known: {', '.join(prefix + n for n in sorted(names))}")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        key = prefix + name
        if dataclasses.is_dataclass(hint):
            kwargs[name] = build_section(hint, value, source, key + ".")
        else:
            kwargs[name] = _coerce(hint, value, source, key)
    return cls(**kwargs)


def _coerce(hint, value, source: str, key: str):
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = {float: float, int: int, bool: bool, str: str, list: list, dict: dict}[hint]
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{source}: {key} must be {expected.__name__} (got {value!r})")
    return copy.deepcopy(value)


def _deep_merge(base: dict, top: dict) -> dict:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "options":
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_config_dict(path: str | Path, _seen: tuple = ()) -> dict:
    """Read a TOML config as nested dicts, resolving ``extends`` chains (cycles are an error).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "base.toml").write_text('[optim]\\nlr = 0.02\\nepochs = 24\\n')
        >>> _ = (d / "short.toml").write_text('extends = "base.toml"\\n[optim]\\nepochs = 12\\n')
        >>> read_config_dict(d / "short.toml")["optim"]
        {'lr': 0.02, 'epochs': 12}
    """
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: 'extends' chain loops back to this file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must be a file name")
    base = read_config_dict(path.parent / parent, _seen + (path,))
    return _deep_merge(base, raw)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"section.key=value"`` into the key path and its value read as TOML.

    Example:
        >>> parse_override("optim.milestones=[8, 11]")
        (['optim', 'milestones'], [8, 11])
        >>> parse_override("model.arch=mp3d63_ctm")
        (['model', 'arch'], 'mp3d63_ctm')
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, value_text = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text.strip()
    return key.split("."), value


def apply_overrides(cfg, overrides: list[str]):
    """A new config with ``section.key=value`` overrides applied and checked.

    ``cfg`` is any config class with ``to_dict`` and a checking ``from_dict`` (the detector's and the risk model's).

    Example:
        >>> from lesionviewer.training.config import TrainingConfig
        >>> apply_overrides(TrainingConfig(), ["train.amp=false"]).train.amp
        False
        >>> apply_overrides(TrainingConfig(), ["train.nope=1"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lesionviewer.common.config_tree.ConfigError: --set: unknown key train.nope; known: train.amp, ...
    """
    raw = cfg.to_dict()
    for text in overrides:
        path, value = parse_override(text)
        target = raw
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                raise ConfigError(f"--set {text!r}: unknown section {part!r}")
            target = target[part]
        if path[-1] not in target and path[-2:-1] != ["options"]:
            known = ", ".join(".".join(path[:-1] + [k]) for k in sorted(target))
            raise ConfigError(f"--set: unknown key {'.'.join(path)}; known: {known}")
        target[path[-1]] = value
    return type(cfg).from_dict(raw, source="--set")  # any config class with from_dict/to_dict (the risk one too)
