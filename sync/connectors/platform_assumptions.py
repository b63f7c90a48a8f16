"""Every shape of ReturnGO, Happy Returns and ReBOUND that the public record does not show.

Source: /work/shared/reference/returns-platforms.md. Each constant below is marked ASSUMED with
the reason; the connectors *and* the sandboxes read these, so correcting one place corrects both.
Everything not here (paths, headers, statuses, quirks) is documented in the reference.
"""

from __future__ import annotations

from rules.model import Condition, PlatformStatus, Resolution

# =============================================================================================
# ReturnGO
# =============================================================================================
RETURNGO_BASE = "https://api.returngo.ai"
RETURNGO_HOST = "api.returngo.ai"

# ASSUMED: ReturnGO documents no webhook signature. Its only documented outbound callout
# ("Custom Dynamic Location") sends a merchant-chosen Authorization header, so we configure the
# subscription to send a shared secret in `Authorization` and compare it in constant time.
RETURNGO_WEBHOOK_AUTH_HEADER = "authorization"

# ASSUMED: webhook body schemas (RmaEventData, ShipmentEventData) were not found. The docs say
# "switch on eventName" and "refetch after a webhook", so we rely only on these keys:
RETURNGO_WEBHOOK_ID_FIELD = "rmaId"  # the RMA to refetch
RETURNGO_WEBHOOK_EVENT_FIELD = "eventName"
RETURNGO_WEBHOOK_TIME_FIELD = "eventDate"  # absent -> the dedupe key falls back to a body hash

# ASSUMED: resolutionType values besides the observed "RefundToPaymentMethod".
RETURNGO_RESOLUTION_TYPES: dict[str, Resolution] = {
    "RefundToPaymentMethod": Resolution.REFUND,
    "RefundToBankAccount": Resolution.REFUND,
    "StoreCredit": Resolution.STORE_CREDIT,
    "GiftCard": Resolution.STORE_CREDIT,
    "ExchangeVariant": Resolution.EXCHANGE,
    "ExchangeProduct": Resolution.EXCHANGE,
}
# ASSUMED: top-level `exchangeItems[]` carry no link to the returned item; they are taken in the
# order of the items whose resolution is an exchange.
# ASSUMED: `exchangeOrders[].type` "Fee" (the only value seen) is a fee order, anything else
# ("Exchange") is the replacement order ReturnGO already created in the shop.
RETURNGO_FEE_ORDER_TYPE = "Fee"

# ASSUMED: rmaSummary.events names besides RMA_CREATED / RMA_APPROVED (seen) and
# SHIPMENT_RECEIVED (3p code). Only `status` drives the connector; events are informational.
RETURNGO_EVENT_FOR_STATUS = {
    "Approved": "RMA_APPROVED",
    "Received": "SHIPMENT_RECEIVED",
    "Validated": "RMA_VALIDATED",
    "Done": "RMA_DONE",
    "Rejected": "RMA_REJECTED",
    "Canceled": "RMA_CANCELED",
}

RETURNGO_STATUS: dict[str, PlatformStatus] = {
    "Pending": PlatformStatus.REQUESTED,
    "Approved": PlatformStatus.APPROVED,
    "Received": PlatformStatus.RECEIVED,
    "Validated": PlatformStatus.INSPECTED,
    "Done": PlatformStatus.COMPLETED,
    "Rejected": PlatformStatus.REJECTED,
    "Canceled": PlatformStatus.CANCELLED,
}
# Statuses where ReturnGO's item validation decides a refund/restock: a detail fetch pays off.
RETURNGO_DECISION_STATUSES = frozenset({"Validated", "Done"})
RETURNGO_TERMINAL_STATUSES = frozenset({"Done", "Rejected", "Canceled"})

# ASSUMED: PUT /rma/{id}/status body (not found): {"status": "<RMA status>"}.
# ASSUMED: POST /rma/{id}/comment answers 201 with the comment object as in `comments[]`.
# ASSUMED: error bodies are API Gateway's {"message": ...}; 429 says "Too Many Requests" for the
# per-second limit and "Limit Exceeded" for the daily quota (API Gateway usage-plan defaults).

# =============================================================================================
# Happy Returns
# =============================================================================================
HAPPY_RETURNS_BASE = "https://partner.happyreturns.com"
HAPPY_RETURNS_HOST = "partner.happyreturns.com"

# ASSUMED: X-Hr-Signature is lower-case hex HMAC-SHA256(webhook secret, raw body); the docs'
# example is a 64-char hex string but the "Webhook Validation" page was not retrieved.
HAPPY_RETURNS_SIGNATURE_HEADER = "x-hr-signature"

# ASSUMED: server-side leaky bucket size (the 429 message states it; we read it from there).
HAPPY_RETURNS_BUCKET_SIZE = 10

# ASSUMED: typeID strings other than "started" (docs list the four changes in words).
HR_STARTED, HR_DROPPED_OFF, HR_APPROVED, HR_EXPIRED = "started", "dropped_off", "approved", "expired"

# ASSUMED: the return.asn item list was cut off at productName. We rely on the documented
# fields plus these, borrowed from the legacy outbound ASN item (which has them all):
# happyReturnsItemID, happyReturnsExpressCode, returnReason, refundType, oneClickExchange,
# startedDate, approvedDate, inspectionOutcome; and these new ones:
HR_EXCHANGE_SKU_FIELD = "exchangeSKU"  # ASSUMED: the variant a one-click exchange ships
HR_RETURN_STATUS_FIELD = "returnStatus"  # ASSUMED: the return's typeID, repeated per item
HR_OUTBOUND_FIELD = "outboundShipmentID"  # ASSUMED: set once the unit left the hub
# ASSUMED: refundType values.
HR_REFUND_TYPES: dict[str, Resolution] = {
    "original_payment": Resolution.REFUND,
    "refund": Resolution.REFUND,
    "store_credit": Resolution.STORE_CREDIT,
    "exchange": Resolution.EXCHANGE,
}
# ASSUMED: POST /return answers {"items": [...units...], "cursor": "<next>"} (cursor absent on
# the last page); the request's paging field is documented as `cursor`.
# ASSUMED: GET /outbound-shipments answers {"outboundShipments": [{"id", "departureDate",
# "tracking", "carrier", "itemCount"}]}; GET /outbound-shipment/{id} answers
# {"id", "items": [...legacy ASN items...], "nextPageAfter": "<item id>"}.
# ASSUMED: approve answers 200 {"happyReturnsRMAID", "returning": [{"happyReturnsItemID",
# "approved", "condition", "refundAmount", "refundCurrency"}]}; 409 {"ErrorMessage": ...} when
# the return is final or a unit in the request was already decided; 400 for an unknown unit or
# condition.
# ASSUMED: what Happy Returns refunded, per unit, at the price it holds (the dashboard shows a
# "Refund Status"; the field names were not retrieved): `refundAmount` (decimal string, "0" for a
# unit approved with approve=false) and `refundCurrency` (ISO code), on the approve answer's
# `returning[]` and on every decided unit of a POST /return lookup. Absent -> not known.
HR_REFUND_AMOUNT_FIELD = "refundAmount"
HR_REFUND_CURRENCY_FIELD = "refundCurrency"

# Canonical condition -> (Happy Returns condition, approve flag). ASSUMED: `approve: false` for
# units that are missing or the wrong item, so Happy Returns refunds only what came back.
HR_APPROVE_CONDITION: dict[Condition, tuple[str, bool]] = {
    Condition.SELLABLE: ("sellable", True),
    Condition.DAMAGED: ("damaged", True),
    Condition.FAULTY: ("damaged", True),
    Condition.USED: ("damaged", True),
    Condition.MISSING: ("missing", False),
    Condition.WRONG_ITEM: ("wrong-item", False),
}
HR_CONDITIONS = ("sellable", "damaged", "missing", "wrong-item")

# =============================================================================================
# ReBOUND
# =============================================================================================
# ASSUMED: the HAPI token URL and API base were not retrieved.
REBOUND_TOKEN_URL = "https://auth.reboundreturns.com/oauth/token"
REBOUND_TOKEN_HOST = "auth.reboundreturns.com"
REBOUND_HAPI_BASE = "https://api.reboundreturns.com/v1"
REBOUND_HAPI_HOST = "api.reboundreturns.com"
REBOUND_LEGACY_BASE = "https://intelligentreturns.net/api"  # documented
REBOUND_LEGACY_HOST = "intelligentreturns.net"
# ASSUMED: token response is RFC 6749's {"access_token", "token_type", "expires_in"}.
REBOUND_TOKEN_LIFETIME_S = 3600  # documented: 60 minutes
# ASSUMED: GET {HAPI}/return-orders?clientOrderId=... -> {"returnOrders": [...]} newest first,
# each {"reboundOrderId", "clientOrderId", "createdAt", "statusDescription", "statusHistory":
# [{"statusDescription","timestamp","location"}], "trackingNumber", "customer": {"email"},
# "items": [tracking-payload item + "wish", "condition", "gradedAt"]}.

# ASSUMED: push authentication; the docs say only "secure headers and authentication as
# needed". Per account: a shared secret in X-Rebound-Secret, or base64 HMAC-SHA256 of the raw
# body in X-Rebound-Signature.
REBOUND_SECRET_HEADER = "x-rebound-secret"
REBOUND_SIGNATURE_HEADER = "x-rebound-signature"

# statusDescription codes: only "postalIncoming" is confirmed; the rest are ASSUMED.
REBOUND_STATUS: dict[str, PlatformStatus] = {
    "returnOrderCreated": PlatformStatus.REQUESTED,
    "postalIncoming": PlatformStatus.IN_TRANSIT,  # "Entered Our Network" (confirmed code)
    "arrivedAtHub": PlatformStatus.IN_TRANSIT,
    "delivered": PlatformStatus.RECEIVED,
    # refund-trigger events (ASSUMED names)
    "parcelReceived": PlatformStatus.RECEIVED,
    "itemGraded": PlatformStatus.INSPECTED,
    "returnProcessed": PlatformStatus.COMPLETED,
}
REBOUND_REFUND_TRIGGERS = ("parcelReceived", "itemGraded", "returnProcessed")
# ASSUMED: refund-trigger body {"eventType", "timestamp", "order": {like the tracking payload},
# "items": [{..., "condition", "gradedAt"}]}.

# ASSUMED: item condition strings (the docs say only "their condition"); grades A-D as other
# platforms use them, plus plain words. Unknown strings are quarantined and noted.
REBOUND_CONDITIONS: dict[str, Condition] = {
    "a": Condition.SELLABLE, "b": Condition.SELLABLE, "c": Condition.USED, "d": Condition.DAMAGED,
    "new": Condition.SELLABLE, "sellable": Condition.SELLABLE, "resellable": Condition.SELLABLE,
    "used": Condition.USED, "damaged": Condition.DAMAGED, "faulty": Condition.FAULTY,
    "missing": Condition.MISSING, "wrong_item": Condition.WRONG_ITEM,
    "wrong-item": Condition.WRONG_ITEM,
}
# ASSUMED: legacy reason[].wish values.
REBOUND_WISHES: dict[str, Resolution] = {
    "refund": Resolution.REFUND, "credit": Resolution.STORE_CREDIT,
    "store_credit": Resolution.STORE_CREDIT, "exchange": Resolution.EXCHANGE,
}
# ASSUMED: the legacy return's `display_id` is the HAPI reboundOrderId (so polling and pushes
# name the same return); the legacy return carries `current_tracking_status` in the same codes,
# and per item `condition`, `graded_at`, `exchange_sku`, `client_item_id` (the HAPI clientItemId,
# so both sources name lines alike) and `rebound_item_id`.
# ASSUMED: the legacy search filters on date_added; 7-day windows as in dbt-labs/tap-rebound.
REBOUND_LEGACY_WINDOW_DAYS = 7
REBOUND_LEGACY_LIMIT = (150, 60)  # unofficial client constant: 150 calls per 60 s
