"""Webhook signatures: HMAC-SHA256 over the raw body, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def hmac_sha256(secret: str | bytes, body: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).digest()


def sign_base64(secret: str | bytes, body: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, body)).decode()


def sign_hex(secret: str | bytes, body: bytes) -> str:
    return hmac_sha256(secret, body).hex()


def verify_base64(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(sign_base64(secret, body).encode(), signature.strip().encode())


def verify_hex(secret: str | bytes, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    sig = signature.strip().lower()
    if sig.startswith("sha256="):
        sig = sig[len("sha256="):]
    return hmac.compare_digest(sign_hex(secret, body).encode(), sig.encode())


def verify_shared_secret(expected: str | bytes, presented: str | None) -> bool:
    if not presented:
        return False
    exp = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(exp, presented.encode())
