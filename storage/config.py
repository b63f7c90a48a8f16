"""Where Returnline keeps things, and `returnline.toml`, validated on load.

Errors name the file, the key and the line, so a typo at 3am is found at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import platformdirs

APP = "returnline"


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    log_dir: Path

    @property
    def default_database(self) -> Path:
        return self.data_dir / "returnline.db"


def resolve_paths(config_arg: str | None = None) -> Paths:
    """--config beats RETURNLINE_CONFIG beats the platform's config dir."""
    config = config_arg or os.environ.get("RETURNLINE_CONFIG")
    config_file = Path(config) if config else Path(platformdirs.user_config_dir(APP)) / f"{APP}.toml"
    data_dir = Path(os.environ.get("RETURNLINE_DATA_DIR") or platformdirs.user_data_dir(APP))
    log_dir = Path(os.environ.get("RETURNLINE_LOG_DIR") or platformdirs.user_log_dir(APP))
    return Paths(config_file.expanduser(), data_dir.expanduser(), log_dir.expanduser())


class ConfigError(Exception):
    """One or more problems in a config file; `problems` are ready-to-print lines."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


# --- the schema ----------------------------------------------------------------------------
# Each key maps to a checker returning an error message or None. Tables listed in OPEN_TABLES
# take any key (user-named entries such as roles or key bindings) with a checker for values.

def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _pos_int(v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v > 0
    return None if ok else "must be a whole number above 0"


def _amount(v: Any) -> str | None:
    if not isinstance(v, str):
        return 'must be a quoted decimal amount, e.g. "150.00" (never a float)'
    try:
        Decimal(v)
    except InvalidOperation:
        return f"{v!r} is not a decimal amount"
    return None


def _hhmm(v: Any) -> str | None:
    return None if isinstance(v, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) else \
        'must be a time of day "HH:MM" (UTC)'


def _one_of(*choices: str):
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of: {', '.join(choices)}"
    return check


def _str_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(x, str) for x in v)
    return None if ok else "must be a list of strings"


def _warehouses(v: Any) -> str | None:
    shape = ('must be tables [[warehouses]] with id = "...", name, and [[warehouses.locations]] '
             'with id = "..." and sellable = true/false (active optional)')
    if not isinstance(v, list):
        return shape
    for wh in v:
        if not isinstance(wh, dict) or not isinstance(wh.get("id"), str):
            return shape
        for loc in wh.get("locations", []):
            if not (isinstance(loc, dict) and isinstance(loc.get("id"), str)
                    and isinstance(loc.get("sellable"), bool)
                    and isinstance(loc.get("active", True), bool)):
                return f"warehouse {wh['id']!r}: " + shape
    return None


def _bundles(v: Any) -> str | None:
    shape = ('must be tables [[bundles]] with sku = "..." and components = '
             '[{sku = "...", qty = 1}, ...]')
    if not isinstance(v, list):
        return shape
    for b in v:
        comps = b.get("components") if isinstance(b, dict) else None
        if not (isinstance(b, dict) and isinstance(b.get("sku"), str) and isinstance(comps, list)
                and comps and all(isinstance(c, dict) and isinstance(c.get("sku"), str)
                                  for c in comps)):
            return shape
    return None


ROLES = ("supervisor", "engineer", "cx", "viewer", "admin")
TEAMS = ("finance", "warehouse", "cx", "merchandising", "engineering")

SCHEMA: dict[str, dict[str, Any]] = {
    "": {"warehouses": _warehouses, "bundles": _bundles},  # master data, seeded on start
    "database": {"url": _str},
    "operator": {"allow_as": _bool, "default_role": _one_of(*ROLES)},
    "roles": {},  # open: user = role
    "console": {"refresh_seconds": _pos_int, "theme": _str, "read_only": _bool,
                "sync": _bool},
    "console.keys": {},  # open: action id = key
    "scheduler": {
        "poll_returns_seconds": _pos_int, "warehouse_feed_seconds": _pos_int,
        "outbox_seconds": _pos_int, "stock_batch_seconds": _pos_int,
        "sla_sweep_seconds": _pos_int, "reconcile_at": _hhmm, "workers": _pos_int,
        "lease_seconds": _pos_int,
    },
    "sandbox": {"endpoints": _str},
    "policy": {
        "hold_damaged": _bool, "hold_on_contradiction": _bool, "always_hold": _bool,
        "include_tax": _bool, "order_wait_minutes": _pos_int, "sla_window_hours": _pos_int,
        "create_return_record": _bool, "tag_orders": _bool,
    },
    "policy.approval_threshold": {},  # open: CURRENCY = "amount"
    "owners": {},  # open: exception type = team
    "reasons": {"master": _str_list, "defect": _str_list},
    "dispositions": {},  # open: condition = disposition
    "reasons.map": {},  # open: raw text = master code
    "webhooks": {"host": _str, "port": _pos_int},
    "credentials": {"backend": _one_of("keyring", "env", "file"), "file": _str},
    "systems.shopify": {"enabled": _bool, "shop": _str, "api_version": _str},
    "systems.commercetools": {"enabled": _bool, "region": _str, "project_key": _str,
                              "scopes": _str},
    "systems.returngo": {"enabled": _bool, "shop_name": _str, "daily_budget": _pos_int},
    "systems.happy_returns": {"enabled": _bool, "retailer_id": _str},
    "systems.rebound": {"enabled": _bool, "webhook_auth": _one_of("shared_secret", "hmac")},
    "systems.netsuite": {"enabled": _bool, "account_id": _str, "auth": _one_of("tba", "oauth2")},
    "systems.shipbob": {"enabled": _bool, "channel_id": _str},
    "systems.csv": {"enabled": _bool, "folder": _str, "warehouse": _str},
    "systems.csv.columns": {},  # open: canonical column = file header
}

OPEN_VALUE_CHECKS: dict[str, Any] = {
    "roles": _one_of(*ROLES),
    "console.keys": _str,
    "policy.approval_threshold": _amount,
    "owners": _one_of(*TEAMS),
    "reasons.map": _str,
    "systems.csv.columns": _str,
    "dispositions": _str,
}


@dataclass
class Config:
    path: Path | None
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, dotted: str) -> dict[str, Any]:
        value = self.get(dotted, {})
        return value if isinstance(value, dict) else {}


def _key_lines(text: str) -> dict[str, int]:
    """Map dotted keys to the line they are written on (tomllib does not keep positions)."""
    lines: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", line)
        if header:
            table = ".".join(p.strip().strip('"') for p in header.group(1).split("."))
            lines.setdefault(table, number)
            continue
        key = re.match(r'^("[^"]+"|[A-Za-z0-9_\-]+(?:\s*\.\s*[A-Za-z0-9_\-]+)*)\s*=', line)
        if key:
            name = ".".join(p.strip().strip('"') for p in key.group(1).split("."))
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines


def validate(data: dict[str, Any], text: str, path: Path | str) -> list[str]:
    where = _key_lines(text)
    problems: list[str] = []

    def report(dotted: str, message: str) -> None:
        line = where.get(dotted)
        parent = dotted
        while line is None and "." in parent:
            parent = parent.rsplit(".", 1)[0]
            line = where.get(parent)
        at = f"line {line}" if line else "line ?"
        problems.append(f"{path}: {at}: {dotted}: {message}")

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if dotted in SCHEMA or any(s.startswith(dotted + ".") for s in SCHEMA):
                    walk(value, dotted)
                elif prefix in OPEN_VALUE_CHECKS:
                    report(dotted, "expected a value, not a table")
                else:
                    report(dotted, "unknown section")
                continue
            if prefix in OPEN_VALUE_CHECKS:
                error = OPEN_VALUE_CHECKS[prefix](value)
            elif prefix in SCHEMA and key in SCHEMA[prefix]:
                error = SCHEMA[prefix][key](value)
            elif prefix in SCHEMA or prefix == "":
                known = ", ".join(sorted(SCHEMA.get(prefix, {}))) or "none"
                error = f"unknown key (known here: {known})"
            else:
                error = "unknown section"
            if error:
                report(dotted, error)

    walk(data, "")
    master = set(data.get("reasons", {}).get("master", []) or [])
    for raw, code in (data.get("reasons", {}).get("map", {}) or {}).items():
        if master and isinstance(code, str) and code not in master:
            report(f"reasons.map.{raw}", f"maps to {code!r}, which is not in reasons.master")
    return problems


def load_config(path: Path, *, required: bool = False) -> Config:
    """Read and validate. A missing file is an empty config unless `required`."""
    if not path.exists():
        if required:
            raise ConfigError([f"{path}: no such file"])
        return Config(None, {})
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    problems = validate(data, text, path)
    if problems:
        raise ConfigError(problems)
    return Config(path, data)


def database_url(config: Config, paths: Paths) -> str:
    """RETURNLINE_DATABASE_URL beats [database] url beats SQLite in the data dir."""
    url = os.environ.get("RETURNLINE_DATABASE_URL") or config.get("database.url")
    if url:
        return url
    return f"sqlite:///{paths.default_database}"
