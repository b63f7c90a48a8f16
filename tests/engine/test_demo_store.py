"""The demo store shows what the engine issue promises it shows, played by the real engine
against the sandboxes: every state, a held high-value refund, unknown reasons, a cancelled
order, a restock to an inactive location that failed, a bundle, an exchange, an SLA breach."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from storage.tables import ExceptionRow, HoldRow
from sync.demo import BUNDLE, demo_data, demo_scenario
from sync.replay import Replay


def test_the_demo_store_shows_every_promised_case(tmp_path):
    data = demo_data()
    assert len(data["orders"]) == 500
    replay = Replay.build(demo_scenario(), f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        replay.run()
        result = replay.result()
        returns = result["returns"]
        assert len(returns) == 150
        states = Counter(r["state"] for r in returns.values())
        assert {"requested", "in_transit", "received", "awaiting_approval", "refunded",
                "closed"} <= set(states)
        with replay.db.reader() as s:
            holds = list(s.execute(select(HoldRow).where(HoldRow.decision.is_(None))).scalars())
            excs = list(s.execute(select(ExceptionRow).where(
                ExceptionRow.resolved_at.is_(None))).scalars())
        # a held high-value refund (threshold GBP 150.00)
        assert any(h.kind == "refund_approval" and h.amount_minor > 15000 for h in holds)
        types = Counter(x.type for x in excs)
        assert types["unknown_reason"] >= 1 and types["sla_breach"] >= 1
        assert types["order_not_returnable"] >= 1  # the cancelled orders
        inactive = [x for x in excs if x.type == "restock_failed"]
        assert inactive and all("north-sellable' is inactive" in x.message and
                                x.owner == "warehouse" for x in inactive)
        external = result["external"]["commerce"]
        assert external["exchange_orders"] and all(
            e["total"] == "0.00" for e in external["exchange_orders"])
        components = {sku for sku, *_ in BUNDLE[2]}  # a bundle restocked by component
        assert any(m["sku"] in components for m in external["stock"])
    finally:
        replay.db.dispose()
