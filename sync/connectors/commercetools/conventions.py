"""Returnline's conventions inside a commercetools project, kept in one place.

commercetools has no idempotency keys, tags or "made by" markers of its own, so Returnline
carries its keys in fields the API does have. Everything here is a design choice, not a
documented commercetools behaviour: each is marked ASSUMED, and the project setup (or the
sandbox) must install the Custom Types named below.
"""

from __future__ import annotations

import hashlib
import re

# ASSUMED: Custom Types installed in the project by Returnline's setup. Custom field values
# are Strings only: the official OpenAPI spec types FieldContainer values as strings, so
# every body we send stays valid against it.
REFUND_TYPE_KEY = "returnline-refund"  # resourceTypeIds: ["transaction"]
INVENTORY_TYPE_KEY = "returnline-inventory"  # resourceTypeIds: ["inventory-entry"]
ORDER_TYPE_KEY = "returnline-order"  # resourceTypeIds: ["order"]

# Transaction fields: which return a refund belongs to, and which lines it covers.
F_RETURN_ID = "returnlineReturnId"
F_LINES = "returnlineLines"  # JSON: [{"lineItemId", "sku", "qty"}]
F_NOTE = "returnlineNote"
# InventoryEntry field: the idempotency keys of the last movements applied to the entry,
# newline-separated, written in the same update as the quantity change (atomic).
F_MOVEMENTS = "returnlineMovements"
MOVEMENT_KEYS_KEPT = 200  # ASSUMED: older keys are dropped; lookups concern recent sends
# Order fields: replacement orders and tags.
F_ORIGINAL_ORDER = "returnlineOriginalOrder"
F_EXCHANGE_KEY = "returnlineExchangeKey"
F_TAGS = "returnlineTags"  # comma-separated
F_ORDER_NOTE = "returnlineNote"
F_ORDER_RETURN_ID = "returnlineReturnId"

# ASSUMED: ReturnInfo.returnTrackingId carries the Returnline return id, so the return record
# (and its items) can be found again by query: where=returnInfo(returnTrackingId="...").
# Return items are created in shipmentState "Returned": the only state from which the API
# allows BackInStock / Unusable later ("Advised" can never move on).

# ASSUMED: a channel counts as an active Returnline location while it has the
# InventorySupply role; deactivating a warehouse location removes that role (commercetools
# has no "active" flag on channels). Writes to a channel without it are refused.
ACTIVE_ROLE = "InventorySupply"

# ASSUMED: bundles sold as one SKU carry the bundle's SKU in this product-variant attribute.
BUNDLE_ATTRIBUTE = "bundleSku"

_KEY_SAFE = re.compile(r"[^a-zA-Z0-9_-]")


def return_item_key(return_id: str, line_id: str) -> str:
    """ReturnItem.key (pattern ^[a-zA-Z0-9_-]+$, 2-256): stable per return line."""
    digest = hashlib.sha1(f"{return_id}\x00{line_id}".encode()).hexdigest()[:16]
    return f"rl-{digest}"


def exchange_order_number(order_ref: str, key: str) -> str:
    """The replacement order's orderNumber: unique in the project, so a resend cannot
    create a second order (the API answers DuplicateField)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    return f"{order_ref}-EX-{digest}"
