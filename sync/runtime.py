"""Building the engine from the user's config: database, policy, and which systems are on.

The CLI's operations (approve, reclassify, ...) need the engine only to re-plan; `returnline
sync` also needs the connectors, built from config and the credential store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rules.policy import Policy
from storage.config import Config, Paths, database_url
from storage.db import Database
from sync.engine import Engine, Systems
from sync.operations import Operations


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def policy_from_config(config: Config) -> Policy:
    """[policy], [policy.approval_threshold] and [owners] as the rules' Policy."""
    data: dict[str, Any] = {k: v for k, v in config.section("policy").items()
                            if not isinstance(v, dict)}
    thresholds = config.section("policy.approval_threshold")
    if thresholds:
        data["approval_threshold"] = thresholds
    owners = config.section("owners")
    if owners:
        data["owners"] = owners
    return Policy.from_dict(data)


def enabled(config: Config, kind: tuple[str, ...], default: str) -> str:
    for name in kind:
        if config.get(f"systems.{name}.enabled", False):
            return name
    return default


@dataclass
class Runtime:
    db: Database
    engine: Engine
    operations: Operations


def runtime_from_config(config: Config, paths: Paths, *, db_url: str | None = None) -> Runtime:
    db = Database(db_url or database_url(config, paths))
    systems = Systems(
        commerce_name=enabled(config, ("shopify", "commercetools"), "shopify"), commerce=None,
        platform_name=enabled(config, ("rebound", "returngo", "happy_returns"), "rebound"),
        platform=None, erp_name="erp", erp=None)
    clock = WallClock()
    engine = Engine(db, clock, systems, policy_from_config(config))
    ops = Operations(db, clock.now, engine.replan, mappings_changed=engine.invalidate_mappings)
    return Runtime(db, engine, ops)
