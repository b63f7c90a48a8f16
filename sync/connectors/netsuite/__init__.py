"""NetSuite SuiteTalk REST connector (ERP): return authorisations and credit memos."""

from sync.connectors.netsuite.auth import OAuth2ClientCredentials, TokenBasedAuth
from sync.connectors.netsuite.erp import NetSuiteConfig, NetSuiteErp
from sync.connectors.netsuite.wire import external_id_for, key_from_external_id

__all__ = ["NetSuiteConfig", "NetSuiteErp", "OAuth2ClientCredentials", "TokenBasedAuth",
           "external_id_for", "key_from_external_id"]
