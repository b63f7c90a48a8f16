"""NetSuite wire details shared by the connector and its sandbox.

- Exact JSON: NetSuite amounts are JSON numbers. We never let a float near them: outgoing
  Decimals are written as their exact plain-notation digits (Decimal("20.00") -> 20.00), and
  incoming numbers are parsed with `parse_float=Decimal`.
- External ids: NetSuite allows letters, digits, `_` and `-` only (reference A6), while our
  idempotency keys look like "rl:R1:credit_note:1". The encoding is reversible: `:` -> `--`,
  any other disallowed byte -> `-HH` (hex), so "rl:R1:credit_note:1" -> "rl--R1--credit_note--1".
- Error bodies: `o:errorDetails[] {detail, o:errorCode, o:errorPath}` (reference A8).

Every assumption about NetSuite that the public record does not settle is listed in ASSUMED.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

# ASSUMED: the account-specific choices below. One place, so a real account can override them
# (NetSuiteConfig takes the field ids; the rest are the sandbox's and connector's shared view).
ASSUMED = {
    # Custom transaction body fields (Customization > Transaction Body Fields) that carry our ids,
    # so SuiteQL can find a return's RA and reconciliation can read return/refund per memo.
    "return_id_field": "custbody_rl_return_id",
    "refund_ref_field": "custbody_rl_refund_ref",
    # Duplicate externalId on create/transform: 400 with this code (SOAP's DUP_RCRD wording).
    "duplicate_code": "DUP_RCRD",
    # Record-changed conflicts surface as 409 with this code.
    "conflict_code": "RCRD_HAS_BEEN_CHANGED",
    # Unsupported SuiteQL answers 400 INVALID_PARAMETER "Invalid search query...".
    "bad_query_code": "INVALID_PARAMETER",
    # SuiteQL `createddate` rendered as "YYYY-MM-DD HH24:MI:SS" in the account's time zone (UTC).
    "suiteql_datetime": "%Y-%m-%d %H:%M:%S",
    # Credit memo `foreigntotal` is negative in the transaction table (a credit); readers take abs.
    "credit_total_sign": -1,
    # Return authorisation created approved: orderStatus B = Pending Receipt.
    "ra_status": "B",
    # 429 CONCURRENCY_LIMIT_EXCEEDED carries no Retry-After; the engine's backoff decides.
    "concurrency_retry_after": None,
}

_ALLOWED = re.compile(r"[A-Za-z0-9_]")


def external_id_for(key: str) -> str:
    out: list[str] = []
    for ch in key:
        if _ALLOWED.fullmatch(ch):
            out.append(ch)
        elif ch == ":":
            out.append("--")
        else:
            out.extend(f"-{b:02x}" for b in ch.encode("utf-8"))
    return "".join(out)


def key_from_external_id(external_id: str) -> str:
    raw = bytearray()
    i = 0
    while i < len(external_id):
        ch = external_id[i]
        if ch != "-":
            raw.extend(ch.encode())
            i += 1
        elif external_id[i + 1 : i + 2] == "-":
            raw.extend(b":")
            i += 2
        else:
            raw.append(int(external_id[i + 1 : i + 3], 16))
            i += 3
    return raw.decode("utf-8")


def dumps_exact(value: Any) -> bytes:
    """JSON with Decimals written digit for digit as numbers; floats refused."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("floats never reach NetSuite: pass Decimal")
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k)))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        out.append(json.dumps(value))


def loads_exact(content: bytes | str) -> Any:
    return json.loads(content, parse_float=Decimal)


def error_body(status: int, title: str, details: list[tuple[str, str] | tuple[str, str, str]]
               ) -> dict[str, Any]:
    """The documented error shape: (detail, code[, errorPath]) per entry."""
    entries = []
    for d in details:
        entry = {"detail": d[0], "o:errorCode": d[1]}
        if len(d) > 2:
            entry["o:errorPath"] = d[2]
        entries.append(entry)
    return {
        "type": f"https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#{_section(status)}",
        "title": title,
        "status": status,
        "o:errorDetails": entries,
    }


def _section(status: int) -> str:
    if status == 429:
        return "sec10.4.30"
    if status >= 500:
        return f"sec10.5.{status - 499}"
    return f"sec10.4.{status - 399}"


def error_details(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("o:errorDetails"), list):
        return [d for d in body["o:errorDetails"] if isinstance(d, dict)]
    return []


def error_message(body: Any) -> tuple[str, str | None]:
    """A readable message from an error body, and the first error code."""
    details = error_details(body)
    if not details:
        title = body.get("title") if isinstance(body, dict) else None
        return (str(title) if title else "no error details"), None
    parts = []
    for d in details:
        text = str(d.get("detail", "")).strip() or "(no detail)"
        code = d.get("o:errorCode")
        where = d.get("o:errorPath")
        parts.append(text + (f" [{code}]" if code else "") + (f" at {where}" if where else ""))
    return "; ".join(parts), details[0].get("o:errorCode")


def hostname(account_id: str) -> str:
    """Account id as it appears in host names: lower case, `_` -> `-` (123_SB1 -> 123-sb1)."""
    return account_id.strip().lower().replace("_", "-")


def realm(account_id: str) -> str:
    """Account id as TBA's realm: upper case with `_` (123-sb1 -> 123_SB1)."""
    return account_id.strip().upper().replace("-", "_")
