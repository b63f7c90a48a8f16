"""JSON for the canonical model: dataclasses of rules.model to plain dicts and back, exactly.

Money becomes {"minor": 2000, "currency": "GBP"} (never a float), datetimes ISO 8601 UTC,
enums their values, tuples lists. `decode(type, data)` rebuilds from type hints, so adding a
field with a default to the model needs no change here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from rules.money import Money, PreciseMoney


def encode(value: Any) -> Any:
    if isinstance(value, Money):
        return {"minor": value.minor, "currency": value.currency}
    if isinstance(value, PreciseMoney):
        return {"precise": value.precise_amount, "currency": value.currency,
                "digits": value.fraction_digits}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return decode(options[0], data) if len(options) == 1 else data
    if tp is Money:
        return Money(int(data["minor"]), data["currency"])
    if tp is PreciseMoney:
        return PreciseMoney(int(data["precise"]), data["currency"], int(data["digits"]))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {f.name: decode(hints[f.name], data[f.name])
                  for f in dataclasses.fields(tp) if f.name in data}
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if origin is tuple:
        args = typing.get_args(tp)
        return tuple(decode(args[0], v) for v in data)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return [decode(arg, v) for v in data]
    if origin is dict:
        _, arg = typing.get_args(tp)
        return {k: decode(arg, v) for k, v in data.items()}
    return data


def fingerprint(value: Any) -> str:
    """A stable hash of a value's JSON form: same facts, same fingerprint."""
    blob = json.dumps(encode(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
