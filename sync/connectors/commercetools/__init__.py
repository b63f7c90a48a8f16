"""commercetools connector (OAuth2 client credentials, orders, payments, inventory)."""

from sync.connectors.commercetools.connector import CommercetoolsConnector, StockRefused

__all__ = ["CommercetoolsConnector", "StockRefused"]
