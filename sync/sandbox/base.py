"""What every sandbox simulator shares: request/response, routing, journal, faults, clock.

A sandbox is a plain object whose `handle(request)` answers like the real service. It is
exposed two ways from the same code:
- in-process, as an httpx transport (`SandboxTransport`), used by tests, replay and the demo;
- on a real socket, as an ASGI app (`asgi_app`), used by `returnline sandbox serve`.

Faults are armed per operation (`refund`, `restock`, `get_order`, ... or `*`) and consumed by
the next matching calls. `timeout` fails before the effect; `timeout_after_commit` applies the
effect and then lets the caller time out, which is the case exactly-once delivery must survive.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import httpx

from sync.clock import SimClock, WallClock  # noqa: F401  (re-exported for sandboxes)

FAULT_KINDS = (
    "http_500",
    "http_503",
    "timeout",
    "timeout_after_commit",
    "http_429",
    "throttled",
    "conflict_409",
    "malformed",
)

# Header names whose values never reach a journal, a dump or a log.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "x-shopify-access-token",
        "x-api-key",
        "x-hr-apikey",
        "cookie",
        "set-cookie",
        "x-shopify-hmac-sha256",
        "x-hr-signature",
        "x-rebound-signature",
        "x-rebound-secret",
        "x-shipbob-signature",
        "webhook-signature",
    }
)


class SandboxTimeout(Exception):
    """The simulated service never answers (the caller's read times out)."""


@dataclass
class SandboxRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class SandboxResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None):
        hdrs = {"content-type": "application/json; charset=utf-8"}
        hdrs.update(headers or {})
        return cls(status, json.dumps(payload, separators=(",", ":")).encode(), hdrs)

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None):
        return cls(status, b"", dict(headers or {}))


@dataclass
class FaultRule:
    operation: str
    kind: str
    remaining: int


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., SandboxResponse]
    operation: str | Callable[[SandboxRequest, dict[str, str]], str]


def masked_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


class Sandbox:
    """Base for one simulated external system.

    Subclasses register routes with `self.add_route`, keep their state in plain dicts, and
    implement `dump_state` / `load_state` (JSON-able) and the API-specific error shapes.
    """

    name = "sandbox"
    hosts: tuple[str, ...] = ()

    def __init__(self, clock: SimClock | WallClock | None = None) -> None:
        self.clock = clock or WallClock()
        self.journal: list[dict[str, Any]] = []
        self.faults: list[FaultRule] = []
        self.routes: list[Route] = []
        self.lock = threading.RLock()
        self.request_count = 0
        # Chaos: besides armed faults, fail this share of calls with a random kind (seeded, so
        # a run repeats). Operations listed in `chaos_spare` never fail (e.g. the token call).
        self.chaos_rate = 0.0
        self.chaos_kinds: tuple[str, ...] = ()
        self.chaos_spare: frozenset[str] = frozenset()
        self._chaos_rng = random.Random(0)

    # routing -------------------------------------------------------------------------------
    def add_route(
        self,
        method: str,
        path_regex: str,
        handler: Callable[..., SandboxResponse],
        operation: str | Callable[[SandboxRequest, dict[str, str]], str] = "*",
    ) -> None:
        self.routes.append(Route(method.upper(), re.compile(f"^{path_regex}$"), handler, operation))

    def match(self, req: SandboxRequest) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != req.method:
                continue
            m = route.pattern.match(req.path)
            if m:
                return route, m.groupdict()
        return None

    # faults --------------------------------------------------------------------------------
    def arm_fault(self, operation: str, kind: str, count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.faults.append(FaultRule(operation, kind, count))

    def set_chaos(self, rate: float, kinds: tuple[str, ...] = FAULT_KINDS, *, seed: int = 0,
                  spare: tuple[str, ...] = ()) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        with self.lock:
            self.chaos_rate, self.chaos_kinds = rate, tuple(kinds)
            self.chaos_spare = frozenset(spare)
            self._chaos_rng = random.Random(seed)

    def take_fault(self, operation: str) -> str | None:
        with self.lock:
            for rule in self.faults:
                if rule.remaining > 0 and rule.operation in ("*", operation):
                    rule.remaining -= 1
                    kind = rule.kind
                    self.faults = [r for r in self.faults if r.remaining > 0]
                    return kind
            if self.chaos_rate and operation not in self.chaos_spare \
                    and self._chaos_rng.random() < self.chaos_rate:
                return self._chaos_rng.choice(self.chaos_kinds)
        return None

    # API-specific shapes; subclasses override -------------------------------------------------
    def error_response(self, kind: str, operation: str) -> SandboxResponse:
        status = {"http_500": 500, "http_503": 503, "http_429": 429, "throttled": 429,
                  "conflict_409": 409}.get(kind, 500)
        headers = {"retry-after": "2"} if status == 429 else {}
        return SandboxResponse.json({"error": kind, "operation": operation}, status, headers)

    def not_found(self, req: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"error": "not found", "path": req.path}, 404)

    def authenticate(self, req: SandboxRequest) -> SandboxResponse | None:
        """Return an error response when the request's credentials are refused."""
        return None

    def dump_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # the one entry point ----------------------------------------------------------------------
    def handle(self, req: SandboxRequest) -> SandboxResponse:
        with self.lock:
            self.request_count += 1
            entry: dict[str, Any] = {
                "at": self.clock.now().isoformat(),
                "method": req.method,
                "path": req.path,
                "query": {k: v if len(v) > 1 else v[0] for k, v in req.query.items()},
                "headers": masked_headers(req.headers),
                "body": _body_for_journal(req.body),
            }
            self.journal.append(entry)
            try:
                resp = self._dispatch(req, entry)
            except SandboxTimeout:
                entry["status"] = "timeout"
                raise
            entry["status"] = resp.status
            return resp

    def _dispatch(self, req: SandboxRequest, entry: dict[str, Any]) -> SandboxResponse:
        found = self.match(req)
        if found is None:
            return self.not_found(req)
        route, params = found
        refused = self.authenticate(req)
        if refused is not None:
            return refused
        operation = route.operation(req, params) if callable(route.operation) else route.operation
        entry["operation"] = operation
        fault = self.take_fault(operation)
        entry["fault"] = fault
        if fault == "timeout":
            raise SandboxTimeout(operation)
        if fault in ("http_500", "http_503", "http_429", "throttled", "conflict_409"):
            return self.error_response(fault, operation)
        resp = route.handler(req, **params)
        if fault == "timeout_after_commit":
            raise SandboxTimeout(operation)
        if fault == "malformed":
            # The effect happened; the answer is cut off mid-body.
            return SandboxResponse(resp.status, resp.body[: max(1, len(resp.body) // 2)] or b"{",
                                   resp.headers)
        return resp

    def requests_for(self, operation: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.journal if operation is None or e.get("operation") == operation]


def _body_for_journal(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(body).decode()}


def request_from_httpx(request: httpx.Request) -> SandboxRequest:
    raw_query = request.url.query.decode() if isinstance(request.url.query, bytes) else request.url.query
    return SandboxRequest(
        method=request.method.upper(),
        path=request.url.path,
        query=parse_qs(raw_query, keep_blank_values=True),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.read(),
    )


class SandboxTransport(httpx.BaseTransport):
    """Routes in-process httpx calls to sandboxes by host name; no sockets involved."""

    def __init__(self, sandboxes: Iterable[Sandbox] = ()) -> None:
        self._by_host: dict[str, Sandbox] = {}
        self._patterns: list[tuple[re.Pattern[str], Sandbox]] = []
        for sb in sandboxes:
            self.mount(sb)

    def mount(self, sandbox: Sandbox, hosts: Iterable[str] | None = None) -> None:
        for host in hosts if hosts is not None else sandbox.hosts:
            if "*" in host:
                regex = "^" + re.escape(host).replace(r"\*", "[^.]+") + "$"
                self._patterns.append((re.compile(regex), sandbox))
            else:
                self._by_host[host.lower()] = sandbox

    def sandbox_for(self, host: str) -> Sandbox | None:
        host = host.lower()
        if host in self._by_host:
            return self._by_host[host]
        for regex, sb in self._patterns:
            if regex.match(host):
                return sb
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sandbox = self.sandbox_for(request.url.host)
        if sandbox is None:
            raise httpx.ConnectError(f"no sandbox answers for {request.url.host}", request=request)
        try:
            resp = sandbox.handle(request_from_httpx(request))
        except SandboxTimeout as exc:
            raise httpx.ReadTimeout(f"sandbox {sandbox.name} timed out ({exc})", request=request) from None
        return httpx.Response(resp.status, headers=resp.headers, content=resp.body, request=request)


async def read_body(receive) -> bytes:
    """An ASGI request's whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def asgi_app(sandbox: Sandbox, timeout_seconds: float = 30.0):
    """Serve a sandbox on a real socket. A simulated timeout holds the connection open."""
    import anyio

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        req = SandboxRequest(
            method=scope["method"].upper(),
            path=scope["path"],
            query=parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=True),
            headers={k.decode().lower(): v.decode() for k, v in scope.get("headers", [])},
            body=body,
        )
        try:
            resp = await anyio.to_thread.run_sync(sandbox.handle, req)
        except SandboxTimeout:
            await anyio.sleep(timeout_seconds)
            resp = SandboxResponse.json({"error": "gateway timeout"}, 504)
        await send({
            "type": "http.response.start",
            "status": resp.status,
            "headers": [(k.encode(), v.encode()) for k, v in resp.headers.items()],
        })
        await send({"type": "http.response.body", "body": resp.body})

    return app
