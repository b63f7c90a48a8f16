"""Building a whole sandboxed world: every simulator, every real connector pointed at it.

Used by `returnline replay`, `returnline demo` and the end-to-end tests. The connectors are the
production ones; only the transport differs (in-process sandboxes instead of the network).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from rules.policy import Policy
from storage.credentials import CredentialStore
from storage.db import Database
from storage.tables import ImportedFileRow, ReturnRow
from sync.connectors.commercetools import CommercetoolsConnector
from sync.connectors.csv_grading import CsvGradingConfig, DropFolder
from sync.connectors.happy_returns import HappyReturnsConnector
from sync.connectors.netsuite import NetSuiteConfig, NetSuiteErp, TokenBasedAuth
from sync.connectors.rebound import ReboundConnector
from sync.connectors.returngo import ReturnGOConnector
from sync.connectors.shipbob import ShipBobFeed
from sync.connectors.shopify import ShopifyConnector
from sync.engine import Engine, Systems, known_return
from sync.sandbox.base import Sandbox, SandboxTransport, SimClock
from sync.sandbox.commercetools import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    CommercetoolsSandbox,
)
from sync.sandbox.csv_warehouse import CsvWarehouse
from sync.sandbox.happy_returns import HappyReturnsSandbox
from sync.sandbox.netsuite import DEMO_TBA, NetSuiteSandbox
from sync.sandbox.rebound import ReboundSandbox
from sync.sandbox.returngo import ReturnGOSandbox
from sync.sandbox.shipbob import DEMO_CHANNEL, DEMO_TOKEN, ShipBobSandbox
from sync.sandbox.shopify import SANDBOX_ACCESS_TOKEN, ShopifySandbox

SHOP = "returnline-demo"
CT_REGION = "europe-west1.gcp"
CT_PROJECT = "returnline-demo"
NS_ACCOUNT = "1234567_SB1"
RETURNGO_SHOP = "returnline-demo.myshopify.com"
HR_RETAILER = "returnline-demo"

# Scenario steps that act on the sandboxes alone (no engine): the replay plays them in-process,
# `returnline sandbox serve` plays them for a scenario posted to its control port.
DRIVER_VERBS = frozenset({"request_return", "in_transit", "receive", "grade", "create_order",
                          "cancel_order", "edit_order", "manual_refund", "set_location", "fault"})


@dataclass
class World:
    clock: SimClock
    commerce_name: str
    platform_name: str
    feed_name: str
    commerce_sandbox: Any
    platform_sandbox: Any
    erp_sandbox: NetSuiteSandbox
    wms_sandbox: Any  # ShipBobSandbox or CsvWarehouse
    transport: SandboxTransport | None  # None when the sandboxes are served on sockets
    client: httpx.Client | None
    systems: Systems | None
    csv_folder: Path | None = None
    engine: Engine | None = None
    _tmp: Any = None
    _seeded_rma: dict[str, str] = field(default_factory=dict)
    _wms_created: set[str] = field(default_factory=set)
    _locations: list[str] = field(default_factory=list)
    warehouse_ids: list[str] = field(default_factory=list)
    bundles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    # --- the engine over this world ----------------------------------------------------------------
    def engine_for(self, db: Database, policy: Policy) -> Engine:
        self.engine = Engine(db, self.clock, self.systems, policy)
        if self.feed_name == "csv":
            self.systems.feeds["csv"] = self._csv_feed(db)
        return self.engine

    def _csv_feed(self, db: Database) -> DropFolder:
        def already(name: str, sha: str) -> bool:
            with db.session() as s:
                return s.get(ImportedFileRow, (name, sha)) is not None
        # The 3PL's files say where goods were put, not which of our warehouses it is.
        warehouse = self.warehouse_ids[0] if self.warehouse_ids else "wms"
        return DropFolder(self.csv_folder, CsvGradingConfig(warehouse=warehouse),
                          already_imported=already)

    # --- seeding -------------------------------------------------------------------------------
    def seed(self, scenario) -> None:
        cs = self.commerce_sandbox
        for wh in scenario.warehouses:
            for loc in wh.get("locations", []):
                cs.seed_location(loc["id"], sellable=loc["sellable"],
                                 active=loc.get("active", True))
                self._locations.append(loc["id"])
                self.erp_sandbox.seed_location(loc["id"])
        self.bundles.update({b["sku"]: b.get("components", []) for b in scenario.bundles})
        components = sorted({c["sku"] for b in scenario.bundles for c in b.get("components", [])})
        if components:
            self.erp_sandbox.seed_items(components)
            for sku in components:  # components are stocked items of their own
                self._seed_stock_item(sku)
        for order in scenario.orders:
            self.create_order(order)

    def create_order(self, order: dict[str, Any]) -> None:
        """An order in commerce (unless "late") and known to the returns platform."""
        currency = order.get("currency", "GBP")
        lines = order["lines"]
        if order.get("late"):
            # The platform already has it (from the storefront) without commerce's line ids.
            refs = [None] * len(lines)
        else:
            self.commerce_sandbox.seed_order(order["number"], currency=currency, lines=lines,
                                             store=order.get("store"), email=order.get("email"))
            # The returns platform knows the order as commerce does: same line ids.
            refs = self._line_refs(order["number"])
        platform_lines = [{**line, "line_ref": ref} for line, ref in zip(lines, refs, strict=True)]
        # A returns platform lists a bundle's components under the bundle's order line.
        for line, ref in zip(lines, refs, strict=True):
            for comp in self.bundles.get(line["sku"], []):
                platform_lines.append({"sku": comp["sku"], "qty": line["qty"] * comp.get("qty", 1),
                                       "unit_price": "0", "line_ref": ref})
        self.platform_sandbox.seed_order(order["number"], currency=currency, lines=platform_lines,
                                         email=order.get("email"))
        self.erp_sandbox.seed_items(sorted({line["sku"] for line in lines}))

    def _seed_stock_item(self, sku: str) -> None:
        first = next(iter(self._locations), None)
        if first is None:
            return
        if self.commerce_name == "shopify":
            self.commerce_sandbox.seed_inventory(sku, first, available=0)
        else:
            self.commerce_sandbox.seed_stock(sku, first, 0)

    def publish_late_order(self, order: dict[str, Any]) -> None:
        self.commerce_sandbox.seed_order(order["number"], currency=order.get("currency", "GBP"),
                                         lines=order["lines"], store=order.get("store"),
                                         email=order.get("email"))

    def _line_refs(self, number: str) -> list[str]:
        if self.commerce_name == "shopify":
            return [li["id"] for li in self.commerce_sandbox.order(number)["lines"]]
        return [li["id"] for li in self.commerce_sandbox.order_doc(number)["lineItems"]]

    # --- scenario verbs that touch several systems ---------------------------------------------------
    def drive(self, step: dict[str, Any], scenario) -> None:
        """Carry out one sandbox-side step (a verb in DRIVER_VERBS)."""
        verb = step["do"]
        if verb == "request_return":
            self.request_return(step)
            default_wh = scenario.warehouses[0]["id"] if scenario.warehouses else "wms"
            self.remember_request(step, default_wh)
        elif verb == "in_transit":
            self.platform_sandbox.in_transit(step["return"])
        elif verb == "receive":
            self.platform_sandbox.receive(step["return"])
            self.warehouse_arrived(step["return"], self.platform_id_of(step["return"]))
        elif verb == "grade":
            self.grade(step, self.platform_id_of(step["return"]))
        elif verb == "create_order":
            order = step["order"]
            if isinstance(order, str):  # a "late" order from the list reaches commerce now
                order = next(o for o in scenario.orders if o["number"] == order)
                self.publish_late_order(order)
            else:
                self.create_order(order)
        elif verb == "cancel_order":
            self.commerce_sandbox.cancel_order(step["order"])
        elif verb == "edit_order":
            self.commerce_sandbox.edit_order(step["order"], lines=step["lines"])
        elif verb == "manual_refund":
            self.commerce_sandbox.manual_refund(step["order"], lines=step.get("lines") or [],
                                                amount=step.get("amount"),
                                                note=step.get("note", ""))
        elif verb == "set_location":
            self.commerce_sandbox.set_location_active(step["location"], step["active"])
        elif verb == "fault":
            self.sandbox_named(step["system"]).arm_fault(step["operation"], step["kind"],
                                                         step.get("count", 1))
        else:
            raise ValueError(f"{verb!r} is not a sandbox step")

    def platform_id_of(self, label: str) -> str:
        if label not in self._seeded_rma:
            raise KeyError(f"return {label!r} was never requested")
        return self._seeded_rma[label]

    def export_state(self) -> dict[str, Any]:
        """What the world remembers between steps (labels, lines), for a served world."""
        return {"seeded_rma": self._seeded_rma, "wms_created": sorted(self._wms_created),
                "locations": self._locations, "warehouse_ids": self.warehouse_ids,
                "bundles": self.bundles, "lines": self._return_lines,
                "orders": self._order_of, "warehouses": self._warehouse_of}

    def load_state(self, state: dict[str, Any]) -> None:
        self._seeded_rma.update(state.get("seeded_rma", {}))
        self._wms_created.update(state.get("wms_created", []))
        self._locations.extend(x for x in state.get("locations", []) if x not in self._locations)
        self.warehouse_ids.extend(x for x in state.get("warehouse_ids", [])
                                  if x not in self.warehouse_ids)
        self.bundles.update(state.get("bundles", {}))
        self._return_lines.update(state.get("lines", {}))
        self._order_of.update(state.get("orders", {}))
        self._warehouse_of.update(state.get("warehouses", {}))

    def request_return(self, step: dict[str, Any]) -> str:
        lines = [{"sku": ln["sku"], "qty": ln.get("qty", 1), "reason": ln.get("reason", ""),
                  "resolution": ln.get("resolution", "refund"),
                  "exchange_sku": ln.get("exchange_sku")} for ln in step["lines"]]
        pid = self.platform_sandbox.request_return(step["return"], step["order"], lines,
                                                   email=step.get("email"),
                                                   store=step.get("store"))
        self._seeded_rma[step["return"]] = str(pid)
        return str(pid)

    def _warehouse_ref(self, label: str, platform_id: str) -> str:
        """The reference the warehouse files the return under: the RMA Returnline knows."""
        if self.engine is not None:
            with self.engine.db.session() as s:
                rma = s.execute(select(ReturnRow.rma).where(
                    ReturnRow.platform == self.platform_name,
                    ReturnRow.platform_id == platform_id)).scalar()
            if rma:
                return rma
        return platform_id

    def _ensure_wms_return(self, label: str, platform_id: str, warehouse: str) -> None:
        if label in self._wms_created:
            return
        self.wms_sandbox.create_return(label, self._warehouse_ref(label, platform_id),
                                       self._order_of.get(label, ""),
                                       self._return_lines.get(label, []), warehouse)
        self._wms_created.add(label)

    def warehouse_arrived(self, label: str, platform_id: str) -> None:
        self._ensure_wms_return(label, platform_id, self._warehouse_of.get(label, "wms"))
        self.wms_sandbox.arrive(label)

    def grade(self, step: dict[str, Any], platform_id: str) -> None:
        label = step["return"]
        warehouse = step.get("warehouse") or self._warehouse_of.get(label, "wms")
        self._ensure_wms_return(label, platform_id, warehouse)
        lines = []
        wanted = {ln["sku"]: ln.get("qty", 1) for ln in self._return_lines.get(label, [])}
        for ln in step["lines"]:
            lines.append({"sku": ln["sku"], "qty": ln.get("qty", wanted.get(ln["sku"], 1)),
                          "condition": ln["condition"]})
        self.wms_sandbox.grade(label, lines)

    @property
    def _return_lines(self) -> dict[str, list[dict[str, Any]]]:
        return self.__dict__.setdefault("_lines_by_label", {})

    @property
    def _order_of(self) -> dict[str, str]:
        return self.__dict__.setdefault("_order_by_label", {})

    @property
    def _warehouse_of(self) -> dict[str, str]:
        return self.__dict__.setdefault("_wh_by_label", {})

    def remember_request(self, step: dict[str, Any], default_warehouse: str) -> None:
        self._return_lines[step["return"]] = [
            {"sku": ln["sku"], "qty": ln.get("qty", 1)} for ln in step["lines"]]
        self._order_of[step["return"]] = step["order"]
        self._warehouse_of[step["return"]] = step.get("warehouse") or default_warehouse

    # --- reading the truth back ------------------------------------------------------------------
    def sandboxes(self) -> dict[str, Sandbox]:
        out = {self.commerce_name: self.commerce_sandbox, self.platform_name: self.platform_sandbox,
               "erp": self.erp_sandbox}
        if isinstance(self.wms_sandbox, Sandbox):
            out["wms"] = self.wms_sandbox
        return out

    def sandbox_named(self, system: str) -> Sandbox:
        aliases = {"commerce": self.commerce_name, "platform": self.platform_name,
                   "netsuite": "erp", "shipbob": "wms"}
        name = aliases.get(system, system)
        found = self.sandboxes().get(name)
        if found is None:
            raise KeyError(f"no sandbox for {system!r} in this scenario "
                           f"(have: {', '.join(self.sandboxes())})")
        return found

    def external(self, id_to_label: dict[str, str]) -> dict[str, Any]:
        def relabel(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for item in items:
                item = dict(item)
                if item.get("return") is not None:
                    item["return"] = id_to_label.get(item["return"], item["return"])
                out.append(item)
            return out

        commerce = self.commerce_sandbox.external_view()
        erp = self.erp_sandbox.external_view()
        platform = self.platform_sandbox.external_view()
        return {
            "commerce": {
                "refunds": relabel(commerce.get("refunds", [])),
                "stock": commerce.get("stock", []),
                "exchange_orders": commerce.get("exchange_orders", []),
            },
            "erp": {"credit_notes": [
                {k: v for k, v in cn.items() if k in ("return", "amount", "currency")}
                for cn in relabel(erp.get("credit_notes", []))],
                "return_authorisations": [
                {k: v for k, v in ra.items() if k in ("return", "amount", "currency")}
                for ra in relabel(erp.get("return_authorisations", []))]},
            "platform": {k: relabel(v) if isinstance(v, list) else v
                         for k, v in platform.items()},
        }

    def request_counts(self) -> dict[str, int]:
        return {name: len(sb.journal) for name, sb in sorted(self.sandboxes().items())}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def build_world(scenario, clock: SimClock, db: Database | None = None, *,
                rate_limits: bool = True, credentials: CredentialStore | None = None) -> World:
    """Every sandbox the scenario names, seeded, and the real connectors pointed at them.

    With `credentials`, the Shopify token comes from the credential store (as in production)
    and the sandbox is set to expect that token."""
    commerce_name, platform_name = scenario.commerce, scenario.returns_platform
    shopify_token = SANDBOX_ACCESS_TOKEN
    if credentials is not None:
        shopify_token = credentials.require("shopify", "access_token").reveal()
    if commerce_name == "shopify":
        commerce_sb = ShopifySandbox(clock, rate_limits=rate_limits, access_token=shopify_token)
    else:
        commerce_sb = CommercetoolsSandbox(clock, project_key=CT_PROJECT)
    platform_sb = {"rebound": ReboundSandbox, "returngo": ReturnGOSandbox,
                   "happy_returns": HappyReturnsSandbox}[platform_name](
        clock, limits_enabled=rate_limits)
    erp_sb = NetSuiteSandbox(clock, account_id=NS_ACCOUNT)
    tmp = None
    csv_folder = None
    if scenario.warehouse_feed == "csv":
        tmp = tempfile.TemporaryDirectory(prefix="returnline-csv-")
        csv_folder = Path(tmp.name)
        wms_sb: Any = CsvWarehouse(csv_folder, clock)
    else:
        wms_sb = ShipBobSandbox(clock)
    sandboxes = [commerce_sb, platform_sb, erp_sb]
    if isinstance(wms_sb, Sandbox):
        sandboxes.append(wms_sb)
    transport = SandboxTransport(sandboxes)
    client = httpx.Client(transport=transport, timeout=30.0)

    if commerce_name == "shopify":
        commerce = ShopifyConnector(client, SHOP, shopify_token, clock=clock)
    else:
        commerce = CommercetoolsConnector(client, CT_REGION, CT_PROJECT, DEFAULT_CLIENT_ID,
                                          DEFAULT_CLIENT_SECRET, clock=clock)
    platform = _platform_connector(platform_name, client, clock, db)
    erp = NetSuiteErp(client, NetSuiteConfig(account_id=NS_ACCOUNT),
                      TokenBasedAuth(NS_ACCOUNT, clock=clock, **DEMO_TBA), clock=clock)
    feeds: dict[str, Any] = {}
    if scenario.warehouse_feed == "shipbob":
        feeds["wms"] = ShipBobFeed(client, DEMO_TOKEN, DEMO_CHANNEL)
    systems = Systems(commerce_name=commerce_name, commerce=commerce,
                      platform_name=platform_name, platform=platform,
                      erp_name="erp", erp=erp, feeds=feeds)
    return World(clock=clock, commerce_name=commerce_name, platform_name=platform_name,
                 feed_name=scenario.warehouse_feed, commerce_sandbox=commerce_sb,
                 platform_sandbox=platform_sb, erp_sandbox=erp_sb, wms_sandbox=wms_sb,
                 transport=transport, client=client, systems=systems, csv_folder=csv_folder,
                 warehouse_ids=[wh["id"] for wh in scenario.warehouses], _tmp=tmp)


def _platform_connector(name: str, client: httpx.Client, clock: SimClock, db: Database | None):
    known = known_return(db) if db is not None else None
    if name == "returngo":
        return ReturnGOConnector(client, "rg-test-key", RETURNGO_SHOP, clock=clock,
                                 known_return=known)
    if name == "happy_returns":
        return HappyReturnsConnector(client, "hr-test-key", HR_RETAILER, clock=clock)
    return ReboundConnector(client, client_id="rb-client", client_secret="rb-client-secret",
                            legacy_login="returnline", legacy_api_key="rb-legacy-key",
                            clock=clock, known_return=known)
