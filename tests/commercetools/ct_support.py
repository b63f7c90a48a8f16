"""Shared helpers for the commercetools tests (a unique module name: no package here)."""

from __future__ import annotations

from rules.model import Return, ReturnLine
from sync.connectors.commercetools import CommercetoolsConnector
from sync.sandbox.commercetools import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

REGION = "europe-west1.gcp"
PROJECT = "returnline-demo"


def make_connector(http, clock, **kw) -> CommercetoolsConnector:
    kw.setdefault("client_id", DEFAULT_CLIENT_ID)
    kw.setdefault("client_secret", DEFAULT_CLIENT_SECRET)
    return CommercetoolsConnector(http, REGION, PROJECT, clock=clock, **kw)


def a_return(clock, return_id="R1", order="1001", lines=(("l1", "TEE-M", 1),)) -> Return:
    return Return(return_id=return_id, platform="rebound", platform_id=return_id,
                  order_ref=order, requested_at=clock.now(),
                  lines=tuple(ReturnLine(line_id=lid, sku=sku, qty=qty, raw_reason="Too small")
                              for lid, sku, qty in lines))
