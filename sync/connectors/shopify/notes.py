"""The marker Returnline writes into Shopify notes, so a later read finds its own effects.

Shopify has no idempotency field on refunds, returns or orders that a read can query, so the
key travels in free text: refund notes, return line reason notes, order notes. The marker is
`[returnline return=<return id> key=<idempotency key>]` (return may be `-` when unknown).
"""

from __future__ import annotations

import hashlib
import re

MARKER = re.compile(r"\[returnline return=(?P<ret>\S+) key=(?P<key>[^\]\s]+)\]")


def marker(return_id: str | None, key: str) -> str:
    if any(c.isspace() or c == "]" for c in key):
        raise ValueError(f"idempotency key must not contain spaces or ']': {key!r}")
    ret = (return_id or "-").replace(" ", "_").replace("]", "_")
    return f"[returnline return={ret} key={key}]"


def with_marker(text: str, return_id: str | None, key: str) -> str:
    text = (text or "").strip()
    return f"{text} {marker(return_id, key)}".strip()


def parse(note: str | None) -> tuple[str | None, str | None]:
    """(return id, key) from a note, or (None, None) when Returnline did not write it."""
    m = MARKER.search(note or "")
    if not m:
        return None, None
    ret = m["ret"]
    return (None if ret == "-" else ret), m["key"]


def short_tag(key: str) -> str:
    """A tag that names one key (tags are short and searchable; the key itself may not be)."""
    return "rl-key-" + hashlib.sha256(key.encode()).hexdigest()[:20]
