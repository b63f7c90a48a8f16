"""Webhook intake: one endpoint per platform, verified, stored before answering, deduplicated.

`WebhookIntake.receive` checks the platform's signature and stores the raw delivery in
`webhook_events` (unique per platform + dedupe key) before the 2xx goes back, so an event is
never lost and a redelivery is a no-op. `process_pending` (an engine job) turns stored events
into observations; an event that fails is kept with its error and tried again next round.
Polling stays on as the safety net: webhooks only make things faster.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from storage.db import Database
from storage.tables import WebhookEventRow
from sync.connectors import shipbob
from sync.connectors.happy_returns import returns_from_webhook, verify_happy_returns_webhook
from sync.connectors.rebound import parse_push, verify_rebound_webhook
from sync.connectors.returngo import verify_returngo_webhook
from sync.connectors.shopify.webhooks import verify_webhook as verify_shopify
from sync.connectors.shopify.webhooks import webhook_dedupe_key, webhook_topic

log = logging.getLogger("returnline.webhooks")

MAX_ATTEMPTS = 5


class Rejected(Exception):
    """The delivery is refused (bad signature, unreadable): answer 401 and store nothing."""


# A verifier returns (dedupe key, event type) or raises Rejected.
Verifier = Callable[[Mapping[str, str], bytes], tuple[str, str]]


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def verifiers(secrets: Mapping[str, str], *, rebound_mode: str = "hmac",
              now: Callable[[], datetime] | None = None) -> dict[str, Verifier]:
    """Each platform's own signature check, for the platforms whose secret is configured."""
    out: dict[str, Verifier] = {}

    def wrap(fn: Callable[[Mapping[str, str], bytes], tuple[str, str, str]]) -> Verifier:
        def check(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
            try:
                key, _resource, event = fn(headers, body)
            except ValueError as exc:  # WebhookRejected, or a body that is not JSON
                raise Rejected(str(exc)) from None
            return key, event
        return check

    if "shopify" in secrets:
        def shopify_check(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
            if not verify_shopify(secrets["shopify"], body, headers):
                raise Rejected("X-Shopify-Hmac-Sha256 does not match the body")
            return webhook_dedupe_key(headers) or f"shopify:{_sha(body)}", \
                webhook_topic(headers) or ""
        out["shopify"] = shopify_check
    if "returngo" in secrets:
        out["returngo"] = wrap(lambda h, b: verify_returngo_webhook(h, b, secrets["returngo"]))
    if "happy_returns" in secrets:
        out["happy_returns"] = wrap(
            lambda h, b: verify_happy_returns_webhook(h, b, secrets["happy_returns"]))
    if "rebound" in secrets:
        out["rebound"] = wrap(lambda h, b: verify_rebound_webhook(
            h, b, mode=rebound_mode, secret=secrets["rebound"]))
    if "shipbob" in secrets:
        def shipbob_check(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
            try:
                shipbob.verify_webhook(secrets["shipbob"], headers, body,
                                       now() if now else datetime.now(UTC))
            except ValueError as exc:  # WebhookRejected included
                raise Rejected(str(exc)) from None
            lower = {k.lower(): v for k, v in headers.items()}
            return f"shipbob:{lower['webhook-id']}", \
                lower.get("x-webhook-topic") or lower.get("shipbob-topic") or "return"
        out["shipbob"] = shipbob_check
    return out


@dataclass
class Answer:
    status: int
    message: str


class WebhookIntake:
    def __init__(self, db: Database, now: Callable[[], datetime],
                 checks: Mapping[str, Verifier]) -> None:
        self.db = db
        self.now = now
        self.checks = dict(checks)

    def receive(self, platform: str, headers: Mapping[str, str], body: bytes) -> Answer:
        check = self.checks.get(platform)
        if check is None:
            return Answer(404, f"no webhook endpoint for {platform!r}")
        try:
            key, event = check(headers, body)
        except Rejected as exc:
            log.warning("%s webhook refused: %s", platform, exc)
            return Answer(401, "signature refused")
        safe_headers = {k: v for k, v in headers.items()
                        if "signature" not in k.lower() and "hmac" not in k.lower()
                        and k.lower() not in ("authorization", "x-api-key", "x-hr-apikey")}
        row = {"platform": platform, "dedupe_key": key, "event_type": event,
               "received_at": self.now(), "headers": safe_headers,
               "body": body.decode("utf-8", "replace")}
        with self.db.session() as s:
            dialect = s.get_bind().dialect.name
            stmt = (postgresql.insert(WebhookEventRow) if dialect == "postgresql"
                    else sqlite.insert(WebhookEventRow)).values(**row)
            new = s.execute(stmt.on_conflict_do_nothing(
                index_elements=["platform", "dedupe_key"]).returning(WebhookEventRow.id)).first()
        return Answer(200, "stored" if new else "duplicate")

    def asgi_app(self):
        """POST /webhooks/{platform}: the raw body is verified, stored, then answered."""
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def endpoint(request: Request) -> JSONResponse:
            body = await request.body()
            answer = await run_in_threadpool(self.receive, request.path_params["platform"],
                                             dict(request.headers), body)
            return JSONResponse({"result": answer.message}, status_code=answer.status)

        return Starlette(routes=[Route("/webhooks/{platform}", endpoint, methods=["POST"])])


def process_pending(engine: Any, limit: int = 200) -> int:
    """Turn stored deliveries into observations (the engine's `webhooks` job)."""
    with engine.db.session() as s:
        rows = list(s.execute(select(WebhookEventRow).where(
            WebhookEventRow.processed_at.is_(None)).order_by(WebhookEventRow.id)
            .limit(limit)).scalars())
    done = 0
    for row in rows:
        if (row.error or "").startswith(f"gave up after {MAX_ATTEMPTS}"):
            continue
        try:
            _apply(engine, row)
            error = None
        except Exception as exc:  # noqa: BLE001 - kept with its reason, retried next round
            error = f"{type(exc).__name__}: {exc}"
            log.warning("webhook %s %s not processed: %s", row.platform, row.dedupe_key, error)
        with engine.db.session() as s:
            fresh = s.get(WebhookEventRow, row.id)
            if error is None:
                fresh.processed_at, fresh.error = engine.now(), None
                done += 1
            else:
                tries = int((fresh.error or "try 0").split("try ")[-1].split(":")[0] or 0) \
                    if (fresh.error or "").startswith("try ") else 0
                tries += 1
                fresh.error = (f"gave up after {MAX_ATTEMPTS} tries: {error}"
                               if tries >= MAX_ATTEMPTS else f"try {tries}: {error}")
    return done


def _apply(engine: Any, row: WebhookEventRow) -> None:
    body = row.body.encode("utf-8")
    systems = engine.systems
    if row.platform == "shopify":
        data = json.loads(body)
        number = str(data.get("order_number") or data.get("name") or "").lstrip("#")
        if not number and data.get("order_id") is not None:
            number = _order_ref_by_id(engine, f"gid://shopify/Order/{data['order_id']}")
        if number:  # the order changed (a refund by hand, a cancel): re-read and re-plan
            engine.refresh_order_and_replan(number)
        return
    if row.platform == "shipbob":
        feed = next(f for f in systems.feeds.values() if isinstance(f, shipbob.ShipBobFeed))
        gradings = feed.gradings_of(json.loads(body))  # verified when it was received
        with engine.db.session() as s:
            touched = engine.record_graded_lines(s, gradings, engine.now())
            engine.replan(s, touched, engine.now())
        return
    if row.platform != systems.platform_name:
        raise ValueError(f"webhook from {row.platform}, but the returns platform is "
                         f"{systems.platform_name}")
    if row.platform == "happy_returns":
        for ret in returns_from_webhook(body):
            engine.observe_return(ret, json.loads(body))
    elif row.platform == "rebound":
        payload = json.loads(body)
        engine.observe_return(parse_push(payload), payload)
    else:  # ReturnGO's webhook says what changed; the RMA itself is read again
        data = json.loads(body)
        rma_id = str(data.get("rmaId") or data.get("rma_id") or (data.get("data") or {}).get(
            "rmaId") or "")
        if not rma_id:
            raise ValueError("ReturnGO webhook without an rmaId")
        ret, raw = systems.platform.get_return(rma_id)
        engine.observe_return(ret, raw)


def _order_ref_by_id(engine: Any, order_id: str) -> str:
    from storage.tables import OrderSnapshotRow

    with engine.db.reader() as s:
        ref = s.execute(select(OrderSnapshotRow.order_ref).where(
            OrderSnapshotRow.order_id == order_id)).scalar()
    return ref or ""
