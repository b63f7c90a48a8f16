"""NetSuite as Returnline's ERP: return authorisations and one credit memo per refund.

Why these calls (reference A4-A9):
- Return authorisation: `PUT returnAuthorization/eid:{key}` (upsert). The order lives in the
  commerce platform, not necessarily in NetSuite, so there is no sales order to transform from;
  the external-id upsert makes the write idempotent by itself (a resend updates, never doubles).
- Credit memo: `POST returnAuthorization/{id}/!transform/creditMemo?replace=item` when the
  return has an RA (the memo is then linked to it, as finance expects), with `externalId` = the
  action key. NetSuite keeps external ids unique per record type, so a resend after an unknown
  outcome is refused as a duplicate, which we answer by reading the memo back (`GET eid:`); the
  engine also looks it up with `find_credit_note` before any resend. Without an RA we fall back
  to `PUT creditMemo/eid:{key}`, idempotent by construction.
- The new id comes from the `Location` header of the 204 (there is no body).
- Amounts: Money -> Decimal -> exact JSON number (wire.dumps_exact); line amounts are
  authoritative, and they sum to the refund exactly or nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from rules.model import Order, Return
from rules.money import Money, MoneyError
from sync.connectors.base import (
    AuthError,
    CallRecord,
    ConflictError,
    ConnectorError,
    CreditNoteRequest,
    Effect,
    NotFound,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from sync.connectors.netsuite.auth import NetSuiteAuth
from sync.connectors.netsuite.wire import (
    ASSUMED,
    dumps_exact,
    error_message,
    external_id_for,
    hostname,
    key_from_external_id,
    loads_exact,
)

SUITEQL_PAGE = 1000  # client libraries cap a page at 1000 rows (reference A9)
RATE_PLACES = Decimal("0.00000001")  # rate is informational when amount/qty does not divide


@dataclass
class NetSuiteConfig:
    account_id: str
    customer_id: str = "1"  # ASSUMED: a catch-all web-sales customer for returns
    location_ids: dict[str, str] = field(default_factory=dict)  # Returnline id -> NetSuite id
    adjustment_item_id: str | None = None  # line for refund money not on item lines (shipping)
    return_id_field: str = ASSUMED["return_id_field"]
    refund_ref_field: str = ASSUMED["refund_ref_field"]
    use_transform: bool = True  # transform from the RA when the return has one
    base_url: str | None = None  # e.g. http://127.0.0.1:8401 for `returnline sandbox serve`


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dec(money: Money) -> Decimal:
    return money.to_decimal()


def _rate(amount: Money, qty: int) -> Decimal:
    """Unit rate; informational (the amount is authoritative) when it does not divide."""
    if qty <= 0:
        return _dec(amount)
    rate = _dec(amount) / qty
    return rate if rate == rate.quantize(RATE_PLACES) else rate.quantize(RATE_PLACES)


class NetSuiteErp:
    name = "netsuite"

    def __init__(self, http: httpx.Client, config: NetSuiteConfig, auth: NetSuiteAuth,
                 *, clock: Any) -> None:
        self.http = http
        self.config = config
        self.auth = auth
        self.clock = clock
        root = (config.base_url or
                f"https://{hostname(config.account_id)}.suitetalk.api.netsuite.com").rstrip("/")
        self.base = f"{root}/services/rest"
        self._items: dict[str, str] = {}  # sku -> item id
        self._locations: dict[str, str] = dict(config.location_ids)
        self._currencies: dict[str, str] = {}  # id -> ISO symbol
        self._ra_by_return: dict[str, str] = {}

    # --- ErpConnector ------------------------------------------------------------------------
    def create_return_authorisation(self, key: str, ret: Return, order: Order,
                                    amounts: Mapping[str, Money] | None = None) -> Effect:
        """The RA for `ret`'s lines. `amounts` (by return line id) values them as Returnline's
        rules do (bundle shares, precise prices); without it, the order's unit price x qty."""
        items = self._item_ids([line.sku for line in ret.lines])
        by_ref = {ol.line_ref: ol for ol in order.lines}
        lines, total = [], Money.zero(order.currency)
        for line in ret.lines:
            ol = by_ref.get(line.order_line_ref or "") or next(
                (o for o in order.lines if o.sku == line.sku), None)
            if ol is None:
                raise PermanentError(f"return {ret.return_id}: SKU {line.sku} is not on order "
                                     f"{order.order_ref}")
            amount = (amounts or {}).get(line.line_id) or ol.unit_price * line.qty
            total += amount
            lines.append({"item": {"id": items[line.sku]}, "quantity": line.qty,
                          "rate": _rate(amount, line.qty), "amount": _dec(amount)})
        ext = external_id_for(key)
        body = {
            "externalId": ext,
            "entity": {"id": self.config.customer_id},
            "currency": {"id": self._currency_id(order.currency)},
            "tranDate": self.clock.now().date().isoformat(),
            "orderStatus": {"id": ASSUMED["ra_status"]},
            "otherRefNum": order.order_ref,
            "memo": f"Returnline return {ret.return_id} for order {order.order_ref}",
            self.config.return_id_field: ret.return_id,
            "item": {"items": lines},
        }
        resp = self._write("PUT", f"record/v1/returnAuthorization/eid:{ext}", body,
                           what=f"return authorisation for {ret.return_id}")
        ra_id = self._location_id(resp, "return authorisation")
        self._ra_by_return[ret.return_id] = ra_id
        return Effect(ra_id, f"Return authorisation {ra_id} created in ERP (NetSuite) for "
                      f"return {ret.return_id}: {total}",
                      {"external_id": ext, "amount": total.amount_str(),
                       "currency": total.currency, "return": ret.return_id})

    def find_return_authorisation(self, key: str) -> Effect | None:
        """The RA an earlier attempt made, by its external id (= the action key)."""
        ext = external_id_for(key)
        resp = self._read("GET", f"record/v1/returnAuthorization/eid:{ext}",
                          what=f"return authorisation {key}", missing_ok=True)
        if resp is None:
            return None
        try:
            rec = loads_exact(resp.content)
            ra_id, total_text = str(rec["id"]), str(rec["total"])
            currency = self._currency_symbol((rec.get("currency") or {}).get("id"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TransientError(f"return authorisation {key}: NetSuite sent an unreadable "
                                 "record", call=_record(resp)) from None
        total = Money.parse(abs(Decimal(total_text)), currency)
        return_id = rec.get(self.config.return_id_field)
        if return_id:
            self._ra_by_return[str(return_id)] = ra_id
        return Effect(ra_id, f"Return authorisation {rec.get('tranId') or ra_id} found in ERP "
                      f"(NetSuite) by external id: {total}",
                      {"external_id": ext, "amount": total.amount_str(), "currency": currency,
                       "return": return_id, "already_existed": True})

    def create_credit_note(self, req: CreditNoteRequest) -> Effect:
        ext = external_id_for(req.key)
        body = self._credit_memo_body(req, ext)
        ra_id = self._find_ra(req.return_id) if self.config.use_transform else None
        what = f"credit memo for return {req.return_id}"
        if ra_id is not None:
            try:
                resp = self._write("POST", f"record/v1/returnAuthorization/{ra_id}/!transform/"
                                   "creditMemo", body, what=what, params={"replace": "item"})
            except PermanentError as exc:
                if exc.code != ASSUMED["duplicate_code"]:
                    raise
                found = self.find_credit_note(req.key)  # a resend: the first one is there
                if found is None:
                    raise
                found.data["already_existed"] = True
                return found
            via = "transform"
        else:
            body.update({"entity": {"id": self.config.customer_id},
                         "currency": {"id": self._currency_id(req.amount.currency)}})
            resp = self._write("PUT", f"record/v1/creditMemo/eid:{ext}", body, what=what)
            via = "upsert"
        memo_id = self._location_id(resp, "credit memo")
        return Effect(memo_id, f"NetSuite credit memo {memo_id} for return {req.return_id}: "
                      f"{req.amount}", {"external_id": ext, "amount": req.amount.amount_str(),
                                         "currency": req.amount.currency, "return": req.return_id,
                                         "refund": req.refund_reference, "via": via,
                                         "return_authorisation": ra_id})

    def find_credit_note(self, key: str) -> Effect | None:
        ext = external_id_for(key)
        resp = self._read("GET", f"record/v1/creditMemo/eid:{ext}", what=f"credit memo {key}",
                          missing_ok=True)
        if resp is None:
            return None
        try:
            rec = loads_exact(resp.content)
            currency_id = (rec.get("currency") or {}).get("id")
            total_text = str(rec["total"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TransientError(f"credit memo {key}: NetSuite sent an unreadable record",
                                 call=_record(resp)) from None
        currency = self._currency_symbol(currency_id)
        total = Money.parse(abs(Decimal(total_text)), currency)
        return Effect(str(rec["id"]), f"NetSuite credit memo {rec['id']} found by external id",
                      {"external_id": ext, "amount": total.amount_str(), "currency": currency,
                       "return": rec.get(self.config.return_id_field),
                       "refund": rec.get(self.config.refund_ref_field)})

    def list_credit_notes(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        fmt = ASSUMED["suiteql_datetime"]
        rid, rref = self.config.return_id_field, self.config.refund_ref_field
        q = (f"SELECT t.id, t.tranid, t.externalid, t.foreigntotal, t.currency, t.{rid}, t.{rref}, "
             f"t.createddate FROM transaction t WHERE t.type = 'CustCred' "
             f"AND t.createddate >= TO_TIMESTAMP({_q(since.astimezone(UTC).strftime(fmt))}, "
             f"'YYYY-MM-DD HH24:MI:SS') AND t.createddate < "
             f"TO_TIMESTAMP({_q(until.astimezone(UTC).strftime(fmt))}, 'YYYY-MM-DD HH24:MI:SS') "
             f"ORDER BY t.id")
        out = []
        for row in self._suiteql(q, what="credit memos for reconciliation"):
            currency = self._currency_symbol(row.get("currency"))
            ext = row.get("externalid")
            out.append({
                "id": str(row["id"]),
                "tranid": row.get("tranid"),
                "external_id": ext,
                "key": key_from_external_id(ext) if ext else None,
                "return": row.get(rid),
                "refund": row.get(rref),
                "amount": Money.parse(abs(Decimal(str(row.get("foreigntotal") or "0"))),
                                      currency).amount_str(),
                "currency": currency,
                "created": row.get("createddate"),
            })
        return out

    # --- request bodies ----------------------------------------------------------------------
    def _credit_memo_body(self, req: CreditNoteRequest, ext: str) -> dict[str, Any]:
        items = self._item_ids([line.sku for line in req.lines])
        location = self._location(req.location_id) if req.location_id else None
        lines, total = [], Money.zero(req.amount.currency)
        for line in req.lines:
            try:
                total += line.amount
            except MoneyError as exc:
                raise PermanentError(f"credit memo for {req.return_id}: {exc}") from None
            entry: dict[str, Any] = {"item": {"id": items[line.sku]}, "quantity": line.qty,
                                     "amount": _dec(line.amount)}
            if line.qty > 0:
                rate = _dec(line.amount) / line.qty
                entry["rate"] = rate if rate == rate.quantize(RATE_PLACES) \
                    else rate.quantize(RATE_PLACES)
            if location:
                entry["location"] = {"id": location}
            lines.append(entry)
        rest = req.amount - total
        if not rest.is_zero():
            if self.config.adjustment_item_id is None:
                raise PermanentError(
                    f"credit memo for {req.return_id}: lines sum to {total} but the refund is "
                    f"{req.amount}, and no adjustment item is configured")
            lines.append({"item": {"id": self.config.adjustment_item_id}, "quantity": 1,
                          "rate": _dec(rest), "amount": _dec(rest)})
        body: dict[str, Any] = {
            "externalId": ext,
            "tranDate": self.clock.now().date().isoformat(),
            "otherRefNum": req.order_ref,
            "memo": f"Returnline return {req.return_id}, refund {req.refund_reference}",
            self.config.return_id_field: req.return_id,
            self.config.refund_ref_field: req.refund_reference,
            "item": {"items": lines},
        }
        if location:
            body["location"] = {"id": location}
        return body

    # --- lookups (SuiteQL, cached for the connector's life) ----------------------------------
    def _item_ids(self, skus: list[str]) -> dict[str, str]:
        missing = sorted({s for s in skus if s not in self._items})
        if missing:
            rows = self._suiteql("SELECT id, itemid FROM item WHERE itemid IN ("
                                 + ", ".join(_q(s) for s in missing) + ")", what="items by SKU")
            for row in rows:
                self._items[str(row["itemid"])] = str(row["id"])
        unknown = [s for s in skus if s not in self._items]
        if unknown:
            raise PermanentError(f"NetSuite has no item for SKU {', '.join(sorted(set(unknown)))}",
                                 code="UNKNOWN_ITEM")
        return {s: self._items[s] for s in skus}

    def _location(self, location_id: str) -> str:
        if location_id not in self._locations:
            rows = self._suiteql(f"SELECT id, name FROM location WHERE name = {_q(location_id)}",
                                 what="location by name")
            if not rows:
                raise PermanentError(f"NetSuite has no location named {location_id}",
                                     code="UNKNOWN_LOCATION")
            self._locations[location_id] = str(rows[0]["id"])
        return self._locations[location_id]

    def _load_currencies(self) -> None:
        if not self._currencies:
            for row in self._suiteql("SELECT id, symbol FROM currency", what="currencies"):
                self._currencies[str(row["id"])] = str(row["symbol"]).upper()

    def _currency_id(self, code: str) -> str:
        self._load_currencies()
        for cid, symbol in self._currencies.items():
            if symbol == code:
                return cid
        raise PermanentError(f"NetSuite has no currency {code}", code="UNKNOWN_CURRENCY")

    def _currency_symbol(self, currency_id: Any) -> str:
        self._load_currencies()
        symbol = self._currencies.get(str(currency_id))
        if symbol is None:
            raise PermanentError(f"NetSuite currency {currency_id} is unknown")
        return symbol

    def _find_ra(self, return_id: str) -> str | None:
        if return_id not in self._ra_by_return:
            rows = self._suiteql(
                "SELECT id, tranid, externalid FROM transaction WHERE type = 'RtnAuth' AND "
                f"{self.config.return_id_field} = {_q(return_id)} ORDER BY id",
                what=f"return authorisation of {return_id}")
            if not rows:
                return None
            self._ra_by_return[return_id] = str(rows[0]["id"])
        return self._ra_by_return[return_id]

    def _suiteql(self, q: str, *, what: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            resp = self._read("POST", "query/v1/suiteql", what=what, body={"q": q},
                              params={"limit": str(SUITEQL_PAGE), "offset": str(offset)},
                              headers={"Prefer": "transient"})
            assert resp is not None
            try:
                page = loads_exact(resp.content)
                items = page["items"]
            except (ValueError, KeyError, TypeError):
                raise TransientError(f"{what}: NetSuite sent an unreadable SuiteQL page") from None
            rows.extend({k: v for k, v in item.items() if k != "links"} for item in items)
            if not page.get("hasMore") or not items:
                return rows
            offset += len(items)

    # --- HTTP --------------------------------------------------------------------------------
    def _write(self, method: str, path: str, body: dict[str, Any], *, what: str,
               params: dict[str, str] | None = None) -> httpx.Response:
        resp = self._send(method, path, body, params=params, write=True, what=what)
        if resp.status_code in (200, 201, 202, 204):
            return resp
        raise self._failure(resp, what)

    def _read(self, method: str, path: str, *, what: str, body: Any = None,
              params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
              missing_ok: bool = False) -> httpx.Response | None:
        resp = self._send(method, path, body, params=params, headers=headers, write=False,
                          what=what)
        if resp.status_code == 200:
            return resp
        if resp.status_code == 404 and missing_ok:
            return None
        raise self._failure(resp, what)

    def _send(self, method: str, path: str, body: Any, *, write: bool, what: str,
              params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        url = str(httpx.URL(f"{self.base}/{path}", params=params))
        content = dumps_exact(body) if body is not None else None
        for attempt in (1, 2):
            hdrs = {"Accept": "application/json", **(headers or {})}
            if content is not None:
                hdrs["Content-Type"] = "application/json"
            hdrs.update(self.auth.headers(method, url))  # signed afresh on every attempt
            try:
                resp = self.http.request(method, url, content=content, headers=hdrs)
            except httpx.ConnectError:
                raise TransientError(f"{what}: NetSuite unreachable (not sent)") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                call = CallRecord(method, url, None, loads_exact(content) if content else None)
                if write:
                    raise OutcomeUnknown(f"{what}: no answer from NetSuite "
                                         f"({type(exc).__name__}); look it up before resending",
                                         call=call) from None
                raise TransientError(f"{what}: no answer from NetSuite "
                                     f"({type(exc).__name__})", call=call) from None
            if resp.status_code == 401 and attempt == 1 and self.auth.invalidate():
                continue  # expired or revoked token: fetch a new one once
            return resp
        return resp

    def _location_id(self, resp: httpx.Response, what: str) -> str:
        location = resp.headers.get("location", "")
        record_id = location.rstrip("/").rsplit("/", 1)[-1] if location else ""
        if not record_id:
            raise OutcomeUnknown(f"{what}: NetSuite answered {resp.status_code} without a "
                                 "Location header; look it up before resending",
                                 call=_record(resp))
        return record_id

    def _failure(self, resp: httpx.Response, what: str) -> ConnectorError:
        status = resp.status_code
        try:
            body = loads_exact(resp.content) if resp.content else None
        except ValueError:
            body = None
        message, code = error_message(body)
        call = _record(resp)
        text = f"{what}: NetSuite {status}: {message}"
        if status == 429 or code == "CONCURRENCY_LIMIT_EXCEEDED":
            return RateLimited(text, retry_after=_retry_after(resp), call=call, code=code)
        if status == 401:
            challenge = resp.headers.get("www-authenticate", "")
            return AuthError(f"{what}: NetSuite refused the credentials "
                             f"({_challenge_reason(challenge) or message})", call=call, code=code)
        if status == 403:
            return AuthError(text, call=call, code=code)
        if status == 404:
            return NotFound(text, call=call, code=code)
        if status == 409:
            return ConflictError(text, call=call, code=code)
        if status >= 500:
            return TransientError(text, retry_after=_retry_after(resp), call=call, code=code)
        if body is None and status == 400 and resp.content:
            return OutcomeUnknown(f"{what}: unreadable NetSuite answer", call=call)
        return PermanentError(text, call=call, code=code)


def _record(resp: httpx.Response) -> CallRecord:
    req = resp.request
    def parse(content: bytes) -> Any:
        if not content:
            return None
        try:
            return loads_exact(content)
        except ValueError:
            return content[:2000].decode("utf-8", "replace")
    return CallRecord(req.method, str(req.url), resp.status_code, parse(req.content),
                      parse(resp.content))


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _challenge_reason(challenge: str) -> str:
    for part in challenge.split(","):
        name, _, value = part.strip().partition("=")
        if name.endswith("error_description"):
            return value.strip('"')
    return ""


def parse_created(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, ASSUMED["suiteql_datetime"]).replace(tzinfo=UTC)
