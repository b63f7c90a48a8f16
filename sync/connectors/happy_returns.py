"""Happy Returns connector: https://partner.happyreturns.com, header X-Hr-Apikey, 0.5 req/s.

Happy Returns moves the money: `POST /rma/{code}/approve` with a condition per physical unit
triggers its refund and cannot be undone. So `approve` sends only units Returnline has graded,
never twice: a 409 (final return / unit already decided) is answered by looking the units up and
sending only what is still undecided, and `find_approval` tells the executor whether an approve
whose answer was lost did land.

Bulk sync is webhook-driven (`return.asn`, one POST per order number, one item per unit). The
polling safety net walks outbound shipments (hub -> warehouse) by date window with a look-back,
reads their contents and looks each return up by express code; the work queue rides in the
cursor, so the 0.5 req/s limiter can stop it anywhere and a restart resumes it.

A Returnline Return is one (Happy Returns return, order number) pair: platform_id is
"{express code}:{order number}".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from rules.model import (
    MoneyMover,
    Platform,
    PlatformStatus,
    Resolution,
    Return,
    ReturnLine,
)
from rules.money import Money, MoneyError
from sync.connectors.base import (
    CallRecord,
    ConflictError,
    Effect,
    NotFound,
    PermanentError,
    RateLimited,
    ReturnsPage,
    WebhookRejected,
)
from sync.connectors.platform_assumptions import (
    HAPPY_RETURNS_BASE,
    HAPPY_RETURNS_SIGNATURE_HEADER,
    HR_APPROVE_CONDITION,
    HR_APPROVED,
    HR_DROPPED_OFF,
    HR_EXCHANGE_SKU_FIELD,
    HR_EXPIRED,
    HR_OUTBOUND_FIELD,
    HR_REFUND_AMOUNT_FIELD,
    HR_REFUND_CURRENCY_FIELD,
    HR_REFUND_TYPES,
    HR_RETURN_STATUS_FIELD,
)
from sync.connectors.platform_common import (
    LeakyBucket,
    as_bool,
    body_hash,
    decode_cursor,
    encode_cursor,
    iso,
    parse_ts,
    send,
    split_unit_suffix,
)
from sync.signing import verify_hex

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BUCKET_SIZE = re.compile(r"leaky bucket size\s+(\d+)")


def happy_returns_limiter(state: Mapping[str, Any] | None = None,
                          capacity: float = 5.0) -> LeakyBucket:
    """0.5 req/s leaky bucket; capacity kept below the server's so we never meet its 429."""
    bucket = LeakyBucket(rate=0.5, capacity=capacity)
    bucket.load_state(dict(state) if state else None)
    return bucket


# --- parsing ---------------------------------------------------------------------------------
def _status(units: list[Mapping[str, Any]], type_id: str | None) -> tuple[PlatformStatus, str]:
    raw = type_id or next((u.get(HR_RETURN_STATUS_FIELD) for u in units
                           if u.get(HR_RETURN_STATUS_FIELD)), "") or ""
    decided = [u for u in units if u.get("approvedDate")]
    if raw == HR_EXPIRED:
        return PlatformStatus.EXPIRED, raw
    if units and len(decided) == len(units):
        return PlatformStatus.COMPLETED, raw or HR_APPROVED
    if decided:
        return PlatformStatus.INSPECTED, raw
    if any(u.get(HR_OUTBOUND_FIELD) or u.get("departureDate") for u in units):
        return PlatformStatus.RECEIVED, raw
    if raw == HR_DROPPED_OFF:
        return PlatformStatus.IN_TRANSIT, raw
    return PlatformStatus.REQUESTED, raw


def _resolution(unit: Mapping[str, Any]) -> tuple[Resolution, str | None]:
    if as_bool(unit.get("oneClickExchange")) or unit.get("refundType") == "exchange":
        return Resolution.EXCHANGE, unit.get(HR_EXCHANGE_SKU_FIELD)
    return HR_REFUND_TYPES.get(unit.get("refundType") or "", Resolution.REFUND), None


def parse_units(units: list[Mapping[str, Any]], *, type_id: str | None = None,
                store: str | None = None) -> list[Return]:
    """Per-unit items (webhook, lookup) -> one Return per order number, lines per order line."""
    by_order: dict[str, list[Mapping[str, Any]]] = {}
    for u in units:
        by_order.setdefault(str(u.get("orderNumber") or ""), []).append(u)
    out = []
    for order, us in by_order.items():
        code = str(us[0].get("happyReturnsExpressCode") or us[0].get("happyReturnsReturnID"))
        groups: dict[tuple, list[tuple[int, Mapping[str, Any]]]] = {}
        for u in us:
            base, offset = split_unit_suffix(u.get("orderLineItemID"))
            resolution, ex_sku = _resolution(u)
            key = (base, u.get("sku") or "", (u.get("returnReason") or "").strip(), resolution,
                   ex_sku)
            groups.setdefault(key, []).append((offset, u))
        lines, seen = [], {}
        for (base, sku, reason, resolution, ex_sku), members in groups.items():
            members.sort(key=lambda m: (m[0], str(m[1].get("happyReturnsItemID"))))
            ident = base or f"sku:{sku}"
            n = seen[ident] = seen.get(ident, 0) + 1
            lines.append(ReturnLine(
                line_id=ident if n == 1 else f"{ident}#{n}", sku=sku, qty=len(members),
                order_line_ref=base, raw_reason=reason, resolution=resolution,
                exchange_sku=ex_sku,
                qty_received=sum(1 for _, m in members
                                 if m.get(HR_OUTBOUND_FIELD) or m.get("departureDate")),
                unit_ids=tuple(str(m.get("happyReturnsItemID") or m.get("orderLineItemID"))
                               for _, m in members)))
        status, raw = _status(us, type_id)
        started = [d for d in (parse_ts(u.get("startedDate")) for u in us) if d]
        stamps = [d for u in us for d in (parse_ts(u.get("approvedDate")),
                                          parse_ts(u.get("departureDate"))) if d]
        departed = [d for d in (parse_ts(u.get("departureDate")) for u in us) if d]
        out.append(Return(
            return_id=f"{Platform.HAPPY_RETURNS}:{code}:{order}",
            platform=Platform.HAPPY_RETURNS.value, platform_id=f"{code}:{order}", order_ref=order,
            lines=tuple(lines), requested_at=min(started, default=None)
            or parse_ts(us[0].get("purchasedAt")) or _EPOCH,
            status=status, raw_status=raw, rma=code, customer_email=us[0].get("email"),
            store=store, money_mover=MoneyMover.PLATFORM,
            updated_at=max(stamps + started, default=None),
            received_at=min(departed, default=None)))
    return out


def approval_plan(ret: Return) -> list[dict[str, Any]]:
    """Per graded unit: {"happyReturnsItemID", "approve", "condition"}; ungraded units left out.

    Units of a line take the line's gradings in order (unit_ids are sorted by their offset).
    """
    plan = []
    for line in ret.lines:
        conditions = [g.condition for g in line.gradings for _ in range(g.qty)]
        for unit_id, condition in zip(line.unit_ids, conditions, strict=False):
            hr_condition, approve = HR_APPROVE_CONDITION[condition]
            plan.append({"happyReturnsItemID": unit_id, "approve": approve,
                         "condition": hr_condition})
    return plan


def _units_of(body: Any) -> dict[str, Mapping[str, Any]]:
    """The approve answer's `returning[]` by unit id ({} when it says nothing usable)."""
    rows = body.get("returning") if isinstance(body, dict) else None
    return {str(u.get("happyReturnsItemID")): u for u in rows or [] if isinstance(u, dict)}


def refunded_amount(plan: list[dict[str, Any]],
                    units: Mapping[str, Mapping[str, Any]]) -> Money | None:
    """What Happy Returns refunded for the approved units of `plan` (None: it did not say).

    Units approved with `approve: false` (missing, wrong item) move no money."""
    total: Money | None = None
    for p in plan:
        if not p["approve"]:
            continue
        unit = units.get(p["happyReturnsItemID"]) or {}
        raw, currency = unit.get(HR_REFUND_AMOUNT_FIELD), unit.get(HR_REFUND_CURRENCY_FIELD)
        if raw in (None, "") or not currency:
            return None
        try:
            amount = Money.parse(Decimal(str(raw)), str(currency))
        except (InvalidOperation, MoneyError):
            return None
        if total is not None and total.currency != amount.currency:
            return None
        total = amount if total is None else total + amount
    return total


# --- webhooks --------------------------------------------------------------------------------
def verify_happy_returns_webhook(headers: Mapping[str, str], body: bytes,
                                 secret: str) -> tuple[str, str, str]:
    """-> (dedupe_key, platform_id, event_type), or WebhookRejected."""
    lower = {k.lower(): v for k, v in headers.items()}
    if not verify_hex(secret, body, lower.get(HAPPY_RETURNS_SIGNATURE_HEADER)):
        raise WebhookRejected("Happy Returns webhook: bad or missing X-Hr-Signature")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("Happy Returns webhook: body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("Happy Returns webhook: body is not an object")
    if payload.get("webhookType") == "return.label.update":
        code = payload.get("happyReturnsExpressCode") or payload.get("happyReturnsReturnID")
        if not code:
            raise WebhookRejected("Happy Returns label webhook without a return id")
        return f"happy_returns:{code}:label:{body_hash(body)}", str(code), "return.label.update"
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        raise WebhookRejected("Happy Returns webhook: no items")
    first = items[0]
    code = first.get("happyReturnsExpressCode") or first.get("happyReturnsReturnID")
    pid = f"{code}:{first.get('orderNumber')}"
    event = f"return.asn:{payload.get('event')}:{payload.get('typeID')}"
    return f"happy_returns:{pid}:{event}:{body_hash(body)}", pid, event


def returns_from_webhook(body: bytes, *, store: str | None = None) -> list[Return]:
    """A verified `return.asn` carries the full per-unit snapshot of that order's return."""
    payload = json.loads(body)
    return parse_units(payload.get("items") or [], type_id=payload.get("typeID") or None,
                       store=store)


# --- the connector ---------------------------------------------------------------------------
class HappyReturnsConnector:
    name = "happy_returns"
    money_mover = MoneyMover.PLATFORM

    def __init__(self, client: httpx.Client, api_key: str, retailer_id: str, *,
                 limiter: LeakyBucket | None = None, clock: Any = None, store: str | None = None,
                 initial_lookback: timedelta = timedelta(hours=24),
                 lookback: timedelta = timedelta(hours=2),
                 min_poll_interval: timedelta = timedelta(minutes=15),
                 max_calls_per_sync: int = 20, page_size: int = 200) -> None:
        self.client, self._api_key, self.retailer_id = client, api_key, retailer_id
        self.limiter = limiter or happy_returns_limiter()
        self.clock, self.store = clock, store
        self.initial_lookback, self.lookback = initial_lookback, lookback
        self.min_poll_interval, self.max_calls_per_sync = min_poll_interval, max_calls_per_sync
        self.page_size = page_size
        self.last_error: Exception | None = None

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)  # default clock

    def _refine(self, now: datetime):
        def refine(response: httpx.Response, call: CallRecord) -> Exception | None:
            try:
                message = (json.loads(response.content) or {}).get("ErrorMessage", "")
            except (ValueError, AttributeError):
                message = ""
            if response.status_code == 429:
                m = _BUCKET_SIZE.search(message)
                if m:
                    self.limiter.capacity = min(self.limiter.capacity, float(m.group(1)))
                self.limiter.full_until(now, 2.0)
                return RateLimited("Happy Returns: leaky bucket full (429)", retry_after=2.0,
                                   call=call)
            if response.status_code == 409:
                return ConflictError(f"Happy Returns: {message or 'conflict'} (409)", call=call)
            if response.status_code == 400:
                return PermanentError(f"Happy Returns refused: {message or 'bad request'}",
                                      call=call)
            return None
        return refine

    def _call(self, method: str, path: str, now: datetime, *, what: str, write: bool = False,
              **kw: Any) -> tuple[int, Any]:
        delay = self.limiter.delay_for(now)
        if delay > 0:
            raise RateLimited(f"{what}: 0.5 req/s limit; may send in {delay:.1f}s",
                              retry_after=delay)
        self.limiter.record(now)
        response, body = send(self.client, method, f"{HAPPY_RETURNS_BASE}{path}", what=what,
                              write=write, refine=self._refine(now),
                              headers={"X-Hr-Apikey": self._api_key}, **kw)
        return response.status_code, body

    # -- reads --
    def lookup_units(self, code: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """POST /return by express code, all pages (204 -> [])."""
        now = now or self._now()
        units, cursor = [], None
        while True:
            req: dict[str, Any] = {"happyReturnsRetailerID": self.retailer_id,
                                   "happyReturnsExpressCode": code}
            if cursor:
                req["cursor"] = cursor
            status, body = self._call("POST", "/return", now, what=f"Happy Returns lookup {code}",
                                      json=req)
            if status == 204 or not body:
                return units
            units += body.get("items") or []
            cursor = body.get("cursor")
            if not cursor:
                return units

    def get_return(self, platform_id: str) -> tuple[Return, dict[str, Any]]:
        code, _, order = platform_id.partition(":")
        units = self.lookup_units(code)
        if order:
            units = [u for u in units if str(u.get("orderNumber")) == order]
        if not units:
            raise NotFound(f"Happy Returns: no return {platform_id}")
        ret = parse_units(units, store=self.store)[0]
        return ret, {"items": units}

    def list_changed(self, cursor: str | None, now: datetime) -> ReturnsPage:
        st = decode_cursor(cursor) or {"since": None, "listed": None, "ships": [],
                                       "current": None, "codes": [], "done": {}}
        returns: list[Return] = []
        raws: list[dict[str, Any]] = []
        calls = 0
        self.last_error = None
        try:
            while calls < self.max_calls_per_sync and self.limiter.delay_for(now) <= 0:
                if st["codes"]:
                    code = st["codes"][0]
                    calls += 1
                    units = self.lookup_units(code, now)
                    st["codes"].pop(0)
                    st.setdefault("looked", []).append(code)  # once per listing pass
                    for order, ret in ((r.order_ref, r) for r in parse_units(units,
                                                                             store=self.store)):
                        returns.append(ret)
                        raws.append({"items": [u for u in units
                                               if str(u.get("orderNumber")) == order]})
                    continue
                if st["current"] is None and st["ships"]:
                    st["current"] = {"id": st["ships"].pop(0), "after": None}
                if st["current"] is not None:
                    cur = st["current"]
                    params = {"page[size]": str(self.page_size)}
                    if cur["after"]:
                        params["page[after]"] = cur["after"]
                    calls += 1
                    _, body = self._call("GET", f"/outbound-shipment/{cur['id']}", now,
                                         what=f"Happy Returns outbound shipment {cur['id']}",
                                         params=params)
                    for item in (body or {}).get("items") or []:
                        code = item.get("happyReturnsExpressCode")
                        if code and code not in st["codes"] and code not in st.get("looked", []):
                            st["codes"].append(code)
                    nxt = (body or {}).get("nextPageAfter")
                    if nxt:
                        cur["after"] = nxt
                    else:
                        st["done"][cur["id"]] = iso(now)
                        st["current"] = None
                    continue
                listed = parse_ts(st["listed"])
                if listed is not None and now - listed < self.min_poll_interval:
                    break
                start = (parse_ts(st["since"]) - self.lookback) if st["since"] \
                    else now - self.initial_lookback
                calls += 1
                _, body = self._call("GET", "/outbound-shipments", now,
                                     what="Happy Returns outbound shipments",
                                     params={"startDateTime": iso(start), "endDateTime": iso(now),
                                             "retailerID": self.retailer_id})
                for ship in (body or {}).get("outboundShipments") or []:
                    sid = str(ship.get("id"))
                    if sid not in st["done"] and sid not in st["ships"]:
                        st["ships"].append(sid)
                horizon = now - self.lookback - self.min_poll_interval - timedelta(hours=1)
                st["done"] = {k: v for k, v in st["done"].items() if parse_ts(v) >= horizon}
                st["since"], st["listed"], st["looked"] = iso(now), iso(now), []
        except Exception as exc:
            if not returns:
                raise
            self.last_error = exc
        return ReturnsPage(returns=returns, raw=raws, next_cursor=encode_cursor(st))

    def has_more(self, cursor: str | None, now: datetime) -> bool:
        st = decode_cursor(cursor)
        if st is None or st["codes"] or st["ships"] or st["current"]:
            return True
        listed = parse_ts(st["listed"])
        return listed is None or now - listed >= self.min_poll_interval

    # -- the irreversible approve --
    def approve(self, key: str, ret: Return) -> Effect:
        """Approve the graded units once; the Effect says what Happy Returns refunded
        (`data["amount"]`, at the prices Happy Returns holds), so the rules can compare it
        with what they planned."""
        plan = approval_plan(ret)
        if not plan:
            raise PermanentError("Happy Returns approve: no graded unit; approval (and its refund) "
                                 "waits for grading")
        code = ret.rma or ret.platform_id.partition(":")[0]
        now = self._now()
        try:
            _, body = self._call("POST", f"/rma/{code}/approve", now, write=True,
                                 what=f"Happy Returns approve {code}", json={"returning": plan})
            return self._effect(code, key, plan, "approved", _units_of(body))
        except ConflictError:
            pass
        # 409: final, or a unit was decided already (an earlier approve that we lost track of).
        units = {str(u.get("happyReturnsItemID")): u for u in self.lookup_units(code, now)}
        remaining = [p for p in plan if not (units.get(p["happyReturnsItemID"]) or {})
                     .get("approvedDate")]
        if not remaining:
            return self._effect(code, key, plan, "already approved", units, already=True)
        if any(u.get(HR_RETURN_STATUS_FIELD) == HR_EXPIRED for u in units.values()):
            raise PermanentError(f"Happy Returns approve {code}: the return expired; "
                                 f"{len(remaining)} unit(s) can no longer be approved")
        _, body = self._call("POST", f"/rma/{code}/approve", now, write=True,
                             what=f"Happy Returns approve {code}", json={"returning": remaining})
        return self._effect(code, key, plan, f"approved {len(remaining)} remaining unit(s)",
                            {**units, **_units_of(body)})

    @staticmethod
    def _effect(code: str, key: str, plan: list[dict[str, Any]], what: str,
                units: Mapping[str, Mapping[str, Any]], already: bool = False) -> Effect:
        refunded = refunded_amount(plan, units)
        data: dict[str, Any] = {"key": key, "units": plan, "already": already}
        said = ""
        if refunded is not None:
            data["amount"] = refunded.to_json()  # what the engine reads as the money moved
            said = f"; Happy Returns refunded {refunded}"
        return Effect(external_id=code, summary=f"Happy Returns {code}: {what} "
                      f"({len(plan)} unit(s)){said}", data=data)

    def find_approval(self, ret: Return) -> Effect | None:
        """An earlier approve landed when every graded unit shows an approval."""
        plan = approval_plan(ret)
        if not plan:
            return None
        code = ret.rma or ret.platform_id.partition(":")[0]
        units = {str(u.get("happyReturnsItemID")): u for u in self.lookup_units(code)}
        if all((units.get(p["happyReturnsItemID"]) or {}).get("approvedDate") for p in plan):
            return self._effect(code, "", plan, "already approved", units, already=True)
        return None

    def post_comment(self, key: str, ret: Return, text: str) -> Effect:
        return Effect(external_id=None, summary="Happy Returns has no comment API: not sent",
                      data={"key": key, "sent": False})
