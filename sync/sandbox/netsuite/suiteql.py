"""Just enough SuiteQL for the lookups Returnline makes (and a little more).

Grammar: SELECT cols FROM table [alias] [WHERE cond AND cond ...] [ORDER BY col]
cond: col = 'x' | col IN ('x', 'y') | col (>=|>|<=|<) TO_TIMESTAMP('...', '...') | col = 'x'
Values are compared as strings (timestamps are stored as 'YYYY-MM-DD HH:MM:SS', so string
order is time order). Anything else raises SuiteQLError, which the sandbox answers with 400.
"""

from __future__ import annotations

import re
from typing import Any

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>\w+)"
    r"(?:\s+(?!WHERE\b|ORDER\b)(?P<alias>\w+))?"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>[\w.]+)(?:\s+(?P<dir>ASC|DESC))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_LIT = r"'(?:[^']|'')*'"
_COND = re.compile(
    rf"^(?P<col>[\w.]+)\s*(?:(?P<op>>=|<=|=|<|>)\s*(?P<val>{_LIT}|TO_TIMESTAMP\(\s*(?P<ts>{_LIT})"
    rf"\s*,\s*{_LIT}\s*\))|\s+IN\s*\((?P<list>\s*{_LIT}(?:\s*,\s*{_LIT})*)\s*\))$",
    re.IGNORECASE | re.DOTALL,
)


class SuiteQLError(ValueError):
    pass


def _unquote(lit: str) -> str:
    return lit[1:-1].replace("''", "'")


def _split_and(where: str) -> list[str]:
    """Split on AND outside quoted literals (literals are matched first, so skipped whole)."""
    parts, last = [], 0
    for m in re.finditer(rf"{_LIT}|\s+AND\s+", where, re.IGNORECASE):
        if m.group().strip().upper() == "AND":
            parts.append(where[last:m.start()])
            last = m.end()
    parts.append(where[last:])
    return [p.strip() for p in parts if p.strip()]


def _col(name: str, alias: str | None) -> str:
    name = name.lower()
    if "." in name:
        prefix, _, name = name.partition(".")
        if alias is None or prefix != alias.lower():
            raise SuiteQLError(f"unknown table alias {prefix}")
    return name


def run(query: str, tables: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    m = _QUERY.match(query)
    if not m:
        raise SuiteQLError("Invalid search query. Detailed unprocessed description follows. "
                           "Search error occurred: Invalid or unsupported search.")
    table = m["table"].lower()
    if table not in tables:
        raise SuiteQLError(f"Invalid search query. Search error occurred: Record '{m['table']}' "
                           "was not found.")
    alias = m["alias"]
    filters = []
    for cond in _split_and(m["where"] or ""):
        c = _COND.match(cond)
        if not c:
            raise SuiteQLError(f"Invalid search query. Unsupported condition: {cond}")
        col = _col(c["col"], alias)
        if c["list"] is not None:
            values = {_unquote(v) for v in re.findall(_LIT, c["list"])}
            filters.append(lambda r, col=col, values=values: str(r.get(col)) in values)
        else:
            val = _unquote(c["ts"] if c["ts"] else c["val"])
            op = c["op"]
            filters.append(lambda r, col=col, val=val, op=op: _compare(r.get(col), op, val))
    rows = [r for r in tables[table] if all(f(r) for f in filters)]
    if m["order"]:
        key = _col(m["order"], alias)
        rows.sort(key=lambda r: (_sort_key(r.get(key))), reverse=(m["dir"] or "").upper() == "DESC")
    cols = [c.strip() for c in m["cols"].split(",")]
    if cols == ["*"]:
        return [{k: v for k, v in r.items() if v is not None} for r in rows]
    names = [_col(c, alias) for c in cols]
    return [{n: r[n] for n in names if r.get(n) is not None} for r in rows]


def _compare(value: Any, op: str, literal: str) -> bool:
    if value is None:
        return False
    v = str(value)
    return {"=": v == literal, ">=": v >= literal, ">": v > literal, "<=": v <= literal,
            "<": v < literal}[op]


def _sort_key(value: Any) -> tuple[int, Any]:
    text = "" if value is None else str(value)
    return (0, int(text)) if text.isdigit() else (1, text)
