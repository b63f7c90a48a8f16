"""Shopify Admin GraphQL (2026-04) sandbox."""

from sync.sandbox.shopify.sandbox import (
    API_VERSION,
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
    ShopifySandbox,
)

__all__ = ["API_VERSION", "SANDBOX_ACCESS_TOKEN", "SANDBOX_WEBHOOK_SECRET", "ShopifySandbox"]
