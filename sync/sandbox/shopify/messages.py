"""Every error text and body the Shopify sandbox answers with, in one place.

Recorded = verbatim from reference shopify.md (live captures). Everything marked ASSUMED is
the closest faithful shape where the public record is silent.
"""

from __future__ import annotations

DOCS_RATE_LIMITS = "https://shopify.dev/api/usage/rate-limits"

# HTTP-level bodies (REST-style `{"errors": ...}`) ----------------------------------------------
UNAUTHORIZED = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                          "password)"}  # recorded (third-party)
TOO_MANY_REQUESTS = {"errors": "Exceeded 2 calls per second for api client. Reduce request "
                               "rates to resume unthrottled access."}  # recorded (third-party)
SERVER_ERROR = {"errors": "Internal Server Error"}  # ASSUMED
SERVICE_UNAVAILABLE = {"errors": "Service Unavailable"}  # ASSUMED
CONFLICT = {"errors": "Conflict"}  # ASSUMED: Shopify has no documented 409 for GraphQL
MISSING_QUERY = {"errors": {"query": "Required parameter missing or invalid"}}  # ASSUMED
RETRY_AFTER_429 = "2.0"  # recorded format (fractional seconds)

# Top-level GraphQL errors ------------------------------------------------------------------
THROTTLED = "Throttled"  # recorded
IDEMPOTENT_MISSING = ("The @idempotent directive is required for this mutation but was not "
                      "provided.")  # recorded, code BAD_REQUEST
IDEMPOTENT_BLANK = "The idempotency key cannot be an empty string or whitespace only."  # schema
CHANGE_FROM_MISSING = ("InventoryChangeInput must include the following argument: "
                       "changeFromQuantity.")  # recorded, code INVALID_FIELD_ARGUMENTS


def max_cost_exceeded(cost: int) -> str:  # recorded
    return (f"Query cost is {cost}, which exceeds the single query max cost limit (1000). "
            "See https://shopify.dev/concepts/about-apis/rate-limits for more information on "
            "how the cost of a query is calculated. To query larger amounts of data with "
            "fewer limits, bulk operations should be used instead. See "
            "https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage "
            "details.")


def invalid_id(gid: str) -> str:  # recorded, code RESOURCE_NOT_FOUND
    return f"Invalid id: {gid}"


# refundCreate userErrors (UserError has no code) --------------------------------------------
ORDER_NOT_FOUND = "Order does not exist"  # recorded
REFUND_QTY_TOO_HIGH = "Quantity cannot refund more items than were purchased"  # recorded
PARENT_NOT_ON_ORDER = "Transactions require a parent_id associated with the order"  # recorded
LINE_ITEM_NOT_FOUND = "Line item does not exist"  # ASSUMED
LEGACY_RESTOCK = "Legacy restock is not accepted when creating new refunds"  # ASSUMED (schema)
RESTOCK_LOCATION_INACTIVE = "Location is not active and cannot accept restocked items"  # ASSUMED
RESTOCK_LOCATION_MISSING = "Location does not exist"  # ASSUMED


def over_refund(amount: str, net: str) -> str:  # recorded ("$" even for other currencies)
    return f"Refund amount ${amount} is greater than net payment received ${net}"


def bad_kind(kind: str) -> str:  # recorded
    return f"Kind {kind.lower()} is not a valid transaction"


# Idempotency ------------------------------------------------------------------------------
KEY_PARAMETER_MISMATCH = ("The same idempotency key cannot be used with different operation "
                          "parameters.")  # recorded (locationDeactivate)
PREVIOUS_ATTEMPT_FAILED = ("A previous request with this idempotency key failed. Retry with a "
                           "new idempotency key.")  # schema enum description; ASSUMED behaviour

# inventoryAdjustQuantities userErrors -------------------------------------------------------
ITEM_NOT_FOUND = "The specified inventory item could not be found."  # recorded
LOCATION_NOT_FOUND = "The specified location could not be found."  # recorded
NOT_STOCKED = "The inventory item is not stocked at the location."  # schema enum description
ITEM_UNTRACKED = "The specified inventory item is not tracked."  # ASSUMED (code INVALID_INVENTORY_ITEM)
QUANTITY_NAME_INVALID = ("The specified quantity name is invalid. Valid values are: available, "
                         "damaged, incoming, quality_control, reserved, safety_stock.")  # recorded
LEDGER_NOT_ALLOWED = "A ledger document URI is not allowed when adjusting available."  # schema
LEDGER_REQUIRED = "A ledger document URI is required except when adjusting available."  # schema
ONE_LEDGER = ("All changes must have the same ledger document URI or, in the case of adjusting "
              "available, no ledger document URI.")  # schema
REFERENCE_INVALID = "The specified reference document is invalid."  # schema
DUPLICATE_PAIR = "The combination of inventoryItemId and locationId must be unique."  # ASSUMED
VALID_REASONS = ("correction", "cycle_count_available", "damaged", "movement_canceled",
                 "movement_created", "movement_received", "movement_updated", "other",
                 "promotion", "quality_control", "received", "reservation_created",
                 "reservation_deleted", "reservation_updated", "restock", "safety_stock",
                 "shrinkage")
REASON_INVALID = ("The specified reason is invalid. Valid values are: "
                  + ", ".join(VALID_REASONS) + ".")  # recorded
ADJUSTABLE_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved",
                    "safety_stock")
MIRRORED_TO_ON_HAND = ("available", "damaged", "quality_control", "reserved", "safety_stock")

# returnCreate userErrors (ReturnUserError has a code) ---------------------------------------
RETURN_QTY_INVALID = "Return line item has an invalid quantity."  # recorded, INVALID
FULFILLMENT_LINE_NOT_FOUND = "Fulfillment Line Item was not found."  # recorded, NOT_FOUND
RETURN_REASON_MISSING = ("Return line items Either return reason or return reason definition "
                         "must be provided")  # recorded, NOT_FOUND
RETURN_OTHER_NOTE = ("Return line items return reason note The note is required when the "
                     "return reason is \"Other\"")  # recorded, BLANK

# tagsAdd / orderUpdate / orderCreate -------------------------------------------------------
NO_UPDATE_PARAMS = "No valid update parameters have been provided"  # recorded
ORDER_CREATE_NO_LINES = "Line items must have at least one line item"  # ASSUMED
