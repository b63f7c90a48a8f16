"""Shopify Admin GraphQL (2026-04) commerce connector."""

from sync.connectors.shopify.bucket import ShopifyCostBucket
from sync.connectors.shopify.connector import (
    LocationTarget,
    PartialStockFailure,
    ShopifyConnector,
    stock_batch_key,
)
from sync.connectors.shopify.webhooks import (
    ShopifyRefundEvent,
    parse_refund_webhook,
    verify_webhook,
    webhook_dedupe_key,
    webhook_topic,
)

__all__ = ["LocationTarget", "PartialStockFailure", "ShopifyConnector", "ShopifyCostBucket",
           "ShopifyRefundEvent", "parse_refund_webhook", "stock_batch_key", "verify_webhook",
           "webhook_dedupe_key", "webhook_topic"]
