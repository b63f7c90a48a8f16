"""Building the engine from the user's config: database, policy, and which systems are on.

The CLI's operations (approve, reclassify, ...) need the engine only to re-plan; `returnline
sync` also needs the connectors, built from config and the credential store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from rules.policy import Policy
from storage.config import Config, Paths, database_url
from storage.credentials import CredentialError, CredentialStore
from storage.db import Database
from sync.clock import WallClock
from sync.engine import Engine, Systems, known_return
from sync.operations import Operations


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


def build_systems(config: Config, store: CredentialStore, clock: Any, db: Database,
                  client: httpx.Client | None = None) -> Systems:
    """The production connectors for the systems switched on in config, with credentials
    from the store (keyring, environment or file). A missing secret is a clear error."""
    from sync.connectors.commercetools import CommercetoolsConnector
    from sync.connectors.csv_grading import CsvGradingConfig, DropFolder
    from sync.connectors.happy_returns import HappyReturnsConnector
    from sync.connectors.netsuite import NetSuiteConfig, NetSuiteErp, TokenBasedAuth
    from sync.connectors.rebound import ReboundConnector
    from sync.connectors.returngo import ReturnGOConnector
    from sync.connectors.shipbob import ShipBobFeed
    from sync.connectors.shopify import ShopifyConnector

    if client is None and config.get("sandbox.endpoints"):
        from sync.endpoints import EndpointTransport

        client = httpx.Client(transport=EndpointTransport.from_file(
            config.get("sandbox.endpoints")), timeout=30.0)
    http = client or httpx.Client(timeout=30.0)
    secret = store.require
    commerce_name = enabled(config, ("shopify", "commercetools"), "")
    if commerce_name == "shopify":
        commerce = ShopifyConnector(http, config.get("systems.shopify.shop"),
                                    secret("shopify", "access_token").reveal(),
                                    config.get("systems.shopify.api_version", "2026-04"),
                                    clock=clock)
    elif commerce_name == "commercetools":
        commerce = CommercetoolsConnector(
            http, config.get("systems.commercetools.region"),
            config.get("systems.commercetools.project_key"),
            secret("commercetools", "client_id").reveal(),
            secret("commercetools", "client_secret").reveal(),
            config.get("systems.commercetools.scopes"), clock=clock)
    else:
        raise CredentialError("no commerce system is enabled: set [systems.shopify] or "
                              "[systems.commercetools] enabled = true")
    platform_name = enabled(config, ("rebound", "returngo", "happy_returns"), "")
    known = known_return(db)
    if platform_name == "returngo":
        platform = ReturnGOConnector(http, secret("returngo", "api_key").reveal(),
                                     config.get("systems.returngo.shop_name"), clock=clock,
                                     known_return=known)
    elif platform_name == "happy_returns":
        platform = HappyReturnsConnector(http, secret("happy_returns", "api_key").reveal(),
                                         config.get("systems.happy_returns.retailer_id"),
                                         clock=clock)
    elif platform_name == "rebound":
        platform = ReboundConnector(
            http, client_id=secret("rebound", "client_id").reveal(),
            client_secret=secret("rebound", "client_secret").reveal(),
            legacy_login=secret("rebound", "legacy_login").reveal(),
            legacy_api_key=secret("rebound", "legacy_api_key").reveal(), clock=clock,
            known_return=known)
    else:
        raise CredentialError("no returns platform is enabled: set one of [systems.rebound], "
                              "[systems.returngo], [systems.happy_returns] enabled = true")
    erp = None
    if config.get("systems.netsuite.enabled", False):
        account = config.get("systems.netsuite.account_id")
        auth = TokenBasedAuth(account, clock=clock, **{
            f: secret("netsuite", f).reveal()
            for f in ("consumer_key", "consumer_secret", "token_id", "token_secret")})
        erp = NetSuiteErp(http, NetSuiteConfig(account_id=account), auth, clock=clock)
    feeds: dict[str, Any] = {}
    if config.get("systems.shipbob.enabled", False):
        feeds["shipbob"] = ShipBobFeed(http, secret("shipbob", "token").reveal(),
                                       config.get("systems.shipbob.channel_id"))
    if config.get("systems.csv.enabled", False):
        from storage.tables import ImportedFileRow

        def already(name: str, sha: str) -> bool:
            with db.reader() as s:
                return s.get(ImportedFileRow, (name, sha)) is not None
        feeds["csv"] = DropFolder(
            config.get("systems.csv.folder"),
            CsvGradingConfig(warehouse=config.get("systems.csv.warehouse", "wms"),
                             columns=config.section("systems.csv.columns")),
            already_imported=already)
    return Systems(commerce_name=commerce_name, commerce=commerce, platform_name=platform_name,
                   platform=platform, erp_name="erp" if erp else None, erp=erp, feeds=feeds)


def open_database(config: Config, paths: Paths, db_url: str | None = None) -> Database:
    """The configured database, migrated, with the config's master data written into it
    (warehouses, reasons, bundles, dispositions), so every process plans with the same."""
    from rules.mappings import MappingsError
    from storage.config import ConfigError
    from storage.master_data import from_config, seed_master_data

    db = Database(db_url or database_url(config, paths))
    data = from_config(config.data)
    if data is not None:
        try:
            with db.session() as s:
                seed_master_data(s, data, WallClock().now(), by="config")
        except MappingsError as exc:
            db.dispose()
            raise ConfigError([f"{config.path}: master data: {exc}"]) from None
    return db


@dataclass
class Runtime:
    db: Database
    engine: Engine
    operations: Operations


def runtime_from_config(config: Config, paths: Paths, *, db_url: str | None = None) -> Runtime:
    db = open_database(config, paths, db_url)
    systems = Systems(
        commerce_name=enabled(config, ("shopify", "commercetools"), "shopify"), commerce=None,
        platform_name=enabled(config, ("rebound", "returngo", "happy_returns"), "rebound"),
        platform=None, erp_name="erp", erp=None)
    clock = WallClock()
    engine = Engine(db, clock, systems, policy_from_config(config))
    ops = Operations(db, clock.now, engine.replan, mappings_changed=engine.invalidate_mappings)
    return Runtime(db, engine, ops)
