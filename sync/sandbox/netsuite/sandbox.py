"""NetSuite SuiteTalk REST simulator: records, transform, eid upsert, SuiteQL, auth, limits.

What it holds is what finance would see in NetSuite: return authorisations and credit memos
(with external ids, lines and totals), seeded items (by SKU), locations (named by Returnline's
location ids), currencies and customers. `external_view()` reads credit memos from that state.

Faithful parts (reference A): 204 + Location on create/upsert/transform, `eid:` addressing and
PUT upsert, `!transform/creditMemo`, `o:errorDetails` error bodies, 401 with WWW-Authenticate,
a per-account concurrency limit answered with 429 CONCURRENCY_LIMIT_EXCEEDED, SuiteQL paging
(`limit`/`offset`, `hasMore`, `items`), OAuth 2.0 M2M token endpoint (JWT verified with the
registered public key) and TBA HMAC-SHA256 (signature, timestamp window, nonce replay).
Assumptions are in sync/connectors/netsuite/wire.py ASSUMED.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
from datetime import UTC
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from rules.money import Money, MoneyError
from sync.connectors.netsuite.auth import (
    b64url_decode,
    oauth1_base_string,
    oauth1_signature,
    parse_oauth_header,
)
from sync.connectors.netsuite.wire import (
    ASSUMED,
    dumps_exact,
    error_body,
    hostname,
    loads_exact,
    realm,
)
from sync.sandbox.base import Sandbox, SandboxRequest, SandboxResponse
from sync.sandbox.netsuite.suiteql import SuiteQLError, run

RECORD_TYPES = {"returnauthorization": "returnAuthorization", "creditmemo": "creditMemo"}
WRITE_OPS = {"returnAuthorization": "return_authorisation", "creditMemo": "credit_note"}
READ_OPS = {"returnAuthorization": "get_return_authorisation", "creditMemo": "get_credit_note"}
TRAN_TYPES = {"returnAuthorization": ("RtnAuth", "RMA"), "creditMemo": ("CustCred", "CM")}
DEFAULT_CURRENCIES = ("GBP", "USD", "EUR", "CAD", "AUD", "JPY", "KWD")
MONEY_FIELDS = ("rate", "amount", "total")

# Published demo credentials so the replay and `returnline demo` need no real secrets.
DEMO_TBA = {"consumer_key": "sandbox-consumer-key", "consumer_secret": "sandbox-consumer-secret",
            "token_id": "sandbox-token-id", "token_secret": "sandbox-token-secret"}

INVALID_LOGIN = ("Invalid login attempt. For more details, see the Login Audit Trail in the "
                 "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.")


class NetSuiteSandbox(Sandbox):
    name = "netsuite"

    def __init__(self, clock=None, *, account_id: str = "1234567_SB1",
                 concurrency_limit: int = 15, require_auth: bool = True) -> None:
        super().__init__(clock)
        self.account_id = account_id
        self.hosts = (f"{hostname(account_id)}.suitetalk.api.netsuite.com",)
        self.concurrency_limit = concurrency_limit  # 5 + 10 x 1 SuiteCloud Plus licence
        self.require_auth = require_auth
        self.held_slots = 0  # requests other integrations have in flight (shared limit)
        self._in_flight = 0
        self._slots_lock = threading.Lock()
        self._local = threading.local()
        # credentials (never dumped: secrets) and live tokens
        self._tba: dict[str, dict[str, str]] = {}
        self._m2m: dict[str, dict[str, Any]] = {}  # kid -> {client_id, public_key, scopes}
        self._tokens: dict[str, float] = {}
        self._nonces: dict[str, float] = {}
        self.register_tba(**DEMO_TBA)
        self.state: dict[str, Any] = {}
        self._reset_state()
        self._routes()

    # --- seeding -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.state = {"records": {"returnAuthorization": {}, "creditMemo": {}},
                      "items": {}, "locations": {}, "currencies": {}, "customers": {},
                      "next_id": {"transaction": 100, "item": 500, "location": 1,
                                  "currency": 1, "customer": 1}}
        for code in DEFAULT_CURRENCIES:
            self.seed_currency(code)
        self.seed_customer("Web Sales", email=None)

    def _next(self, kind: str) -> str:
        n = self.state["next_id"][kind]
        self.state["next_id"][kind] = n + 1
        return str(n)

    def seed_currency(self, code: str) -> str:
        with self.lock:
            for cid, cur in self.state["currencies"].items():
                if cur["symbol"] == code.upper():
                    return cid
            cid = self._next("currency")
            self.state["currencies"][cid] = {"id": cid, "symbol": code.upper(), "name": code.upper()}
            return cid

    def seed_customer(self, name: str, email: str | None = None) -> str:
        with self.lock:
            cid = self._next("customer")
            self.state["customers"][cid] = {"id": cid, "entityid": name, "email": email}
            return cid

    def seed_item(self, sku: str, name: str = "") -> str:
        with self.lock:
            for iid, item in self.state["items"].items():
                if item["itemid"] == sku:
                    return iid
            iid = self._next("item")
            self.state["items"][iid] = {"id": iid, "itemid": sku, "displayname": name or sku,
                                        "itemtype": "InvtPart"}
            return iid

    def seed_items(self, skus) -> dict[str, str]:
        return {sku: self.seed_item(sku) for sku in skus}

    def seed_location(self, location_id: str, name: str = "") -> str:
        with self.lock:
            wanted = name or location_id
            for lid, loc in self.state["locations"].items():
                if loc["name"] == wanted:
                    return lid
            lid = self._next("location")
            self.state["locations"][lid] = {"id": lid, "name": wanted, "isinactive": "F"}
            return lid

    def register_tba(self, consumer_key: str, consumer_secret: str, token_id: str,
                     token_secret: str) -> None:
        self._tba[token_id] = {"consumer_key": consumer_key, "consumer_secret": consumer_secret,
                               "token_secret": token_secret}

    def register_m2m(self, client_id: str, certificate_id: str, public_key_pem: bytes | str,
                     scopes: tuple[str, ...] = ("rest_webservices",)) -> None:
        pem = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        self._m2m[certificate_id] = {"client_id": client_id, "public_key": pem,
                                     "scopes": set(scopes)}

    def revoke_tokens(self) -> None:
        """Every issued OAuth 2.0 access token stops working (as after a restart)."""
        self._tokens.clear()

    # --- routes ------------------------------------------------------------------------------
    def _routes(self) -> None:
        rec = "/services/rest/record/v1"
        self.add_route("POST", "/services/rest/auth/oauth2/v1/token", self._token, "token")
        self.add_route("POST", "/services/rest/query/v1/suiteql", self._suiteql, "suiteql")
        self.add_route("POST", rec + r"/(?P<src>[A-Za-z]+)/(?P<ref>[^/]+)/!transform/(?P<dst>[A-Za-z]+)",
                       self._transform, lambda r, p: WRITE_OPS.get(_rtype(p["dst"]) or "", "transform"))
        self.add_route("PUT", rec + r"/(?P<rtype>[A-Za-z]+)/eid:(?P<ext>[^/]+)", self._upsert,
                       lambda r, p: WRITE_OPS.get(_rtype(p["rtype"]) or "", "upsert"))
        self.add_route("POST", rec + r"/(?P<rtype>[A-Za-z]+)/?", self._create,
                       lambda r, p: WRITE_OPS.get(_rtype(p["rtype"]) or "", "create"))
        self.add_route("GET", rec + r"/(?P<rtype>[A-Za-z]+)/(?P<ref>[^/]+)", self._get,
                       lambda r, p: READ_OPS.get(_rtype(p["rtype"]) or "", "get"))

    # --- error shapes ----------------------------------------------------------------------------
    def _error(self, status: int, title: str, detail: str, code: str, path: str | None = None,
               headers: dict[str, str] | None = None) -> SandboxResponse:
        entry = (detail, code, path) if path else (detail, code)
        return SandboxResponse.json(error_body(status, title, [entry]), status, headers)

    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        if kind in ("http_429", "throttled"):
            return self._concurrency_refusal()
        if kind == "conflict_409":
            return self._error(409, "Conflict", "Record has been changed since you retrieved it.",
                               ASSUMED["conflict_code"])
        status = 503 if kind == "http_503" else 500
        return self._error(status, "Service Unavailable" if status == 503 else
                           "Internal Server Error", "An unexpected error occurred. "
                           "Error ID: sandbox", "UNEXPECTED_ERROR")

    def _concurrency_refusal(self) -> SandboxResponse:
        return SandboxResponse.json(
            {"type": "https://www.rfc-editor.org/rfc/rfc6585.html#section-4",
             "title": "Too Many Requests", "status": 429,
             "o:errorDetails": [{"detail": "Concurrent request limit exceeded. Request blocked.",
                                 "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}, 429)

    def not_found(self, req: SandboxRequest) -> SandboxResponse:
        return self._error(404, "Not Found", f"Invalid URL: {req.path}", "INVALID_URL")

    def _nonexistent(self) -> SandboxResponse:
        return self._error(404, "Not Found", "The record instance does not exist. Provide a "
                           "valid record instance ID.", "NONEXISTENT_ID")

    # --- concurrency: counted before the request may take the sandbox lock -----------------------
    def handle(self, req: SandboxRequest) -> SandboxResponse:
        with self._slots_lock:
            self._in_flight += 1
            over = self._in_flight + self.held_slots > self.concurrency_limit
        self._local.over = over
        try:
            return super().handle(req)
        finally:
            with self._slots_lock:
                self._in_flight -= 1

    def _dispatch(self, req: SandboxRequest, entry: dict[str, Any]) -> SandboxResponse:
        if req.path.endswith("/oauth2/v1/token") and isinstance(entry.get("body"), str):
            # the signed assertion is a bearer credential for up to an hour: never journal it
            entry["body"] = re.sub(r"(client_assertion=)[^&]+", r"\1***", entry["body"])
        if getattr(self._local, "over", False) and "/auth/" not in req.path:
            entry["operation"] = "concurrency_limit"
            return self._concurrency_refusal()
        return super()._dispatch(req, entry)

    # --- authentication ------------------------------------------------------------------------
    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        if not self.require_auth or req.path.startswith("/services/rest/auth/"):
            return None
        header = req.header("authorization") or ""
        now = self.clock.now().timestamp()
        if header.startswith("Bearer "):
            expires = self._tokens.get(header[len("Bearer "):])
            if expires is not None and now < expires:
                return None
            return self._unauthorised("invalid_token", "The access token is invalid or expired.")
        if header.startswith("OAuth ") and self._tba_ok(req, parse_oauth_header(header), now):
            return None
        return self._unauthorised("invalid_token", "Invalid login attempt.")

    def _unauthorised(self, error: str, description: str) -> SandboxResponse:
        challenge = (f'Bearer realm="{realm(self.account_id)}", error="{error}", '
                     f'error_description="{description}"')
        return self._error(401, "Unauthorized", INVALID_LOGIN, "INVALID_LOGIN",
                           headers={"www-authenticate": challenge})

    def _tba_ok(self, req: SandboxRequest, oauth: dict[str, str], now: float) -> bool:
        creds = self._tba.get(oauth.get("oauth_token", ""))
        if not creds or oauth.get("oauth_consumer_key") != creds["consumer_key"]:
            return False
        if oauth.get("realm") != realm(self.account_id) or \
                oauth.get("oauth_signature_method") != "HMAC-SHA256":
            return False
        try:
            ts = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            return False
        nonce = oauth.get("oauth_nonce", "")
        if abs(now - ts) > 300 or not nonce or nonce in self._nonces:
            return False  # stale, or a replayed nonce: every retry must be signed afresh
        params = [(k, v) for k, vs in req.query.items() for v in vs]
        params += [(k, v) for k, v in oauth.items() if k not in ("realm", "oauth_signature")]
        host = req.header("host") or self.hosts[0]
        presented = oauth.get("oauth_signature", "")
        # in-process the scheme is https; on `sandbox serve` the caller signed an http URL
        if not any(hmac.compare_digest(oauth1_signature(
                oauth1_base_string(req.method, f"{scheme}://{host}{req.path}", params),
                creds["consumer_secret"], creds["token_secret"]), presented)
                for scheme in ("https", "http")):
            return False
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < 600}
        self._nonces[nonce] = now
        return True

    def _token(self, req: SandboxRequest) -> SandboxResponse:
        form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or \
                form.get("client_assertion_type") != \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return SandboxResponse.json({"error": "invalid_request"}, 400)
        problem = self._check_assertion(form.get("client_assertion", ""), req)
        if problem:
            return SandboxResponse.json({"error": problem}, 400)
        n = len(self._tokens) + 1
        token = f"nsat.sandbox.{int(self.clock.now().timestamp())}.{n}"
        self._tokens[token] = self.clock.now().timestamp() + 3600
        return SandboxResponse.json({"access_token": token, "expires_in": "3600",
                                     "token_type": "Bearer"})

    def _check_assertion(self, jwt: str, req: SandboxRequest) -> str | None:
        try:
            head_b64, payload_b64, sig_b64 = jwt.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(payload_b64))
            sig = b64url_decode(sig_b64)
        except (ValueError, json.JSONDecodeError):
            return "invalid_request"
        reg = self._m2m.get(header.get("kid", ""))
        if reg is None or claims.get("iss") != reg["client_id"]:
            return "invalid_client"
        if not _verify_jwt_signature(header.get("alg"), reg["public_key"],
                                     f"{head_b64}.{payload_b64}".encode(), sig):
            return "invalid_client"
        host = req.header("host") or self.hosts[0]
        now = self.clock.now().timestamp()
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if claims.get("aud") not in (f"{scheme}://{host}/services/rest/auth/oauth2/v1/token"
                                     for scheme in ("https", "http")):
            return "invalid_grant"
        if not (exp > now and exp - iat <= 3600 and iat <= now + 300):
            return "invalid_grant"
        scopes = {s.strip() for s in str(claims.get("scope", "")).split(",")}
        if "rest_webservices" not in scopes & reg["scopes"]:
            return "invalid_scope"
        return None

    # --- records -----------------------------------------------------------------------------
    def _find(self, rtype: str, ref: str) -> dict[str, Any] | None:
        records = self.state["records"][rtype]
        if ref.startswith("eid:"):
            ext = ref[4:]
            return next((r for r in records.values() if r.get("externalId") == ext), None)
        return records.get(ref)

    def _get(self, req: SandboxRequest, rtype: str, ref: str) -> SandboxResponse:
        canon = _rtype(rtype)
        if canon is None:
            return self.not_found(req)
        rec = self._find(canon, ref)
        if rec is None:
            return self._nonexistent()
        return _exact_json(self._render(canon, rec))

    def _create(self, req: SandboxRequest, rtype: str) -> SandboxResponse:
        canon = _rtype(rtype)
        if canon is None:
            return self.not_found(req)
        return self._write(canon, self._body(req), ext=None, upsert=False)

    def _upsert(self, req: SandboxRequest, rtype: str, ext: str) -> SandboxResponse:
        canon = _rtype(rtype)
        if canon is None:
            return self.not_found(req)
        return self._write(canon, self._body(req), ext=ext, upsert=True)

    def _transform(self, req: SandboxRequest, src: str, ref: str, dst: str) -> SandboxResponse:
        if _rtype(src) != "returnAuthorization" or _rtype(dst) != "creditMemo":
            return self._error(400, "Bad Request", f"Transformation from {src} to {dst} is not "
                               "supported.", "INVALID_TRANSFORM")
        ra = self._find("returnAuthorization", ref)
        if ra is None:
            return self._nonexistent()
        if ra.get("orderStatus", {}).get("id") == "A":
            return self._error(400, "Bad Request", "You cannot create a credit memo from a "
                               "return authorization that is pending approval.", "USER_ERROR")
        body = self._body(req)
        if not isinstance(body, dict):
            return body
        replace = set((req.arg("replace") or "").split(","))
        if "item" not in replace or not body.get("item", {}).get("items"):
            body["item"] = {"items": [
                {k: (Decimal(v) if k in MONEY_FIELDS else copy.deepcopy(v))
                 for k, v in line.items() if k != "line"} for line in ra["item"]["items"]]}
        body["entity"] = ra["entity"]
        body["currency"] = ra["currency"]
        body["createdFrom"] = {"id": ra["id"]}
        return self._write("creditMemo", body, ext=None, upsert=False)

    def _body(self, req: SandboxRequest) -> Any:
        try:
            body = loads_exact(req.body) if req.body else {}
        except ValueError:
            return self._error(400, "Bad Request", "Invalid content in the request body.",
                               "INVALID_CONTENT")
        if not isinstance(body, dict):
            return self._error(400, "Bad Request", "Invalid content in the request body.",
                               "INVALID_CONTENT")
        return body

    def _write(self, rtype: str, body: Any, *, ext: str | None, upsert: bool) -> SandboxResponse:
        if isinstance(body, SandboxResponse):
            return body
        ext = ext or body.get("externalId")
        existing = self._find(rtype, f"eid:{ext}") if ext else None
        if existing is not None and not upsert:
            return self._error(400, "Bad Request", "A record already exists with this external "
                               f"ID: {ext}.", ASSUMED["duplicate_code"], "externalId")
        problem, rec = self._validate(rtype, body, existing)
        if problem is not None:
            return problem
        if existing is not None:
            rec.update({k: existing[k] for k in ("id", "tranId", "createdDate")})
        else:
            rec["id"] = self._next("transaction")
            rec["tranId"] = f"{TRAN_TYPES[rtype][1]}{rec['id']}"
            rec["createdDate"] = self.clock.now().astimezone(UTC).strftime(
                ASSUMED["suiteql_datetime"])
        if ext:
            rec["externalId"] = ext
        self.state["records"][rtype][rec["id"]] = rec
        location = (f"https://{self.hosts[0]}/services/rest/record/v1/{rtype}/{rec['id']}")
        return SandboxResponse.empty(204, {"location": location})

    def _validate(self, rtype: str, body: dict[str, Any], existing: dict[str, Any] | None
                  ) -> tuple[SandboxResponse | None, dict[str, Any]]:
        def ref_of(field: str) -> str | None:
            value = body.get(field) or (existing or {}).get(field)
            return str(value.get("id")) if isinstance(value, dict) and "id" in value else None

        bad = lambda detail, path: (self._error(  # noqa: E731
            400, "Bad Request", detail, "INVALID_KEY_OR_REF", path), {})
        entity, currency = ref_of("entity"), ref_of("currency")
        if entity is None or entity not in self.state["customers"]:
            return bad(f"Invalid entity reference key {entity}.", "entity")
        if currency is None or currency not in self.state["currencies"]:
            return bad(f"Invalid currency reference key {currency}.", "currency")
        code = self.state["currencies"][currency]["symbol"]
        lines_in = (body.get("item") or {}).get("items")
        if lines_in is None and existing is not None:
            lines_in = existing["item"]["items"]
        if not lines_in:
            return self._error(400, "Bad Request", "You must enter at least one line item for "
                               "this transaction.", "USER_ERROR", "item"), {}
        lines, total = [], Money.zero(code)
        for i, line in enumerate(lines_in):
            path = f"item.items[{i}]"
            item_id = str((line.get("item") or {}).get("id"))
            if item_id not in self.state["items"]:
                return bad(f"Invalid item reference key {item_id}.", f"{path}.item")
            loc = (line.get("location") or {}).get("id")
            if loc is not None and str(loc) not in self.state["locations"]:
                return bad(f"Invalid location reference key {loc}.", f"{path}.location")
            qty = line.get("quantity", 1)
            try:
                qty_d = Decimal(str(qty))
                rate = Decimal(str(line["rate"])) if line.get("rate") is not None else None
                if line.get("amount") is not None:
                    amount = Money.parse(Decimal(str(line["amount"])), code)
                elif rate is not None:
                    amount = Money.from_decimal(rate * qty_d, code)
                else:
                    raise MoneyError("no amount or rate")
            except (MoneyError, ValueError, ArithmeticError) as exc:
                return self._error(400, "Bad Request", f"Invalid amount on line {i + 1}: {exc}.",
                                   "USER_ERROR", f"{path}.amount"), {}
            if qty_d < 0:
                return self._error(400, "Bad Request", "Quantity must be positive.",
                                   "USER_ERROR", f"{path}.quantity"), {}
            total += amount
            entry = {"line": i + 1, "item": {"id": item_id,
                                             "refName": self.state["items"][item_id]["itemid"]},
                     "quantity": int(qty_d) if qty_d == qty_d.to_integral_value() else str(qty_d),
                     "amount": amount.amount_str()}
            if rate is not None:
                entry["rate"] = format(rate, "f")
            if loc is not None:
                entry["location"] = {"id": str(loc)}
            lines.append(entry)
        rec = {k: v for k, v in (existing or {}).items()}
        for k, v in body.items():
            if k not in ("item", "id", "links", "total"):
                rec[k] = _plain(v)
        rec.update({"entity": {"id": entity}, "currency": {"id": currency, "refName": code},
                    "item": {"items": lines}, "total": total.amount_str()})
        if rtype == "returnAuthorization":
            rec.setdefault("orderStatus", {"id": "A"})
        return None, rec

    def _render(self, rtype: str, rec: dict[str, Any]) -> dict[str, Any]:
        out = _decimals(copy.deepcopy(rec))
        out["links"] = [{"rel": "self", "href": f"https://{self.hosts[0]}/services/rest/record/"
                         f"v1/{rtype}/{rec['id']}"}]
        return out

    # --- SuiteQL -----------------------------------------------------------------------------
    def _tables(self) -> dict[str, list[dict[str, Any]]]:
        rid, rref = ASSUMED["return_id_field"], ASSUMED["refund_ref_field"]
        tx = []
        for rtype, records in self.state["records"].items():
            type_code = TRAN_TYPES[rtype][0]
            for rec in records.values():
                total = Decimal(rec["total"])
                if rtype == "creditMemo":
                    total = total * ASSUMED["credit_total_sign"]
                tx.append({"id": rec["id"], "tranid": rec["tranId"], "type": type_code,
                           "externalid": rec.get("externalId"), "foreigntotal": format(total, "f"),
                           "currency": rec["currency"]["id"], "createddate": rec["createdDate"],
                           "trandate": rec.get("tranDate"), "memo": rec.get("memo"),
                           "createdfrom": (rec.get("createdFrom") or {}).get("id"),
                           rid: rec.get(rid), rref: rec.get(rref)})
        tx.sort(key=lambda r: int(r["id"]))
        return {"transaction": tx, "item": list(self.state["items"].values()),
                "location": list(self.state["locations"].values()),
                "currency": list(self.state["currencies"].values()),
                "customer": list(self.state["customers"].values())}

    def _suiteql(self, req: SandboxRequest) -> SandboxResponse:
        if (req.header("prefer") or "").lower() != "transient":
            return self._error(400, "Bad Request", "The request must contain the header "
                               "'Prefer: transient'.", "INVALID_HEADER")
        body = self._body(req)
        if isinstance(body, SandboxResponse):
            return body
        try:
            limit = min(1000, max(1, int(req.arg("limit", "1000") or 1000)))
            offset = max(0, int(req.arg("offset", "0") or 0))
            rows = run(str(body.get("q", "")), self._tables())
        except (SuiteQLError, ValueError) as exc:
            return self._error(400, "Bad Request", str(exc), ASSUMED["bad_query_code"])
        page = rows[offset:offset + limit]
        has_more = offset + limit < len(rows)
        return SandboxResponse.json({
            "links": [{"rel": "self", "href": f"https://{self.hosts[0]}/services/rest/query/v1/"
                       f"suiteql?limit={limit}&offset={offset}"}],
            "count": len(page), "hasMore": has_more, "offset": offset,
            "totalResults": len(rows),
            "items": [{"links": [], **{k: str(v) for k, v in row.items()}} for row in page],
        })

    # --- ground truth, dump/load --------------------------------------------------------------
    def external_view(self) -> dict[str, Any]:
        rid, rref = ASSUMED["return_id_field"], ASSUMED["refund_ref_field"]
        with self.lock:
            memos = sorted(self.state["records"]["creditMemo"].values(), key=lambda r: int(r["id"]))
            return {"credit_notes": [{"return": m.get(rid), "amount": m["total"],
                                      "currency": m["currency"]["refName"],
                                      "external_id": m.get("externalId"), "refund": m.get(rref),
                                      "return_authorisation": (m.get("createdFrom") or {})
                                      .get("id")}
                                     for m in memos],
                    "return_authorisations": self.return_authorisations()}

    def return_authorisations(self) -> list[dict[str, Any]]:
        rid = ASSUMED["return_id_field"]
        with self.lock:
            ras = sorted(self.state["records"]["returnAuthorization"].values(),
                         key=lambda r: int(r["id"]))
            return [{"id": r["id"], "return": r.get(rid), "amount": r["total"],
                     "currency": r["currency"]["refName"], "external_id": r.get("externalId")}
                    for r in ras]

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.state))

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.state = json.loads(json.dumps(state))


def _rtype(name: str) -> str | None:
    return RECORD_TYPES.get(name.lower())


def _plain(value: Any) -> Any:
    """Body values as stored: Decimals become exact strings (JSON-able state)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _decimals(rec: Any) -> Any:
    """Stored money strings back to exact JSON numbers for responses."""
    if isinstance(rec, dict):
        return {k: (Decimal(v) if k in MONEY_FIELDS and isinstance(v, str) else _decimals(v))
                for k, v in rec.items()}
    if isinstance(rec, list):
        return [_decimals(v) for v in rec]
    return rec


def _exact_json(payload: Any, status: int = 200) -> SandboxResponse:
    return SandboxResponse(status, dumps_exact(payload),
                           {"content-type": "application/vnd.oracle.resource+json; type=singular"})


def _verify_jwt_signature(alg: str | None, public_pem: bytes, signing_input: bytes,
                          sig: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    except ImportError:  # pragma: no cover
        return False
    key = serialization.load_pem_public_key(public_pem)
    try:
        if alg == "PS256":
            key.verify(sig, signing_input, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                       salt_length=32), hashes.SHA256())
        elif alg == "ES256" and len(sig) == 64:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                       int.from_bytes(sig[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True
