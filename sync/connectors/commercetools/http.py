"""HTTP to commercetools: OAuth2 client-credentials token cache, and typed failures.

The token is cached until shortly before `expires_in` (on the injected clock); a 401
`invalid_token` from the API drops it, fetches a new one and retries that call once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from sync.connectors.base import (
    AuthError,
    CallRecord,
    ConflictError,
    NotFound,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    body_of,
    call_record,
)

TOKEN_MARGIN = timedelta(minutes=5)  # renew this long before the token would expire
DEFAULT_BACKOFF = {502: 2.0, 503: 5.0, 504: 2.0, 500: 2.0, 429: 2.0}  # seconds, first retry


class TokenCache:
    def __init__(self, client: httpx.Client, auth_url: str, client_id: str, client_secret: str,
                 scopes: list[str], clock: Any) -> None:
        self._client = client
        self._url = auth_url.rstrip("/") + "/oauth/token"
        self._auth = (client_id, client_secret)
        self._scopes = scopes
        self._clock = clock
        self._token: str | None = None
        self._renew_at = None
        self.fetches = 0

    def token(self) -> str:
        if self._token is None or self._clock.now() >= self._renew_at:
            self._fetch()
        return self._token  # type: ignore[return-value]

    def drop(self) -> None:
        self._token = None

    def _fetch(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self._scopes:
            data["scope"] = " ".join(self._scopes)
        try:
            resp = self._client.post(self._url, data=data, auth=self._auth)
        except httpx.HTTPError as exc:
            raise TransientError(f"commercetools auth: {type(exc).__name__}") from None
        if resp.status_code != 200:
            body = body_of(resp)
            code = _first_code(body) or (body.get("error") if isinstance(body, dict) else None)
            message = f"commercetools auth refused ({resp.status_code} {code or ''})".strip()
            record = CallRecord("POST", self._url, resp.status_code, None, body)
            if resp.status_code in (500, 502, 503, 504, 429):
                raise TransientError(message, call=record, code=code)
            raise AuthError(message, call=record, code=code)
        body = resp.json()
        now = self._clock.now()
        lifetime = timedelta(seconds=int(body["expires_in"]))
        self._token = body["access_token"]
        self._renew_at = now + max(lifetime - TOKEN_MARGIN, lifetime / 2)
        self.fetches += 1


class CtHttp:
    """One call = one typed outcome. `write=True` marks calls whose effect may have happened
    even when no answer came back (timeouts, cut-off bodies, 500)."""

    def __init__(self, client: httpx.Client, api_url: str, project_key: str,
                 tokens: TokenCache) -> None:
        self._client = client
        self.base = f"{api_url.rstrip('/')}/{project_key}"
        self.tokens = tokens

    def call(self, method: str, path: str, what: str, *, json: Any = None,
             params: Any = None, write: bool = False) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.tokens.token()}"}
            try:
                resp = self._client.request(method, self.base + path, json=json, params=params,
                                            headers=headers)
            except httpx.TimeoutException:
                if write:
                    raise OutcomeUnknown(f"{what}: no answer (timeout after sending)",
                                         code="timeout") from None
                raise TransientError(f"{what}: timeout", code="timeout") from None
            except httpx.TransportError as exc:
                raise TransientError(f"{what}: {type(exc).__name__}", code="network") from None
            if resp.status_code == 401 and attempt == 1 and _first_code(body_of(resp)) in (
                    "invalid_token", None):
                self.tokens.drop()  # expired or revoked: one fresh token, one retry
                continue
            return self._outcome(resp, what, write)
        raise AssertionError("unreachable")

    def _outcome(self, resp: httpx.Response, what: str, write: bool) -> Any:
        status = resp.status_code
        if status in (200, 201):
            try:
                return resp.json()
            except ValueError:
                if write:
                    raise OutcomeUnknown(f"{what}: answer cut off", call=call_record(resp),
                                         code="malformed") from None
                raise TransientError(f"{what}: malformed answer", call=call_record(resp),
                                     code="malformed") from None
        body = body_of(resp)
        code = _first_code(body)
        message = f"{what}: {_message(body) or f'HTTP {status}'}"
        call = call_record(resp)
        retry_after = _retry_after(resp)
        if status == 409:
            current = _first_error(body).get("currentVersion")
            raise ConflictError(message, current_version=current, call=call, code=code)
        if status == 429:
            raise RateLimited(message, retry_after=retry_after or DEFAULT_BACKOFF[429],
                              call=call, code=code)
        if status == 500 and write:
            # "500 General: the request may still have succeeded" (reference, section 3).
            raise OutcomeUnknown(message, call=call, code=code)
        if status >= 500:
            raise TransientError(message, retry_after=retry_after or DEFAULT_BACKOFF.get(status),
                                 call=call, code=code)
        if status in (401, 403):
            raise AuthError(message, call=call, code=code)
        if status == 404:
            raise NotFound(message, call=call, code=code)
        raise PermanentError(message, call=call, code=code)


def _first_error(body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        return first if isinstance(first, dict) else {}
    return {}


def _first_code(body: Any) -> str | None:
    return _first_error(body).get("code")


def _message(body: Any) -> str | None:
    err = _first_error(body)
    if err.get("detailedErrorMessage"):
        return f"{err.get('message')} ({err['detailedErrorMessage']})"
    if err.get("message"):
        return str(err["message"])
    return body.get("message") if isinstance(body, dict) else None


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers["retry-after"]))
    except (KeyError, ValueError):
        return None
