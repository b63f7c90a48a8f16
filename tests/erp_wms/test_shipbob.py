"""ShipBob feed against the ShipBob sandbox: gradings, webhooks, polling, mapping safety."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from rules.model import Condition
from sync.connectors.base import AuthError, TransientError, WebhookRejected
from sync.connectors.shipbob import ShipBobFeed
from sync.sandbox.base import SandboxTransport
from sync.sandbox.shipbob import DEMO_CHANNEL, DEMO_TOKEN, DEMO_WEBHOOK_SECRET, ShipBobSandbox


@pytest.fixture
def shipbob(clock) -> ShipBobSandbox:
    return ShipBobSandbox(clock)


@pytest.fixture
def feed(shipbob) -> ShipBobFeed:
    with httpx.Client(transport=SandboxTransport([shipbob])) as client:
        yield ShipBobFeed(client, DEMO_TOKEN, DEMO_CHANNEL, page_size=2)


def graded(shipbob, label="R1", rma="RMA-1"):
    shipbob.create_return(label, rma, "1001", [{"sku": "TEE-M", "qty": 2}, {"sku": "MUG", "qty": 1}],
                          "uk-dc")
    shipbob.arrive(label)
    shipbob.grade(label, [{"sku": "TEE-M", "qty": 1, "condition": "sellable"},
                          {"sku": "TEE-M", "qty": 1, "condition": "damaged"},
                          {"sku": "MUG", "qty": 1, "condition": "wrong_item"}])


def test_webhook_gradings_and_duplicate_delivery_share_a_dedupe_key(shipbob, feed, clock):
    graded(shipbob)
    deliveries = shipbob.take_webhooks()
    assert [d["topic"] for d in deliveries] == ["return.updated", "return.completed"]
    completed = deliveries[-1]
    event = feed.parse_webhook(completed["headers"], completed["body"], DEMO_WEBHOOK_SECRET,
                               clock.now())
    again = feed.parse_webhook(completed["headers"], completed["body"], DEMO_WEBHOOK_SECRET,
                               clock.now() + timedelta(seconds=30))  # at-least-once redelivery
    assert event.dedupe_key == again.dedupe_key == f"shipbob:{completed['id']}"
    assert [g.source_ref for g in event.gradings] == [g.source_ref for g in again.gradings]
    assert event.topic == "return.completed" and event.rma == "RMA-1"
    assert [(g.sku, g.qty, g.condition, g.warehouse) for g in event.gradings] == [
        ("TEE-M", 1, Condition.SELLABLE, "uk-dc"), ("TEE-M", 1, Condition.DAMAGED, "uk-dc"),
        ("MUG", 1, Condition.WRONG_ITEM, "uk-dc")]
    assert shipbob.take_webhooks() == []  # handed over once


def test_bad_signature_tampered_body_and_stale_timestamp_are_rejected(shipbob, feed, clock):
    graded(shipbob)
    d = shipbob.take_webhooks()[-1]
    with pytest.raises(WebhookRejected, match="signature does not match"):
        feed.parse_webhook(d["headers"], d["body"], "whsec_" + "d3Jvbmctc2VjcmV0", clock.now())
    tampered = d["body"].replace(b'"Restock"', b'"Restock" ')
    with pytest.raises(WebhookRejected, match="signature does not match"):
        feed.parse_webhook(d["headers"], tampered, DEMO_WEBHOOK_SECRET, clock.now())
    with pytest.raises(WebhookRejected, match="5-minute window"):
        feed.parse_webhook(d["headers"], d["body"], DEMO_WEBHOOK_SECRET,
                           clock.now() + timedelta(minutes=6))
    headers = {k: v for k, v in d["headers"].items() if k != "webhook-signature"}
    with pytest.raises(WebhookRejected):
        feed.parse_webhook(headers, d["body"], DEMO_WEBHOOK_SECRET, clock.now())


def test_quarantine_never_maps_to_sellable(shipbob, feed):
    with pytest.raises(ValueError, match="Quarantine can never map to sellable"):
        ShipBobFeed(feed.http, DEMO_TOKEN, DEMO_CHANNEL,
                    action_conditions={"Quarantine": Condition.SELLABLE})
    with pytest.raises(ValueError, match="never turn"):
        ShipBobFeed(feed.http, DEMO_TOKEN, DEMO_CHANNEL,
                    reason_conditions={"looks fine": Condition.SELLABLE})
    # whatever the reason text, a Quarantine or Dispose action is never sellable
    for action in ("Quarantine", "Dispose"):
        for reason in (None, "Sellable", "Restock", "ok", "Wrong item"):
            assert feed.condition_for(action, reason) != Condition.SELLABLE
    shipbob.create_return("R9", "RMA-9", "1009", [{"sku": "LAMP", "qty": 3}], "uk-dc")
    shipbob.grade("R9", [{"sku": "LAMP", "qty": 2, "condition": "sellable",
                          "action": "Quarantine", "reason": "Sellable"},
                         {"sku": "LAMP", "qty": 1, "condition": "damaged", "action": "Dispose"}])
    lines = feed.gradings_of(feed.get_return(shipbob.state["labels"]["R9"]))
    assert [(g.qty, g.condition) for g in lines] == [(2, Condition.DAMAGED),
                                                     (1, Condition.DAMAGED)]


def test_polling_fallback_reads_completed_returns_across_pages(shipbob, feed, clock):
    for i in range(3):
        graded(shipbob, f"R{i}", f"RMA-{i}")
    shipbob.create_return("R-open", "RMA-open", "1100", [{"sku": "MUG", "qty": 2}], "uk-dc")
    shipbob.grade("R-open", [{"sku": "MUG", "qty": 1, "condition": "sellable"}])  # Processing
    clock.advance(timedelta(hours=1))
    page = feed.list_changed(None, clock.now())
    assert sorted(page.gradings) == ["RMA-0", "RMA-1", "RMA-2", "RMA-open"]
    assert len(page.gradings["RMA-1"]) == 3
    assert len(shipbob.requests_for("list_returns")) == 3  # two pages of completed + processing
    # later: only what completed since the cursor (minus the overlap) comes back
    clock.advance(timedelta(hours=2))
    graded(shipbob, "R-late", "RMA-late")
    later = feed.list_changed(page.next_cursor, clock.now())
    assert sorted(later.gradings) == ["RMA-late", "RMA-open"]


def test_missing_units_reported_when_completed(shipbob, feed):
    shipbob.create_return("R1", "RMA-1", "1001", [{"sku": "TEE-M", "qty": 2}], "uk-dc")
    shipbob.grade("R1", [{"sku": "TEE-M", "qty": 1, "condition": "sellable"},
                         {"sku": "TEE-M", "qty": 1, "condition": "missing"}])
    ret = feed.get_return(shipbob.state["labels"]["R1"])
    assert ret["status"] == "Completed"
    assert [(g.qty, g.condition) for g in feed.gradings_of(ret)] == [
        (1, Condition.SELLABLE), (1, Condition.MISSING)]


def test_api_errors_are_typed(shipbob, feed):
    shipbob.arm_fault("list_returns", "http_503")
    with pytest.raises(TransientError):
        feed.list_changed(None, shipbob.clock.now())
    with httpx.Client(transport=SandboxTransport([shipbob])) as client:
        with pytest.raises(AuthError) as err:
            ShipBobFeed(client, "not-the-token", DEMO_CHANNEL).get_return(1)
    assert "not-the-token" not in err.value.message
    assert shipbob.journal[-1]["headers"]["authorization"] == "***"


def test_state_round_trips_including_undelivered_webhooks(shipbob, clock):
    graded(shipbob)
    state = shipbob.dump_state()
    fresh = ShipBobSandbox(clock)
    fresh.load_state(json.loads(json.dumps(state)))
    assert fresh.external_view() == shipbob.external_view()
    assert [d["id"] for d in fresh.take_webhooks()] == \
        [d["id"] for d in shipbob.take_webhooks()]
