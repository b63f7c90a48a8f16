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
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from rules.money import Money, PreciseMoney


def encode(value: Any) -> Any:
    fn = _ENCODERS.get(type(value))
    if fn is None:
        fn = _ENCODERS[type(value)] = _encoder_for(type(value))
    return fn(value)


# One encoder per concrete type, worked out once: encoding is on every plan's hot path.
_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def _encoder_for(cls: type) -> Callable[[Any], Any]:
    if issubclass(cls, Money):
        return lambda v: {"minor": v.minor, "currency": v.currency}
    if issubclass(cls, PreciseMoney):
        return lambda v: {"precise": v.precise_amount, "currency": v.currency,
                          "digits": v.fraction_digits}
    if dataclasses.is_dataclass(cls):
        names = tuple(f.name for f in dataclasses.fields(cls))
        return lambda v: {n: encode(getattr(v, n)) for n in names}
    if issubclass(cls, Enum):
        return lambda v: v.value
    if issubclass(cls, datetime):
        return lambda v: v.isoformat()
    if issubclass(cls, list | tuple):
        return lambda v: [encode(x) for x in v]
    if issubclass(cls, dict):
        return lambda v: {str(k): encode(x) for k, x in v.items()}
    return lambda v: v


def decode(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    return _decoder(tp)(data)


@cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """The function that rebuilds `tp` from its JSON form (data is never None here)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return lambda d: decode(options[0], d)
        return lambda d: d
    if tp is Money:
        return lambda d: Money(int(d["minor"]), d["currency"])
    if tp is PreciseMoney:
        return lambda d: PreciseMoney(int(d["precise"]), d["currency"], int(d["digits"]))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        names = tuple(f.name for f in dataclasses.fields(tp))

        def build(d: Any) -> Any:
            hints = typing.get_type_hints(tp)  # cached below after the first call
            fields = tuple((n, hints[n]) for n in names)
            _FIELDS[tp] = fields
            return _build(tp, fields, d)
        return lambda d: _build(tp, _FIELDS[tp], d) if tp in _FIELDS else build(d)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp
    if tp is datetime:
        return datetime.fromisoformat
    if origin is tuple:
        arg = typing.get_args(tp)[0]
        return lambda d: tuple(decode(arg, v) for v in d)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return lambda d: [decode(arg, v) for v in d]
    if origin is dict:
        _, arg = typing.get_args(tp)
        return lambda d: {k: decode(arg, v) for k, v in d.items()}
    return lambda d: d


_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _build(tp: type, fields: tuple[tuple[str, Any], ...], d: dict[str, Any]) -> Any:
    return tp(**{n: decode(hint, d[n]) for n, hint in fields if n in d})


def fingerprint(value: Any) -> str:
    """A stable hash of a value's JSON form: same facts, same fingerprint."""
    return fingerprint_encoded(encode(value))


def fingerprint_encoded(data: Any) -> str:
    """`fingerprint` of a value already `encode`d (encoding is most of the cost)."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
