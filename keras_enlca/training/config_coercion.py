"""The generic coercion engine: builds the config dataclasses from plain
mappings, checking every key against the annotations (an unknown key or a
value of the wrong type raises an `InputError` naming the key and the file
or option it came from), and the helpers for dotted keys.
"""

import dataclasses
import difflib
import re
import types
import typing

import yaml

from keras_enlca.errors import InputError
from keras_enlca.training.config_schema import ModelConfig


def _field_names(cls):
    return [f.name for f in dataclasses.fields(cls)]


def _unknown_key(key, known, source):
    parent, _, name = key.rpartition(".")
    close = difflib.get_close_matches(name, known, n=1)
    hint = (
        f" (did you mean '{parent + '.' if parent else ''}{close[0]}'?)"
        if close
        else ""
    )
    where = f"{source}: " if source else ""
    return InputError(f"{where}unknown key '{key}'{hint}")


def _is_union(tp):
    """`int | None` and `typing.Optional[int]` alike."""
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp):
    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {
        int: "an integer",
        float: "a number",
        bool: "true/false",
        str: "a string",
        dict: "a mapping",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value, tp, key, source):
    """Check `value` against the annotation `tp`; return the clean value."""
    where = f"{source}: " if source else ""

    def wrong():
        return InputError(f"{where}'{key}' must be {_type_name(tp)}, got {value!r}")

    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if args[0] in (int, float, bool, str):
            try:
                return _coerce(value, args[0], key, source)
            except InputError:
                raise wrong() from None
        return _coerce(value, args[0], key, source)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise wrong()
        return _build(tp, value, key, source)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise wrong()
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads `1e-4` (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                raise wrong() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise wrong()
        return dict(value)
    raise TypeError(f"Unsupported config annotation {tp} for {key}")


def _build(cls, values, prefix, source, base=None):
    """Build dataclass `cls` from the mapping `values` over `base`."""
    hints = typing.get_type_hints(cls)
    known = _field_names(cls)
    obj = base if base is not None else cls()
    for name, value in values.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in known:
            raise _unknown_key(key, known, source)
        tp = hints[name]
        current = getattr(obj, name)
        sub_cls = _dataclass_in(tp)
        if sub_cls is not None and isinstance(value, dict):
            # Merge into the existing section instead of replacing it.
            setattr(
                obj,
                name,
                _build(
                    sub_cls,
                    value,
                    key,
                    source,
                    base=current if current is not None else sub_cls(),
                ),
            )
        elif name == "args" and cls is ModelConfig and isinstance(value, dict):
            merged = dict(current)
            merged.update(value)
            setattr(obj, name, merged)
        else:
            setattr(obj, name, _coerce(value, tp, key, source))
    return obj


def _dataclass_in(tp):
    if dataclasses.is_dataclass(tp):
        return tp
    if _is_union(tp):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def parse_override(text):
    """`"schedule.epochs=2"` -> `("schedule.epochs", 2)` (value read as YAML)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise InputError(
            f"override '{text}' must look like KEY=VALUE, e.g. schedule.epochs=2"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key, value


def _nest(key, value):
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def _dotted_keys(values, prefix=""):
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        yield dotted
        if isinstance(value, dict):
            yield from _dotted_keys(value, dotted)


def _get(config, dotted):
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set(config, dotted, value):
    parent, _, name = dotted.rpartition(".")
    setattr(_get(config, parent) if parent else config, name, value)
