"""ReturnGO connector: https://api.returngo.ai, headers x-api-key + x-shop-name.

Budget first. ReturnGO allows 2,000 calls a day (and 100/s), so:
- polling lists `GET /rmas?rma_updated_at=gte:<since>&pagesize=500` (one call covers up to 500
  changed RMAs) at most every `min_list_interval`;
- a summary is compared with what Returnline already knows of that RMA (`known_return`, given
  by the engine: the last recorded Return): same status -> nothing; a status change that decides
  nothing (Approved, Received, Rejected...) -> a status-only update, no call; reaching Validated
  or Done without ReturnGO's validation on record -> `GET /rma/{id}` (the grading decides the
  refund and the restock). New RMAs get their detail at once only while the day's spend is
  under `spare_share` of the budget pro rata; otherwise they are recorded from the summary
  (lines empty = not yet known) and fetched when they reach a decision;
- everything still to fetch rides in the cursor, so a restart or an exhausted budget loses
  nothing.
ReturnGO does not move money: Returnline refunds in commerce (money_mover = returnline).
"""

from __future__ import annotations

import dataclasses
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
    CallRecord,
    Effect,
    PermanentError,
    RateLimited,
    ReturnsPage,
    WebhookRejected,
)
from sync.connectors.platform_assumptions import (
    RETURNGO_BASE,
    RETURNGO_DECISION_STATUSES,
    RETURNGO_FEE_ORDER_TYPE,
    RETURNGO_RESOLUTION_TYPES,
    RETURNGO_STATUS,
    RETURNGO_TERMINAL_STATUSES,
    RETURNGO_WEBHOOK_AUTH_HEADER,
    RETURNGO_WEBHOOK_EVENT_FIELD,
    RETURNGO_WEBHOOK_ID_FIELD,
    RETURNGO_WEBHOOK_TIME_FIELD,
)
from sync.connectors.platform_common import (
    as_bool,
    body_hash,
    decode_cursor,
    encode_cursor,
    iso,
    parse_ts,
    send,
)
from sync.signing import verify_shared_secret

KnownReturn = Callable[[str], Return | None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the budget ------------------------------------------------------------------------------
class ReturnGOBudget:
    """100 calls/s and `per_day` calls per UTC day; never sleeps, exports its state.

    The day's count is shared through the database (rate_budgets) by the engine: before and
    after each job run it hands over what this process spent (`take_unsaved`) and takes back
    the day's total across every process and restart (`set_used`). `export_state()` /
    `from_state()` carry the whole state where one process keeps it alone.
    ASSUMED: the day is the UTC day (the public record does not say which timezone).
    """

    def __init__(self, per_day: int = 2000, per_second: int = 100) -> None:
        self.per_day, self.per_second = per_day, per_second
        self.day: str | None = None
        self.used = 0
        self.second: str | None = None
        self.in_second = 0
        self.unsaved: dict[str, int] = {}  # day -> calls spent here, not yet in the database

    @staticmethod
    def day_of(now: datetime) -> str:
        return now.astimezone(UTC).date().isoformat()

    def _roll(self, now: datetime) -> None:
        now = now.astimezone(UTC)
        day, second = now.date().isoformat(), now.replace(microsecond=0).isoformat()
        if self.day != day:
            self.day, self.used = day, 0
        if self.second != second:
            self.second, self.in_second = second, 0

    def used_today(self, now: datetime) -> int:
        self._roll(now)
        return self.used

    def delay_for(self, now: datetime, cost: float = 1.0) -> float:
        self._roll(now)
        if self.used + cost > self.per_day:
            return _seconds_to_midnight(now)
        if self.in_second + cost > self.per_second:
            return 1.0 - now.microsecond / 1_000_000
        return 0.0

    def record(self, now: datetime, cost: float = 1.0) -> None:
        self._roll(now)
        self.used += int(cost)
        self.in_second += int(cost)
        self._unsaved(int(cost))

    def exhaust(self, now: datetime) -> None:
        """The server said the daily quota is gone (another client shares the key)."""
        self._roll(now)
        if self.used < self.per_day:
            self._unsaved(self.per_day - self.used)
        self.used = max(self.used, self.per_day)

    def _unsaved(self, calls: int) -> None:
        if self.day is not None and calls:
            self.unsaved[self.day] = self.unsaved.get(self.day, 0) + calls

    def take_unsaved(self) -> dict[str, int]:
        """Calls spent here since the last hand-over, by day (and forget them)."""
        taken, self.unsaved = self.unsaved, {}
        return taken

    def set_used(self, now: datetime, used_today: int) -> None:
        """The day's count as every process together spent it (from the database)."""
        self._roll(now)
        self.used = used_today + self.unsaved.get(self.day or "", 0)

    def export_state(self) -> dict[str, Any]:
        return {"day": self.day, "used": self.used, "second": self.second,
                "in_second": self.in_second, "per_day": self.per_day,
                "per_second": self.per_second}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, per_day: int | None = None,
                   per_second: int | None = None) -> ReturnGOBudget:
        state = state or {}
        b = cls(per_day or int(state.get("per_day", 2000)),
                per_second or int(state.get("per_second", 100)))
        b.day, b.used = state.get("day"), int(state.get("used", 0))
        b.second, b.in_second = state.get("second"), int(state.get("in_second", 0))
        return b


def _seconds_to_midnight(now: datetime) -> float:
    now = now.astimezone(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1.0, (tomorrow - now).total_seconds())


# --- parsing ---------------------------------------------------------------------------------
def _reason(item: Mapping[str, Any]) -> str:
    main = (item.get("returnReason") or "").strip()
    extended = (item.get("extendedReason") or "").strip()
    if extended.startswith(">"):
        return f"{main} {extended}".strip()
    return " > ".join(p for p in (main, extended) if p)


def _unit_condition(item: Mapping[str, Any]) -> tuple[Condition, str, str | None, datetime] | None:
    v = item.get("itemValidationStatusResponse") or {}
    at = parse_ts(v.get("lastValidationDate"))
    if at is None:
        return None
    if as_bool(v.get("isReturned")) is False:
        return Condition.MISSING, v.get("nonReturnedReason") or "", v.get("storeLocationId"), at
    if as_bool(v.get("isRestockable")):
        return Condition.SELLABLE, "", v.get("storeLocationId"), at
    return Condition.DAMAGED, v.get("nonRestockableReason") or "", v.get("storeLocationId"), at


def exchange_orders(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Replacement orders ReturnGO already created (type other than "Fee"): never make another."""
    return [o for o in detail.get("exchangeOrders") or []
            if (o.get("type") or "") != RETURNGO_FEE_ORDER_TYPE]


def parse_rma(detail: Mapping[str, Any], *, store: str | None = None,
              default_warehouse: str = "returngo") -> Return:
    """`GET /rma/{id}` -> Return; one item per unit, aggregated into lines by order line."""
    summary = detail.get("rmaSummary") or {}
    rma_id = str(summary.get("rmaId") or "")
    if not rma_id:
        raise PermanentError("ReturnGO RMA without rmaId")
    raw_status = str(summary.get("status") or "")
    status = RETURNGO_STATUS.get(raw_status, PlatformStatus.REQUESTED)
    inbound = [s for s in detail.get("shipments") or [] if not as_bool(s.get("isOutbound"))]
    ship_status = {s.get("status") for s in inbound}
    if status is PlatformStatus.APPROVED and "Shipped" in ship_status:
        status = PlatformStatus.IN_TRANSIT
    arrived = raw_status in ("Received", "Validated", "Done") or bool(
        ship_status & {"Received", "Validated"})

    exchange_skus: list[str] = []
    for ex in detail.get("exchangeItems") or []:
        exchange_skus += [ex.get("sku")] * max(1, int(ex.get("quantity") or 1))
    has_replacement = bool(exchange_orders(detail))

    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for item in detail.get("items") or []:
        resolution = RETURNGO_RESOLUTION_TYPES.get(item.get("resolutionType") or "")
        if resolution is None:  # a type we do not know: an exchange order on file says exchange
            resolution = Resolution.EXCHANGE if has_replacement else Resolution.REFUND
        ex_sku = exchange_skus.pop(0) if resolution is Resolution.EXCHANGE and exchange_skus \
            else None
        ref = item.get("shopLineItemId")
        key = (str(ref) if ref else None, item.get("sku") or "", _reason(item), resolution, ex_sku)
        groups.setdefault(key, []).append(item)

    lines: list[ReturnLine] = []
    used_ids: dict[str, int] = {}
    for (ref, sku, reason, resolution, ex_sku), units in groups.items():
        base = ref or f"sku:{sku}"
        n = used_ids[base] = used_ids.get(base, 0) + 1
        graded: dict[tuple, list[datetime]] = {}
        missing = 0
        for unit in units:
            found = _unit_condition(unit)
            if found:
                cond, notes, where, at = found
                graded.setdefault((cond, notes, where or default_warehouse), []).append(at)
                missing += cond is Condition.MISSING
        gradings = tuple(
            Grading(condition=c, qty=len(ats), warehouse=w, graded_at=max(ats), notes=notes,
                    source="returngo")
            for (c, notes, w), ats in graded.items())
        lines.append(ReturnLine(
            line_id=base if n == 1 else f"{base}#{n}", sku=sku, qty=len(units),
            order_line_ref=ref, raw_reason=reason, resolution=resolution, exchange_sku=ex_sku,
            qty_received=(len(units) - missing) if arrived else 0, gradings=gradings,
            unit_ids=tuple(str(u.get("returnedItemId")) for u in units
                           if u.get("returnedItemId") is not None)))

    first = (detail.get("items") or [{}])[0]
    paid = first.get("paidPrice") or {}
    email = next((s.get("customerAddress", {}).get("email") for s in inbound
                  if (s.get("customerAddress") or {}).get("email")), None)
    updated = parse_ts(detail.get("lastUpdated"))
    created = parse_ts(detail.get("createdAt")) or _event_at(summary, "RMA_CREATED") or updated \
        or _EPOCH
    return Return(
        return_id=f"{Platform.RETURNGO}:{rma_id}", platform=Platform.RETURNGO.value,
        platform_id=rma_id, order_ref=str((detail.get("orderDetails") or {}).get("order_name")
                                          or summary.get("order_name") or ""),
        lines=tuple(lines), requested_at=created, status=status, raw_status=raw_status,
        rma=f"RMA{rma_id}", customer_email=email, store=store,
        currency=paid.get("shopCurrency") or paid.get("currency"),
        money_mover=MoneyMover.RETURNLINE, updated_at=updated,
        in_transit_at=updated if status is PlatformStatus.IN_TRANSIT else None,
        received_at=_event_at(summary, "SHIPMENT_RECEIVED") or (updated if arrived else None))


def _event_at(summary: Mapping[str, Any], name: str) -> datetime | None:
    dates = [parse_ts(e.get("eventDate")) for e in summary.get("events") or []
             if e.get("eventName") == name]
    return max((d for d in dates if d), default=None)


def summary_return(summary: Mapping[str, Any], *, store: str | None, now: datetime) -> Return:
    """What a list summary alone says (lines unknown yet): order, status, dates."""
    rma_id = str(summary.get("rmaId"))
    events = [parse_ts(e.get("eventDate")) for e in summary.get("events") or []]
    events = [e for e in events if e]
    raw_status = str(summary.get("status") or "")
    return Return(
        return_id=f"{Platform.RETURNGO}:{rma_id}", platform=Platform.RETURNGO.value,
        platform_id=rma_id, order_ref=str(summary.get("order_name") or ""), lines=(),
        requested_at=min(events, default=now), status=RETURNGO_STATUS.get(
            raw_status, PlatformStatus.REQUESTED), raw_status=raw_status, rma=f"RMA{rma_id}",
        store=store, money_mover=MoneyMover.RETURNLINE, updated_at=max(events, default=now),
        received_at=_event_at(summary, "SHIPMENT_RECEIVED"))


def _status_update(known: Return, summary: Mapping[str, Any], now: datetime) -> Return:
    raw_status = str(summary.get("status") or "")
    events = [d for d in (parse_ts(e.get("eventDate")) for e in summary.get("events") or []) if d]
    at = max(events, default=now)
    received_at = known.received_at
    if raw_status in ("Received", "Validated", "Done") and received_at is None:
        received_at = _event_at(summary, "SHIPMENT_RECEIVED") or at
    lines = known.lines
    if received_at and known.received_at is None:
        lines = tuple(dataclasses.replace(ln, qty_received=ln.qty) for ln in lines)
    return dataclasses.replace(
        known, status=RETURNGO_STATUS.get(raw_status, known.status), raw_status=raw_status,
        updated_at=at, received_at=received_at, lines=lines)


def _graded_by_returngo(ret: Return) -> bool:
    return any(g.source == "returngo" for ln in ret.lines for g in ln.gradings)


# --- webhooks --------------------------------------------------------------------------------
def verify_returngo_webhook(headers: Mapping[str, str], body: bytes,
                            secret: str) -> tuple[str, str, str]:
    """-> (dedupe_key, rmaId, eventName); the engine then refetches the RMA (get_return)."""
    lower = {k.lower(): v for k, v in headers.items()}
    if not verify_shared_secret(secret, lower.get(RETURNGO_WEBHOOK_AUTH_HEADER)):
        raise WebhookRejected("ReturnGO webhook: missing or wrong shared secret")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("ReturnGO webhook: body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("ReturnGO webhook: body is not an object")
    rma_id, event = payload.get(RETURNGO_WEBHOOK_ID_FIELD), payload.get(RETURNGO_WEBHOOK_EVENT_FIELD)
    if not rma_id or not event:
        raise WebhookRejected("ReturnGO webhook: no rmaId or eventName")
    stamp = payload.get(RETURNGO_WEBHOOK_TIME_FIELD) or ""
    return f"returngo:{rma_id}:{event}:{stamp}:{body_hash(body)}", str(rma_id), str(event)


# --- the connector ---------------------------------------------------------------------------
class ReturnGOConnector:
    name = "returngo"
    money_mover = MoneyMover.RETURNLINE

    def __init__(
        self,
        client: httpx.Client,
        api_key: str,
        shop_name: str,
        *,
        budget: ReturnGOBudget | None = None,
        known_return: KnownReturn | None = None,
        clock: Any = None,
        store: str | None = None,
        page_size: int = 500,
        min_list_interval: timedelta = timedelta(minutes=15),
        lookback: timedelta = timedelta(minutes=2),
        spare_share: float = 0.25,
        spare_floor: int = 10,
        max_calls_per_sync: int = 100,
        default_warehouse: str = "returngo",
    ) -> None:
        self.client, self._api_key, self.shop_name = client, api_key, shop_name
        self.budget = budget or ReturnGOBudget()
        self._known_from_engine = known_return
        self._recent: dict[str, Return] = {}  # what this instance emitted (engine may lag)
        self.clock, self.store = clock, store
        self.page_size, self.min_list_interval, self.lookback = page_size, min_list_interval, lookback
        self.spare_share, self.spare_floor = spare_share, spare_floor
        self.max_calls_per_sync, self.default_warehouse = max_calls_per_sync, default_warehouse
        self.calls = {"list": 0, "detail": 0, "comment": 0}
        self.last_error: Exception | None = None

    # -- plumbing --
    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else datetime.now(UTC)  # default clock

    @property
    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key, "x-shop-name": self.shop_name,
                "accept": "application/json"}

    def _refine(self, now: datetime):
        def refine(response: httpx.Response, call: CallRecord) -> Exception | None:
            try:
                message = (json.loads(response.content) or {}).get("message", "")
            except (ValueError, AttributeError):
                message = ""
            if response.status_code == 429:
                if "limit exceeded" in message.lower():
                    self.budget.exhaust(now)
                    return RateLimited("ReturnGO: daily call quota exceeded",
                                       retry_after=_seconds_to_midnight(now), call=call)
                return RateLimited("ReturnGO: too many requests", retry_after=1.0, call=call)
            if response.status_code == 400:
                return PermanentError(f"ReturnGO refused: {message or 'bad request'}", call=call)
            return None
        return refine

    def _call(self, method: str, path: str, now: datetime, *, what: str, write: bool = False,
              **kw: Any) -> Any:
        delay = self.budget.delay_for(now)
        if delay > 0:
            raise RateLimited(f"{what}: ReturnGO call budget spent; next call in {delay:.0f}s",
                              retry_after=delay)
        self.budget.record(now)  # a sent call counts whatever the answer
        _, body = send(self.client, method, f"{RETURNGO_BASE}{path}", what=what, write=write,
                       refine=self._refine(now), headers=self._headers, **kw)
        return body

    def _known(self, rma_id: str) -> Return | None:
        if rma_id in self._recent:
            return self._recent[rma_id]
        return self._known_from_engine(rma_id) if self._known_from_engine else None

    def _remember(self, ret: Return) -> None:
        self._recent[ret.platform_id] = ret
        if len(self._recent) > 20000:  # the engine's record is the real memory
            for key in list(self._recent)[:5000]:
                del self._recent[key]

    def _spare(self, now: datetime) -> bool:
        """May an optional (early) detail fetch go now without eating the day's pace?"""
        now = now.astimezone(UTC)
        fraction = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() \
            / 86400
        allowance = self.spare_share * self.budget.per_day * fraction + self.spare_floor
        return self.budget.used_today(now) + 1 <= allowance

    # -- reads --
    def fetch_detail(self, rma_id: str, now: datetime | None = None) -> dict[str, Any]:
        now = now or self._now()
        rid = rma_id[3:] if rma_id.upper().startswith("RMA") else rma_id
        body = self._call("GET", f"/rma/{rid}", now, what=f"ReturnGO get RMA{rid}")
        self.calls["detail"] += 1
        if not isinstance(body, dict) or "rmaSummary" not in body:
            raise PermanentError(f"ReturnGO get RMA{rid}: unexpected answer shape")
        return body

    def get_return(self, platform_id: str) -> tuple[Return, dict[str, Any]]:
        raw = self.fetch_detail(platform_id)
        ret = parse_rma(raw, store=self.store, default_warehouse=self.default_warehouse)
        self._remember(ret)
        return ret, raw

    def _classify(self, summary: Mapping[str, Any], now: datetime) -> str:
        """'skip' | 'status' | 'summary' | 'detail' for one list summary."""
        rid, status = str(summary.get("rmaId")), str(summary.get("status") or "")
        known = self._known(rid)
        if known is None:
            if status in RETURNGO_DECISION_STATUSES:
                return "detail"
            if status in RETURNGO_TERMINAL_STATUSES:
                return "summary"
            return "detail" if self._spare(now) else "summary"
        if known.raw_status == status:
            if not known.lines and status not in RETURNGO_TERMINAL_STATUSES and self._spare(now):
                return "detail"  # spare budget: learn the lines early
            return "skip"
        if status in RETURNGO_DECISION_STATUSES and not _graded_by_returngo(known):
            return "detail"
        if not known.lines and status not in RETURNGO_TERMINAL_STATUSES and self._spare(now):
            return "detail"
        return "status"

    def list_changed(self, cursor: str | None, now: datetime) -> ReturnsPage:
        st = decode_cursor(cursor) or {"since": None, "pass": None, "page": None, "todo": [],
                                       "listed": None}
        returns: list[Return] = []
        raws: list[dict[str, Any]] = []
        calls = 0
        self.last_error = None

        def emit(ret: Return, raw: dict[str, Any]) -> None:
            self._remember(ret)
            returns.append(ret)
            raws.append(raw)

        try:
            while calls < self.max_calls_per_sync:
                if self.budget.delay_for(now) > 0:
                    break
                if st["todo"]:
                    rid = st["todo"][0]
                    calls += 1
                    try:
                        raw = self.fetch_detail(rid, now)
                    except PermanentError as exc:  # 404: gone; never block the queue on it
                        st["todo"].pop(0)
                        self.last_error = exc
                        continue
                    st["todo"].pop(0)
                    emit(parse_rma(raw, store=self.store,
                                   default_warehouse=self.default_warehouse), raw)
                    continue
                if st["pass"] is None:
                    listed = parse_ts(st.get("listed"))
                    if listed is not None and now - listed < self.min_list_interval:
                        break
                    st["pass"], st["page"] = iso(now), None
                params: list[tuple[str, str]] = [("pagesize", str(self.page_size))]
                if st["since"]:
                    since = parse_ts(st["since"]).strftime("%Y-%m-%dT%H:%M:%S")
                    params.append(("rma_updated_at", f"gte:{since}"))
                if st["page"]:
                    params.append(("cursor", st["page"]))
                calls += 1
                body = self._call("GET", "/rmas", now, what="ReturnGO list RMAs", params=params)
                self.calls["list"] += 1
                for summary in (body or {}).get("rmas") or []:
                    verdict = self._classify(summary, now)
                    rid = str(summary.get("rmaId"))
                    if verdict == "detail" and rid not in st["todo"]:
                        st["todo"].append(rid)
                    elif verdict == "status":
                        emit(_status_update(self._known(rid), summary, now), dict(summary))
                    elif verdict == "summary":
                        emit(summary_return(summary, store=self.store, now=now), dict(summary))
                nxt = (body or {}).get("next_cursor")
                if nxt:
                    st["page"] = nxt
                else:  # the pass is complete: the next one starts where this one began
                    began = parse_ts(st["pass"])
                    st["since"] = iso(began - self.lookback)
                    st["listed"], st["pass"], st["page"] = st["pass"], None, None
        except Exception as exc:
            if not returns:
                raise
            self.last_error = exc  # keep what was read; the cursor still points at the rest
        delay = self.budget.delay_for(now)
        if calls == 0 and delay > 0:
            raise RateLimited("ReturnGO: call budget spent; nothing read", retry_after=delay)
        return ReturnsPage(returns=returns, raw=raws, next_cursor=encode_cursor(st))

    def has_more(self, cursor: str | None, now: datetime) -> bool:
        """Work left that could be done now (details queued, a pass half done, a pass due)."""
        st = decode_cursor(cursor)
        if st is None:
            return True
        if st["todo"] or st["pass"] is not None:
            return True
        listed = parse_ts(st.get("listed"))
        return listed is None or now - listed >= self.min_list_interval

    # -- writes --
    def approve(self, key: str, ret: Return) -> Effect:
        raise PermanentError("ReturnGO does not move money: Returnline refunds in commerce")

    def find_approval(self, ret: Return) -> Effect | None:
        return None

    def post_comment(self, key: str, ret: Return, text: str) -> Effect:
        """Shown on ReturnGO's RMA timeline; the key is kept in the text so a lookup finds it."""
        now = self._now()
        body = self._call("POST", f"/rma/{ret.platform_id}/comment", now, write=True,
                          what=f"ReturnGO comment on RMA{ret.platform_id}",
                          json={"comment": f"{text} [ref {key}]"})
        self.calls["comment"] += 1
        return Effect(external_id=None, summary=f"comment posted on RMA{ret.platform_id}",
                      data={"key": key, "comment": body})

    def find_comment(self, ret: Return, key: str) -> Effect | None:
        raw = self.fetch_detail(ret.platform_id)
        for c in raw.get("comments") or []:
            if f"[ref {key}]" in (c.get("htmlText") or ""):
                return Effect(external_id=None, summary=f"comment already on RMA{ret.platform_id}",
                              data={"key": key, "comment": c})
        return None
