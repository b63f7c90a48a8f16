"""The few Query Predicates the sandbox understands (a subset of the real grammar).

Supported, joined by `and`:
  field = "v"                       orderNumber, sku, key, id, customerEmail, ...
  field(sub = "v")                  supplyChannel(id = "..."), returnInfo(returnTrackingId = "...")
  custom(fields(name = "v"))        custom(fields(name is defined))
Anything else is refused as a malformed predicate, like the API refuses bad syntax.
"""

from __future__ import annotations

import re
from typing import Any

_STR = r'"((?:[^"\\]|\\.)*)"'
_PATTERNS = [
    ("custom_eq", re.compile(r"^custom\s*\(\s*fields\s*\(\s*([\w-]+)\s*=\s*" + _STR + r"\s*\)\s*\)$")),
    ("custom_defined", re.compile(r"^custom\s*\(\s*fields\s*\(\s*([\w-]+)\s+is\s+defined\s*\)\s*\)$")),
    ("nested_eq", re.compile(r"^(\w+)\s*\(\s*(\w+)\s*=\s*" + _STR + r"\s*\)$")),
    ("eq", re.compile(r"^(\w+)\s*=\s*" + _STR + r"$")),
]


def _split_and(text: str) -> list[str]:
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and text[i:i + 5].lower() == " and ":
            parts.append(text[start:i])
            start = i + 5
            i += 5
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_where(text: str) -> list[tuple[str, ...]]:
    terms = []
    for part in _split_and(text.strip()):
        for kind, pattern in _PATTERNS:
            m = pattern.match(part)
            if m:
                groups = list(m.groups())
                if kind != "custom_defined":
                    groups[-1] = _unescape(groups[-1])
                terms.append((kind, *groups))
                break
        else:
            raise ValueError(f"unsupported or malformed predicate: {part!r}")
    return terms


def matches_where(doc: dict[str, Any], term: tuple[str, ...], sandbox: Any = None) -> bool:
    kind = term[0]
    if kind == "eq":
        return str(doc.get(term[1])) == term[2] if doc.get(term[1]) is not None else False
    if kind == "nested_eq":
        value = doc.get(term[1])
        items = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        return any(isinstance(it, dict) and it.get(term[2]) == term[3] for it in items)
    fields = ((doc.get("custom") or {}).get("fields") or {})
    if kind == "custom_eq":
        return fields.get(term[1]) == term[2]
    return term[1] in fields  # custom_defined
