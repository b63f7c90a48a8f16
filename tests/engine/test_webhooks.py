"""Webhook intake: stored before the answer, a bad signature refused, a repeat a no-op, and
stored events become observations (faster than polling, same ledger)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from starlette.testclient import TestClient

from storage.tables import ReturnRow, WebhookEventRow
from sync.replay import Replay
from sync.sandbox.shipbob import DEMO_WEBHOOK_SECRET
from sync.sandbox.shopify import SANDBOX_WEBHOOK_SECRET
from sync.scenario import load_scenario
from sync.webhooks import WebhookIntake, process_pending, verifiers

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"rebound": "rb-webhook-secret", "shopify": SANDBOX_WEBHOOK_SECRET,
           "shipbob": DEMO_WEBHOOK_SECRET}


def setup(tmp_path):
    scenario = load_scenario(ROOT / "scenarios" / "manual_refund_never_doubled.json")
    replay = Replay.build(scenario, f"sqlite:///{tmp_path / 'rl.db'}")
    intake = WebhookIntake(replay.db, replay.clock.now,
                           verifiers(SECRETS, now=replay.clock.now))
    return replay, intake


def deliver(intake, deliveries, platform=None):
    return [intake.receive(platform or d["platform"], d["headers"], d["body"].encode()
                           if isinstance(d["body"], str) else d["body"]) for d in deliveries]


def count(replay, model):
    with replay.db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_push_is_stored_once_and_observed_before_any_poll(tmp_path):
    replay, intake = setup(tmp_path)
    replay.step(replay.scenario.steps[0])  # the customer asks; no poll has run yet
    pushes = replay.world.platform_sandbox.take_webhooks()
    assert [a.status for a in deliver(intake, pushes)] == [200] * len(pushes)
    assert [a.message for a in deliver(intake, pushes)] == ["duplicate"] * len(pushes)
    assert count(replay, WebhookEventRow) == len(pushes)
    assert count(replay, ReturnRow) == 0
    assert process_pending(replay.world.engine) == len(pushes)
    with replay.db.session() as s:
        row = s.execute(select(ReturnRow)).scalars().one()
    assert row.order_ref == "1005" and row.state == "requested"


def test_a_bad_signature_is_refused_and_nothing_is_stored(tmp_path):
    replay, intake = setup(tmp_path)
    replay.step(replay.scenario.steps[0])
    push = replay.world.platform_sandbox.take_webhooks()[0]
    body = push["body"].encode() if isinstance(push["body"], str) else push["body"]
    answer = intake.receive("rebound", push["headers"], body.replace(b"1005", b"1006"))
    assert (answer.status, answer.message) == (401, "signature refused")
    assert count(replay, WebhookEventRow) == 0


def test_a_refund_made_in_the_admin_reaches_the_rules_by_webhook(tmp_path):
    replay, intake = setup(tmp_path)
    shop = replay.world.commerce_sandbox
    shop.subscribe_webhooks()
    for step in replay.scenario.steps[:4]:  # request, receive, advance, manual refund
        replay.step(step)
    answers = deliver(intake, shop.take_webhooks(), "shopify")
    assert answers and {a.status for a in answers} == {200}
    process_pending(replay.world.engine)  # no poll has run since the refund by hand
    assert [{k: x[k] for k in ("type", "owner", "open")}
            for x in replay.result()["returns"]["R1"]["exceptions"]] == [
        {"type": "already_refunded", "owner": "finance", "open": True}]


def test_warehouse_grading_by_webhook_and_over_http(tmp_path):
    replay, intake = setup(tmp_path)
    client = TestClient(intake.asgi_app())
    wms = replay.world.wms_sandbox
    replay.step(replay.scenario.steps[0])
    replay.step(replay.scenario.steps[1])  # arrives at the warehouse: return.updated
    late = wms.take_webhooks()
    replay.step({"do": "advance", "minutes": 10})
    replay.step({"do": "grade", "return": "R1", "warehouse": "uk-dc",
                 "lines": [{"sku": "TEE-M", "condition": "sellable"}]})
    for d in wms.take_webhooks():
        resp = client.post("/webhooks/shipbob", headers=d["headers"], content=d["body"])
        assert resp.status_code == 200 and resp.json()["result"] == "stored"
    # A delivery signed ten minutes ago is refused as a possible replay.
    resp = client.post("/webhooks/shipbob", headers=late[0]["headers"], content=late[0]["body"])
    assert resp.status_code == 401
    assert client.post("/webhooks/nowhere", content=b"{}").status_code == 404
    process_pending(replay.world.engine)
    with replay.db.session() as s:
        row = s.execute(select(ReturnRow)).scalars().one()
    assert row.warehouse_gradings and row.warehouse_gradings[0]["sku"] == "TEE-M"
