"""NetSuite authentication: OAuth 2.0 client credentials (M2M) or TBA (OAuth 1.0a).

OAuth 2.0 (Oracle's preferred method, reference A2): a JWT assertion signed with the private
key whose certificate is mapped to the integration (`kid` = certificate id), PS256 for RSA keys
and ES256 for P-256 keys, exchanged at `/services/rest/auth/oauth2/v1/token` for a bearer token.
`exp` stays under 60 minutes after `iat`. The token is cached until shortly before it expires
(on the injected clock) and dropped when NetSuite answers 401.

TBA: `Authorization: OAuth realm=..., oauth_signature_method="HMAC-SHA256"` computed per RFC 5849
over method, base URL and query + oauth parameters. Every attempt is signed afresh (new nonce and
timestamp), because NetSuite refuses a replayed nonce.

Secrets stay in these objects: they never reach messages, call records or logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from sync.connectors.base import AuthError, TransientError, body_of
from sync.connectors.netsuite.wire import hostname, realm

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 50 * 60  # seconds; must be < 60 min after iat
REFRESH_MARGIN = 5 * 60  # renew a token this long before it expires


class Clock(Protocol):
    def now(self): ...


class NetSuiteAuth(Protocol):
    def headers(self, method: str, url: str) -> dict[str, str]: ...
    def invalidate(self) -> bool: ...  # True when a fresh attempt may succeed


# --- TBA / OAuth 1.0a ---------------------------------------------------------------------------

def _enc(value: str) -> str:
    return quote(value, safe="~")


def oauth1_base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    """RFC 5849 3.4.1: METHOD & base-URL & normalised parameters (query + oauth_*)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port and not ((scheme == "https" and port == 443) or (scheme == "http" and port == 80)):
        host = f"{host}:{port}"
    base_url = f"{scheme}://{host}{parts.path or '/'}"
    pairs = sorted((_enc(k), _enc(v)) for k, v in params)
    normalised = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join([method.upper(), _enc(base_url), _enc(normalised)])


def oauth1_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{_enc(consumer_secret)}&{_enc(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base_string.encode(), hashlib.sha256).digest()).decode()


def parse_oauth_header(value: str) -> dict[str, str]:
    from urllib.parse import unquote

    if not value.startswith("OAuth "):
        return {}
    out: dict[str, str] = {}
    for part in value[len("OAuth "):].split(","):
        name, _, quoted = part.strip().partition("=")
        out[unquote(name)] = unquote(quoted.strip('"'))
    return out


def query_pairs(url: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


class TokenBasedAuth:
    def __init__(self, account_id: str, consumer_key: str, consumer_secret: str, token_id: str,
                 token_secret: str, *, clock: Clock) -> None:
        self.account_id = account_id
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret
        self.clock = clock

    def headers(self, method: str, url: str) -> dict[str, str]:
        oauth = {
            "oauth_consumer_key": self._consumer_key,
            "oauth_token": self._token_id,
            "oauth_nonce": secrets.token_hex(16),
            "oauth_timestamp": str(int(self.clock.now().timestamp())),
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_version": "1.0",
        }
        base = oauth1_base_string(method, url, query_pairs(url) + list(oauth.items()))
        oauth["oauth_signature"] = oauth1_signature(base, self._consumer_secret, self._token_secret)
        fields = [f'realm="{_enc(realm(self.account_id))}"']
        fields += [f'{k}="{_enc(v)}"' for k, v in oauth.items()]
        return {"Authorization": "OAuth " + ", ".join(fields)}

    def invalidate(self) -> bool:
        return False  # a refused TBA token stays refused


# --- OAuth 2.0 client credentials (M2M) -------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(header: dict[str, Any], payload: dict[str, Any], private_key_pem: bytes | str) -> str:
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    except ImportError as exc:  # pragma: no cover - cryptography ships with keyring on Linux
        raise AuthError("OAuth 2.0 for NetSuite needs the 'cryptography' package; "
                        "use token-based authentication (TBA) instead") from exc
    pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        header = {**header, "alg": "PS256"}
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        header = {**header, "alg": "ES256"}
    else:
        raise AuthError("NetSuite needs an RSA (PS256) or P-256 (ES256) private key")
    signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64url(json.dumps(payload, separators=(",", ":")).encode()))
    if header["alg"] == "PS256":
        sig = key.sign(signing_input.encode(),
                       padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                       hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + _b64url(sig)


def token_url(account_id: str) -> str:
    return (f"https://{hostname(account_id)}.suitetalk.api.netsuite.com"
            "/services/rest/auth/oauth2/v1/token")


class OAuth2ClientCredentials:
    def __init__(self, account_id: str, client_id: str, certificate_id: str,
                 private_key_pem: bytes | str, *, http: httpx.Client, clock: Clock,
                 scope: str = "rest_webservices", token_endpoint: str | None = None) -> None:
        self.account_id = account_id
        self.client_id = client_id
        self.certificate_id = certificate_id
        self._key = private_key_pem
        self.http = http
        self.clock = clock
        self.scope = scope
        self.token_endpoint = token_endpoint or token_url(account_id)
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens_fetched = 0

    def headers(self, method: str, url: str) -> dict[str, str]:
        now = self.clock.now().timestamp()
        if self._token is None or now >= self._expires_at - REFRESH_MARGIN:
            self._fetch(now)
        return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> bool:
        had = self._token is not None
        self._token = None
        return had

    def _fetch(self, now: float) -> None:
        aud = self.token_endpoint
        assertion = sign_jwt(
            {"typ": "JWT", "kid": self.certificate_id},
            {"iss": self.client_id, "scope": self.scope, "aud": aud,
             "iat": int(now), "exp": int(now) + ASSERTION_LIFETIME},
            self._key,
        )
        try:
            resp = self.http.post(aud, data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            })
        except httpx.TransportError as exc:
            raise TransientError(f"NetSuite token endpoint unreachable ({type(exc).__name__})") \
                from None
        body = body_of(resp)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientError(f"NetSuite token endpoint answered {resp.status_code}")
        if resp.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            reason = body.get("error") if isinstance(body, dict) else None
            raise AuthError(f"NetSuite refused the OAuth 2.0 client credentials "
                            f"({resp.status_code} {reason or 'no reason given'})")
        self._token = str(body["access_token"])
        self._expires_at = now + float(body.get("expires_in", 3600))
        self.tokens_fetched += 1
