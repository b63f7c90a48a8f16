"""ReBOUND connector: Headless API (OAuth2 client credentials, 60-minute tokens) for return
orders per client order number; pushes (tracking milestones, refund triggers with item
conditions) verified per account; polling fallback over the legacy date-window search
(`/returns/search/json`, 7-day windows with a look-back, then `/returns/get/json` per id).

A Return's platform_id is "{clientOrderId}:{reboundOrderId}" (HAPI lists return orders per
client order number, so the id carries what a refetch needs). ReBOUND grades at its hub: the
item conditions become Gradings. Money: Returnline refunds in commerce (money_mover = returnline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from rules.model import (
    Condition,
    Grading,
    MoneyMover,
    Platform,
    PlatformStatus,
    Resolution,
    Return,
    ReturnLine,
)
from sync.connectors.base import (
    AuthError,
    CallRecord,
    Effect,
    NotFound,
    PermanentError,
    RateLimited,
    ReturnsPage,
    TransientError,
    WebhookRejected,
)
from sync.connectors.platform_assumptions import (
    REBOUND_CONDITIONS,
    REBOUND_HAPI_BASE,
    REBOUND_LEGACY_BASE,
    REBOUND_LEGACY_LIMIT,
    REBOUND_LEGACY_WINDOW_DAYS,
    REBOUND_REFUND_TRIGGERS,
    REBOUND_SECRET_HEADER,
    REBOUND_SIGNATURE_HEADER,
    REBOUND_STATUS,
    REBOUND_TOKEN_URL,
    REBOUND_WISHES,
)
from sync.connectors.platform_common import (
    WindowLimiter,
    as_int,
    body_hash,
    decode_cursor,
    encode_cursor,
    iso,
    parse_ts,
    send,
)
from sync.signing import verify_base64, verify_shared_secret

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_IN_TRANSIT = ("postalIncoming", "arrivedAtHub")
_ARRIVED = ("delivered", "parcelReceived")


# --- parsing ---------------------------------------------------------------------------------
def _condition(raw: str) -> tuple[Condition, str]:
    cond = REBOUND_CONDITIONS.get(raw.strip().lower())
    if cond is None:  # conservative: quarantine what we cannot read, and say so
        return Condition.DAMAGED, f"unmapped ReBOUND condition {raw!r}: treated as damaged"
    return cond, ""


def _lines(items: list[dict[str, Any]], *, warehouse: str) -> tuple[ReturnLine, ...]:
    """Normalised item dicts -> lines by client order line (units keep their ReBOUND ids)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for it in items:
        key = (it["line"], it["sku"], it["reason"], it["resolution"], it["exchange_sku"])
        groups.setdefault(key, []).append(it)
    lines, seen = [], {}
    for (line, sku, reason, resolution, ex_sku), members in groups.items():
        n = seen[line] = seen.get(line, 0) + 1
        graded: dict[tuple, list] = {}
        for m in members:
            if m["condition"]:
                cond, note = _condition(m["condition"])
                at = m["graded_at"] or _EPOCH
                entry = graded.setdefault((cond, note), [0, at])
                entry[0] += m["qty"]
                entry[1] = max(entry[1], at)
        lines.append(ReturnLine(
            line_id=line if n == 1 else f"{line}#{n}", sku=sku,
            qty=sum(m["qty"] for m in members),
            # No client line id: the rules match the order line by SKU (or bundle) instead.
            order_line_ref=None if line.startswith("sku:") else line, raw_reason=reason,
            resolution=resolution, exchange_sku=ex_sku,
            qty_received=sum(m["qty"] for m in members if m["arrived"]),
            gradings=tuple(Grading(condition=c, qty=q, warehouse=warehouse, graded_at=at,
                                   notes=note, source="rebound")
                           for (c, note), (q, at) in graded.items()),
            unit_ids=tuple(m["unit"] for m in members if m["unit"])))
    return tuple(lines)


def _resolution(wish: str | None, exchange_sku: str | None) -> Resolution:
    if exchange_sku:
        return Resolution.EXCHANGE
    return REBOUND_WISHES.get((wish or "").strip().lower(), Resolution.REFUND)


def _build(*, order_ref: str, rebound_id: str, status_code: str, history: list[tuple[str, Any]],
           items: list[dict[str, Any]], created: Any, email: str | None, currency: str | None,
           store: str | None, warehouse: str) -> Return:
    times = {code: parse_ts(at) for code, at in history}
    codes = [c for c, _ in history] + [status_code]
    arrived = any(c in _ARRIVED or c in ("itemGraded", "returnProcessed") for c in codes)
    for it in items:
        it["arrived"] = arrived
    stamps = [t for t in times.values() if t]
    return Return(
        return_id=f"{Platform.REBOUND}:{order_ref}:{rebound_id}", platform=Platform.REBOUND.value,
        platform_id=f"{order_ref}:{rebound_id}", order_ref=order_ref,
        lines=_lines(items, warehouse=warehouse), requested_at=parse_ts(created) or _EPOCH,
        status=REBOUND_STATUS.get(status_code, PlatformStatus.REQUESTED), raw_status=status_code,
        rma=rebound_id, customer_email=email, store=store, currency=currency,
        money_mover=MoneyMover.RETURNLINE, updated_at=max(stamps, default=None),
        in_transit_at=min((times[c] for c in _IN_TRANSIT if times.get(c)), default=None),
        received_at=min((times[c] for c in _ARRIVED if times.get(c)), default=None))


def _hapi_item(i: Mapping[str, Any]) -> dict[str, Any]:
    ex = i.get("exchangeSku") or None
    return {"line": str(i.get("clientItemId") or f"sku:{i.get('sku')}"), "sku": i.get("sku") or "",
            "reason": (i.get("reasonCode") or "").strip(), "exchange_sku": ex,
            "resolution": _resolution(i.get("wish"), ex), "qty": as_int(i.get("quantity"), 1),
            "unit": i.get("reboundItemId"), "condition": i.get("condition") or "",
            "graded_at": parse_ts(i.get("gradedAt"))}


def parse_return_order(order: Mapping[str, Any], *, store: str | None = None,
                       warehouse: str = "rebound") -> Return:
    """A HAPI return order (GET /return-orders) -> Return."""
    items = [_hapi_item(i) for i in order.get("items") or []]
    history = [(h.get("statusDescription"), h.get("timestamp"))
               for h in order.get("statusHistory") or []]
    return _build(order_ref=str(order.get("clientOrderId")),
                  rebound_id=str(order.get("reboundOrderId")),
                  status_code=str(order.get("statusDescription") or ""), history=history,
                  items=items, created=order.get("createdAt"),
                  email=(order.get("customer") or {}).get("email"),
                  currency=next((i.get("commercialValueCurrency") for i in order.get("items") or []
                                 if i.get("commercialValueCurrency")), None),
                  store=store, warehouse=warehouse)


def parse_push(payload: Mapping[str, Any], *, store: str | None = None,
               warehouse: str = "rebound") -> Return:
    """A tracking update or refund trigger -> Return (a snapshot of that moment)."""
    order = payload.get("order") or {}
    code = str(payload.get("eventType") or order.get("statusDescription") or "")
    items = [_hapi_item(i) for i in payload.get("items") or []]
    return _build(order_ref=str(order.get("clientOrderId")),
                  rebound_id=str(order.get("reboundOrderId")), status_code=code,
                  history=[(code, order.get("timestamp") or payload.get("timestamp"))],
                  items=items, created=None, email=None,
                  currency=next((i.get("commercialValueCurrency") for i in payload.get("items")
                                 or [] if i.get("commercialValueCurrency")), None),
                  store=store, warehouse=warehouse)


def parse_legacy_return(obj: Mapping[str, Any], *, store: str | None = None,
                        warehouse: str = "rebound") -> Return:
    """A legacy /returns/get/json `success` object -> Return (same ids as HAPI and pushes)."""
    items = []
    for i in obj.get("item") or []:
        reason = (i.get("reason") or [{}])[0] or {}
        ex = i.get("exchange_sku") or None
        items.append({"line": str(i.get("client_item_id") or f"sku:{i.get('sku_code')}"),
                      "sku": i.get("sku_code") or "", "reason": (reason.get("reason") or "").strip(),
                      "exchange_sku": ex, "resolution": _resolution(reason.get("wish"), ex),
                      "qty": as_int(i.get("quantity"), 1), "unit": i.get("rebound_item_id"),
                      "condition": i.get("condition") or "",
                      "graded_at": parse_ts(i.get("graded_at"))})
    status = str(obj.get("current_tracking_status") or "")
    return _build(order_ref=str(obj.get("order_reference")), rebound_id=str(obj.get("display_id")),
                  status_code=status, history=[(status, obj.get("tracking_last_update"))],
                  items=items, created=(obj.get("date_added") or "").replace(" ", "T"),
                  email=obj.get("email"), currency=None, store=store, warehouse=warehouse)


# --- webhooks --------------------------------------------------------------------------------
def verify_rebound_webhook(headers: Mapping[str, str], body: bytes, *, mode: str,
                           secret: str) -> tuple[str, str, str]:
    """-> (dedupe_key, platform_id, event_type). `mode`: 'hmac' or 'shared_secret' per account."""
    lower = {k.lower(): v for k, v in headers.items()}
    if mode == "hmac":
        ok = verify_base64(secret, body, lower.get(REBOUND_SIGNATURE_HEADER))
    elif mode == "shared_secret":
        ok = verify_shared_secret(secret, lower.get(REBOUND_SECRET_HEADER))
    else:
        raise ValueError("ReBOUND webhook auth mode is 'hmac' or 'shared_secret'")
    if not ok:
        raise WebhookRejected(f"ReBOUND push: authentication failed ({mode})")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("ReBOUND push: body is not JSON") from None
    order = payload.get("order") if isinstance(payload, dict) else None
    if not isinstance(order, dict) or not order.get("reboundOrderId"):
        raise WebhookRejected("ReBOUND push: no order.reboundOrderId")
    event = str(payload.get("eventType") or order.get("statusDescription") or "unknown")
    stamp = order.get("timestamp") or payload.get("timestamp") or body_hash(body)
    pid = f"{order.get('clientOrderId')}:{order['reboundOrderId']}"
    kind = "refund_trigger" if event in REBOUND_REFUND_TRIGGERS else "tracking"
    return f"rebound:{pid}:{event}:{stamp}", pid, f"{kind}:{event}"


# --- the connector ---------------------------------------------------------------------------
class ReboundConnector:
    name = "rebound"
    money_mover = MoneyMover.RETURNLINE

    def __init__(self, client: httpx.Client, *, client_id: str, client_secret: str,
                 legacy_login: str, legacy_api_key: str, clock: Any = None,
                 store: str | None = None, warehouse: str = "rebound",
                 known_return: Callable[[str], Return | None] | None = None,
                 limiter: WindowLimiter | None = None, lookback_days: int = 14,
                 min_poll_interval: timedelta = timedelta(minutes=60),
                 max_calls_per_sync: int = 100) -> None:
        self.client = client
        self._client_id, self._client_secret = client_id, client_secret
        self._login, self._api_key = legacy_login, legacy_api_key
        self.clock, self.store, self.warehouse = clock, store, warehouse
        self._known = known_return
        self.limiter = limiter or WindowLimiter(*REBOUND_LEGACY_LIMIT)
        self.lookback_days, self.min_poll_interval = lookback_days, min_poll_interval
        self.max_calls_per_sync = max_calls_per_sync
        self._token: str | None = None
        self._token_expires: datetime | None = None
        self.token_requests = 0
        self.last_error: Exception | None = None

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)  # default clock

    # -- secrets never leave: scrub form bodies and tokens from call records --
    def _scrub(self, rec: CallRecord) -> CallRecord:
        def clean(value: Any) -> Any:
            if isinstance(value, str):
                for secret in (self._api_key, self._client_secret, self._token):
                    if secret:
                        value = value.replace(secret, "***")
                return value
            if isinstance(value, dict):
                return {k: "***" if k in ("access_token", "api_key", "client_secret")
                        else clean(v) for k, v in value.items()}
            return value
        return CallRecord(rec.method, rec.url, rec.status, clean(rec.request_body),
                          clean(rec.response_body))

    # -- HAPI --
    def _bearer(self, now: datetime) -> str:
        if self._token and self._token_expires and now < self._token_expires - timedelta(minutes=5):
            return self._token
        _, body = send(self.client, "POST", REBOUND_TOKEN_URL, what="ReBOUND token",
                       write=False, scrub=self._scrub,
                       data={"grant_type": "client_credentials", "client_id": self._client_id,
                             "client_secret": self._client_secret})
        self.token_requests += 1
        if not isinstance(body, dict) or not body.get("access_token"):
            raise AuthError("ReBOUND token: no access_token in the answer")
        self._token = str(body["access_token"])
        self._token_expires = now + timedelta(seconds=int(body.get("expires_in") or 3600))
        return self._token

    def _hapi_get(self, path: str, params: dict[str, str], what: str) -> Any:
        now = self._now()
        for attempt in (1, 2):
            token = self._bearer(now)
            try:
                _, body = send(self.client, "GET", f"{REBOUND_HAPI_BASE}{path}", what=what,
                               write=False, scrub=self._scrub, params=params,
                               headers={"authorization": f"Bearer {token}"})
                return body
            except AuthError:
                if attempt == 2:
                    raise
                self._token = None  # revoked or expired early: one fresh token, one retry
        return None

    def get_return(self, platform_id: str) -> tuple[Return, dict[str, Any]]:
        order_ref, _, rebound_id = platform_id.partition(":")
        body = self._hapi_get("/return-orders", {"clientOrderId": order_ref},
                              f"ReBOUND return orders for {order_ref}")
        for order in (body or {}).get("returnOrders") or []:
            if not rebound_id or order.get("reboundOrderId") == rebound_id:
                return parse_return_order(order, store=self.store,
                                          warehouse=self.warehouse), order
        raise NotFound(f"ReBOUND: no return order {platform_id}")

    # -- legacy polling fallback --
    def _legacy(self, path: str, request: dict[str, Any], now: datetime, what: str) -> Any:
        delay = self.limiter.delay_for(now)
        if delay > 0:
            raise RateLimited(f"{what}: 150 calls/60 s; may send in {delay:.0f}s",
                              retry_after=delay)
        self.limiter.record(now)
        _, body = send(self.client, "POST", f"{REBOUND_LEGACY_BASE}{path}", what=what,
                       write=False, scrub=self._scrub,
                       data={"login": self._login, "api_key": self._api_key,
                             "request": json.dumps(request)})
        if isinstance(body, dict) and "error" in body:
            code = (body.get("error") or {}).get("code")
            if code == "empty":
                return None
            if code == "auth":
                raise AuthError(f"{what}: legacy login or API key refused")
            if code == "rate_limit":
                raise RateLimited(f"{what}: rate limited", retry_after=60.0)
            raise PermanentError(f"{what}: ReBOUND error {code!r}")
        if not isinstance(body, dict) or "success" not in body:
            raise TransientError(f"{what}: unexpected answer")
        return body["success"]

    def list_changed(self, cursor: str | None, now: datetime) -> ReturnsPage:
        st = decode_cursor(cursor) or {"listed": None, "windows": [], "ids": [], "closed": []}
        returns: list[Return] = []
        raws: list[dict[str, Any]] = []
        calls = 0
        self.last_error = None
        try:
            while calls < self.max_calls_per_sync and self.limiter.delay_for(now) <= 0:
                if st["ids"]:
                    calls += 1
                    obj = self._legacy("/returns/get/json",
                                       {"request": {"return": {"id": st["ids"][0], "type": "id"}}},
                                       now, f"ReBOUND legacy get {st['ids'][0]}")
                    legacy_id = st["ids"].pop(0)
                    if not obj:
                        continue
                    ret = parse_legacy_return(obj, store=self.store, warehouse=self.warehouse)
                    if ret.status is PlatformStatus.COMPLETED:
                        st["closed"] = (st["closed"] + [legacy_id])[-5000:]
                    known = self._known(ret.platform_id) if self._known else None
                    if known is None or _changed(known, ret):
                        returns.append(ret)
                        raws.append(obj)
                    continue
                if st["windows"]:
                    lo, hi = st["windows"][0]
                    calls += 1
                    found = self._legacy("/returns/search/json",
                                         {"request": {"filter": {"date_from": lo, "date_to": hi}}},
                                         now, f"ReBOUND legacy search {lo}-{hi}")
                    st["windows"].pop(0)
                    for legacy_id in (found or {}).get("id") or []:
                        legacy_id = str(legacy_id)
                        if legacy_id not in st["closed"] and legacy_id not in st["ids"]:
                            st["ids"].append(legacy_id)
                    continue
                listed = parse_ts(st["listed"])
                if listed is not None and now - listed < self.min_poll_interval:
                    break
                st["windows"] = _windows(now, self.lookback_days)
                st["listed"] = iso(now)
        except Exception as exc:
            if not returns:
                raise
            self.last_error = exc
        return ReturnsPage(returns=returns, raw=raws, next_cursor=encode_cursor(st))

    def has_more(self, cursor: str | None, now: datetime) -> bool:
        st = decode_cursor(cursor)
        if st is None or st["ids"] or st["windows"]:
            return True
        listed = parse_ts(st["listed"])
        return listed is None or now - listed >= self.min_poll_interval

    # -- ReBOUND moves no money and takes no comments --
    def approve(self, key: str, ret: Return) -> Effect:
        raise PermanentError("ReBOUND does not move money: Returnline refunds in commerce")

    def find_approval(self, ret: Return) -> Effect | None:
        return None

    def post_comment(self, key: str, ret: Return, text: str) -> Effect:
        return Effect(external_id=None, summary="ReBOUND has no comment API: not sent",
                      data={"key": key, "sent": False})


def _changed(known: Return, new: Return) -> bool:
    """The legacy view lacks history dates; compare what it does carry."""
    return (known.raw_status, known.lines) != (new.raw_status, new.lines)


def _windows(now: datetime, lookback_days: int) -> list[list[str]]:
    """[today - lookback, today] in 7-day windows, as the legacy search wants them."""
    out, day = [], (now - timedelta(days=lookback_days)).date()
    end = now.date()
    while day <= end:
        hi = min(end, day + timedelta(days=REBOUND_LEGACY_WINDOW_DAYS - 1))
        out.append([day.strftime("%Y/%m/%d"), hi.strftime("%Y/%m/%d")])
        day = hi + timedelta(days=1)
    return out
