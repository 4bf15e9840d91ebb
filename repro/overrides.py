"""The one override path: `--set key=value` over any typed config (a pre-training Config, a
fine-tuning recipe) and the specs' typed changes ({"model.n_layer": 24}), applied as copies with
dataclasses.replace. Values are parsed as their field's type; numbers through repro.numbers."""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import fields

from .errors import ReproError, check
from .numbers import parse_number

TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def field_types(obj, prefix: str = "") -> dict[str, type]:
    """{"model.n_layer": int, ...}: the scalar fields of a dataclass, nested ones dotted."""
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(field_types(value, f"{prefix}{f.name}."))
        elif f.type in TYPES:
            out[prefix + f.name] = TYPES[f.type]
    return out


def field_values(obj) -> dict:
    """{"model.n_layer": 12, ...}: the values of field_types(obj)'s keys."""
    out = {}
    for key in field_types(obj):
        value = obj
        for name in key.split("."):
            value = getattr(value, name)
        out[key] = value
    return out


def coerce(key: str, text: str, kind: type):
    """A --set value as the field's type; numbers through the one path (repro.numbers)."""
    if kind in (int, float):
        return parse_number(text, kind, key)
    if kind is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ReproError(f"--set {key}={text!r}: expected bool (true or false)")
    return text


def with_changes(obj, changes: dict, keys: dict[str, type] | None = None):
    """A copy of the dataclass obj with typed changes {"model.n_layer": 24} applied; a key
    not in keys (default: every scalar field) or a value of another type is an error. An int
    is a float's value too."""
    keys = field_types(obj) if keys is None else keys
    out = copy.deepcopy(obj)
    for key, value in changes.items():
        check(key in keys, f"{key}: unknown key; valid keys: {', '.join(keys)}")
        kind = keys[key]
        if kind is float and type(value) is int:
            value = float(value)
        check(type(value) is kind, f"{key}={value!r}: expected {kind.__name__}")
        out = _replaced(out, key.split("."), value)
    return out


def _replaced(obj, path: list[str], value):
    inner = value if len(path) == 1 else _replaced(getattr(obj, path[0]), path[1:], value)
    return dataclasses.replace(obj, **{path[0]: inner})


def override(obj, pairs: list[str], keys: dict[str, type] | None = None,
             unknown: str = "unknown key; valid keys", example: str = "model.n_layer=4"):
    """A copy of the dataclass obj with `key=value` strings (--set) applied: each value parsed
    as its field's type (coerce), unknown keys and bad values errors in one line."""
    keys = field_types(obj) if keys is None else keys
    changes = {}
    for pair in pairs:
        check("=" in pair, f"--set {pair!r}: expected key=value, e.g. {example}")
        key, text = pair.split("=", 1)
        key = key.strip()
        if key not in keys:
            raise ReproError(f"--set {key}: {unknown}: {', '.join(keys)}")
        changes[key] = coerce(key, text, keys[key])
    return with_changes(obj, changes, keys)
