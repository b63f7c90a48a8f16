"""Every GraphQL document the Shopify connector sends (Admin API 2026-04).

The texts are constants so that the sandbox (and Shopify) see the same text every time; the
only generated document is the stock batch, whose aliases depend on which quantity names the
batch touches (one aliased `inventoryAdjustQuantities` per name, in one HTTP call).
`all_documents()` lists every variant; a test validates each against the full schema.
"""

from __future__ import annotations

import re

MONEY = "shopMoney { amount currencyCode }"

# What the rules need of an order line, in the full read and the re-read before money moves.
LINE_ITEM = (f"id sku quantity refundableQuantity "
             f"discountedUnitPriceAfterAllDiscountsSet {{ {MONEY} }} "
             f"taxLines {{ priceSet {{ {MONEY} }} }} lineItemGroup {{ variantSku }}")

ORDER_FRAGMENT = f"""
fragment ReturnlineOrder on Order {{
  id
  name
  createdAt
  updatedAt
  cancelledAt
  closed
  displayFinancialStatus
  currencyCode
  note
  tags
  customAttributes {{ key value }}
  transactions(first: 10) {{ id kind status gateway amountSet {{ {MONEY} }} }}
  lineItems(first: 50) {{ nodes {{ {LINE_ITEM} }} }}
  refunds(first: 50) {{
    id
    note
    createdAt
    totalRefundedSet {{ {MONEY} }}
    refundLineItems(first: 50) {{ nodes {{ quantity restockType lineItem {{ id sku }} }} }}
  }}
  returns(first: 10) {{ nodes {{ id name status }} }}
}}
"""

ORDER_BY_NAME = """
query ReturnlineOrderByName($query: String!, $exchanges: String!) {
  orders(first: 1, query: $query) { nodes { ...ReturnlineOrder } }
  exchanges: orders(first: 10, query: $exchanges) { nodes { id name } }
}
""" + ORDER_FRAGMENT

# The re-read right before a refund or credit note: only what the rules and the refund need,
# with line connections sized to the order as last seen (+1, so a grown order shows itself
# and is read in full). About 70 requested points for a 5-line order instead of 435.
ORDER_REREAD = f"""
query ReturnlineOrderReread($query: String!, $exchanges: String!, $lines: Int!) {{
  orders(first: 1, query: $query) {{
    nodes {{
      id
      name
      updatedAt
      cancelledAt
      closed
      currencyCode
      tags
      customAttributes {{ key value }}
      transactions(first: 10) {{ id kind status gateway }}
      lineItems(first: $lines) {{ nodes {{ {LINE_ITEM} }} }}
      refunds(first: 50) {{
        id
        note
        createdAt
        totalRefundedSet {{ {MONEY} }}
        refundLineItems(first: $lines) {{ nodes {{ quantity lineItem {{ id sku }} }} }}
      }}
    }}
  }}
  exchanges: orders(first: 10, query: $exchanges) {{ nodes {{ id name }} }}
}}
"""

ORDER_BY_ID = """
query ReturnlineOrderById($id: ID!) {
  order(id: $id) { ...ReturnlineOrder }
}
""" + ORDER_FRAGMENT

# What returnCreate needs: fulfilment line items, and the returns already there (our key sits
# in each line's returnReasonNote, since returnCreate has no @idempotent).
ORDER_RETURNS = """
query ReturnlineOrderReturns($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 10) {
      fulfillmentLineItems(first: 50) { nodes { id quantity lineItem { id sku } } }
    }
    returns(first: 10) {
      nodes {
        id
        name
        status
        returnLineItems(first: 50) { nodes { ... on ReturnLineItem { quantity returnReasonNote } } }
      }
    }
  }
}
"""

EXCHANGES = """
query ReturnlineExchanges($query: String!) {
  orders(first: 10, query: $query) { nodes { id name } }
}
"""

ORDER_NOTE = """
query ReturnlineOrderNote($id: ID!) {
  order(id: $id) { id name note tags }
}
"""

LOCATIONS = """
query ReturnlineLocations {
  locations(first: 100, includeInactive: true) { nodes { id name isActive } }
}
"""

INVENTORY_ITEMS = """
query ReturnlineInventoryItems($query: String!) {
  inventoryItems(first: 50, query: $query) { nodes { id sku tracked } }
}
"""

STOCK_LEVELS = """
query ReturnlineStockLevels($query: String!, $names: [String!]!) {
  inventoryItems(first: 10, query: $query) {
    nodes {
      id
      sku
      tracked
      inventoryLevels(first: 10) {
        nodes { isActive location { id name } quantities(names: $names) { name quantity } }
      }
    }
  }
}
"""

REFUND_CREATE = f"""
mutation ReturnlineRefund($input: RefundInput!, $key: String!) {{
  refundCreate(input: $input) @idempotent(key: $key) {{
    refund {{ id note createdAt totalRefundedSet {{ {MONEY} }} }}
    order {{ id displayFinancialStatus }}
    userErrors {{ field message }}
  }}
}}
"""

RETURN_CREATE = """
mutation ReturnlineReturn($input: ReturnInput!) {
  returnCreate(returnInput: $input) {
    return { id name status }
    userErrors { code field message }
  }
}
"""

TAG_AND_NOTE = """
mutation ReturnlineTagAndNote($id: ID!, $tags: [String!]!, $input: OrderInput!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
  orderUpdate(input: $input) { order { id note tags } userErrors { field message } }
}
"""

TAGS_ADD = """
mutation ReturnlineTags($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } }
}
"""

ORDER_CREATE = """
mutation ReturnlineExchangeOrder($order: OrderCreateOrderInput!) {
  orderCreate(order: $order) {
    order { id name tags }
    userErrors { code field message }
  }
}
"""

FIND_ORDER_BY_QUERY = """
query ReturnlineFindOrder($query: String!) {
  orders(first: 1, query: $query) {
    nodes { id name tags lineItems(first: 20) { nodes { sku quantity } } }
  }
}
"""

ADJUST_FRAGMENT = """
fragment ReturnlineAdjustment on InventoryAdjustQuantitiesPayload {
  inventoryAdjustmentGroup {
    id
    createdAt
    reason
    referenceDocumentUri
    changes { name delta ledgerDocumentUri item { id } location { id name } }
  }
  userErrors { code field message }
}
"""

# Quantity names inventoryAdjustQuantities accepts (reference 1.4); each is also a valid alias.
ADJUSTABLE_NAMES = ("available", "damaged", "incoming", "quality_control", "reserved",
                    "safety_stock")


def quantity_name(alias: str) -> str:
    return re.sub(r"_\d+$", "", alias)


def move_stock_document(aliases: list[str] | tuple[str, ...]) -> str:
    """One mutation with an aliased inventoryAdjustQuantities per group: the alias is the
    quantity name, plus `_2`, `_3`... when a name needs more than one input (250 changes)."""
    aliases = sorted(set(aliases))
    for alias in aliases:
        if quantity_name(alias) not in ADJUSTABLE_NAMES:
            raise ValueError(f"not an adjustable quantity alias: {alias}")
    params = ", ".join(f"${a}: InventoryAdjustQuantitiesInput!, ${a}Key: String!"
                       for a in aliases)
    fields = "\n".join(
        f"  {a}: inventoryAdjustQuantities(input: ${a}) @idempotent(key: ${a}Key) "
        "{ ...ReturnlineAdjustment }"
        for a in aliases
    )
    return f"\nmutation ReturnlineMoveStock({params}) {{\n{fields}\n}}\n" + ADJUST_FRAGMENT


def all_documents() -> dict[str, str]:
    """Every document the connector can send, by a short name (stock batches by name set)."""
    docs = {
        "order_by_name": ORDER_BY_NAME,
        "order_by_id": ORDER_BY_ID,
        "order_reread": ORDER_REREAD,
        "order_returns": ORDER_RETURNS,
        "exchanges": EXCHANGES,
        "order_note": ORDER_NOTE,
        "locations": LOCATIONS,
        "inventory_items": INVENTORY_ITEMS,
        "stock_levels": STOCK_LEVELS,
        "refund": REFUND_CREATE,
        "return": RETURN_CREATE,
        "tag_and_note": TAG_AND_NOTE,
        "tags": TAGS_ADD,
        "order_create": ORDER_CREATE,
        "find_order": FIND_ORDER_BY_QUERY,
    }
    for names in (("available",), ("damaged",), ("available", "damaged"),
                  ("quality_control",), ("available", "available_2", "damaged")):
        docs["move_stock:" + "+".join(names)] = move_stock_document(names)
    return docs
