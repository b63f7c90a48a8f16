"""Pointing the production connectors at served sandboxes, by config.

`[sandbox] endpoints = "endpoints.json"` (written by `returnline sandbox serve`) maps each real
API host (`*.myshopify.com`, `api.returngo.ai`, ...) to a localhost URL. The connectors build
their real URLs as always; this transport sends each request to the mapped port with the
original Host header, and refuses any host the file does not name, so a sandbox config can
never reach a real service.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx


class EndpointTransport(httpx.BaseTransport):
    def __init__(self, systems: dict[str, dict[str, Any]],
                 inner: httpx.BaseTransport | None = None) -> None:
        self._routes: list[tuple[re.Pattern[str], httpx.URL]] = []
        for spec in systems.values():
            target = httpx.URL(spec["url"])
            if target.host not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(f"endpoint {spec['url']} is not on this machine")
            for host in spec.get("hosts", []):
                regex = "^" + re.escape(host.lower()).replace(r"\*", "[^.]+") + "$"
                self._routes.append((re.compile(regex), target))
        self._inner = inner or httpx.HTTPTransport()

    @classmethod
    def from_file(cls, path: str | Path) -> EndpointTransport:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        return cls(data["systems"])

    def target_for(self, host: str) -> httpx.URL | None:
        return next((t for regex, t in self._routes if regex.match(host.lower())), None)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = self.target_for(request.url.host)
        if target is None:
            raise httpx.ConnectError(f"{request.url.host} is not in the sandbox endpoints file; "
                                     "not sending it anywhere", request=request)
        url = request.url.copy_with(scheme=target.scheme, host=target.host, port=target.port)
        # The Host header stays the real service's: sandboxes build Location URLs from it.
        forwarded = httpx.Request(request.method, url, headers=request.headers,
                                  stream=request.stream, extensions=request.extensions)
        return self._inner.handle_request(forwarded)

    def close(self) -> None:
        self._inner.close()
