"""Typed settings for every stage, with one precedence rule: defaults < persona.yaml < flags.

A stage's settings are a dataclass whose fields carry their help text; the CLI builds its flags
from those fields, and `resolve` merges the three layers and validates once, naming every problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

from personatune.errors import UserError

T = TypeVar("T")


def setting(default: Any = dataclasses.MISSING, help: str = "", *, choices: tuple | None = None,
            default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with the help text that `--help` and `personatune config` show."""
    meta = {"help": help, "choices": choices}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class Settings:
    """Base for stage settings: validation collects every problem and raises once."""

    def problems(self) -> list[str]:
        return []

    def __post_init__(self) -> None:
        problems = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                problems.append(f"{f.name}={value!r} is not one of {', '.join(map(str, choices))}")
        problems += self.problems()
        if problems:
            raise UserError(f"invalid {type(self).__name__}: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _base_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return tp


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(cls: type, name: str, value: Any) -> Any:
    tp = _base_type(_hints(cls)[name])
    if value is None:
        return None
    origin = typing.get_origin(tp) or tp
    try:
        if origin is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if origin in (list, tuple):
            (item_type,) = typing.get_args(tp)[:1] or (str,)
            items = value.split(",") if isinstance(value, str) else list(value)
            return [item_type(v.strip()) if isinstance(v, str) else item_type(v) for v in items if v != ""]
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError(value)
            return dict(value)
        if origin in (int, float, str):
            if origin is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return origin(value)
    except (TypeError, ValueError):
        raise UserError(f"setting {cls.__name__}.{name}: cannot read {value!r} as {getattr(tp, '__name__', tp)}") from None
    return value


def resolve(cls: type[T], from_config: dict | None = None, from_flags: dict | None = None,
            where: str = "persona.yaml") -> T:
    """defaults < config file section < command-line flags; unknown keys are an error, not ignored."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for layer, source in ((from_config or {}, where), (from_flags or {}, "command line")):
        unknown = sorted(set(layer) - names)
        if unknown:
            raise UserError(
                f"{source}: unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
                f"known: {', '.join(sorted(names))}"
            )
        for key, value in layer.items():
            if value is not None:
                values[key] = _coerce(cls, key, value)
    try:
        return cls(**values)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def add_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One `--flag` per settings field, with its help text; unset flags stay None (= not given)."""
    group = parser.add_argument_group(f"{cls.__name__} (override persona.yaml)")
    for f in dataclasses.fields(cls):
        flag = "--" + prefix + f.name.replace("_", "-")
        tp = _base_type(_hints(cls)[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{f.metadata.get('help', '')} (default: {default!r})".replace("%", "%%")
        if tp is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            group.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)


def flags_for(cls: type, namespace: argparse.Namespace) -> dict:
    return {f.name: getattr(namespace, f.name, None) for f in dataclasses.fields(cls)
            if getattr(namespace, f.name, None) is not None}


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(name, default, help) for docs and `personatune config --show`."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        rows.append((f.name, default, f.metadata.get("help", "")))
    return rows
