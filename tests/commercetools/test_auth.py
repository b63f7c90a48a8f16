"""OAuth2 client credentials: cached token, renewal by the clock, one refresh on 401."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ct_support import make_connector

from sync.connectors.base import AuthError


def _token_calls(sandbox):
    return [e for e in sandbox.journal if e["path"] == "/oauth/token"]


def test_token_is_cached_and_renewed_before_expiry(sandbox, connector, clock):
    connector.get_order("1001")
    connector.get_order("1001")
    assert len(_token_calls(sandbox)) == 1
    form = _token_calls(sandbox)[0]["body"]
    assert "grant_type=client_credentials" in form and "scope=manage_orders" in form
    clock.advance(timedelta(seconds=sandbox.token_validity_seconds - 60))  # inside the margin
    connector.get_order("1001")
    assert len(_token_calls(sandbox)) == 2
    assert all(e["status"] != 401 for e in sandbox.journal)


def test_expired_token_is_refreshed_once_and_the_call_retried(sandbox, connector):
    connector.get_order("1001")
    sandbox.expire_tokens()  # the server no longer accepts the cached token
    order = connector.get_order("1001")
    assert order is not None and order.order_ref == "1001"
    statuses = [(e["path"].rsplit("/", 1)[-1], e["status"]) for e in sandbox.journal]
    assert ("order-number=1001", 401) in statuses
    assert len(_token_calls(sandbox)) == 2
    unauthorised = next(e for e in sandbox.journal if e["status"] == 401)
    assert unauthorised["headers"]["authorization"] == "***"


def test_token_rejected_again_after_refresh_is_an_auth_error(sandbox, http, clock):
    sandbox.token_validity_seconds = 0  # every token is born expired
    conn = make_connector(http, clock)
    with pytest.raises(AuthError) as err:
        conn.get_order("1001")
    assert err.value.code == "invalid_token"
    assert len(_token_calls(sandbox)) == 2  # one refresh, no loop


def test_bad_client_secret_is_refused_without_leaking_it(sandbox, http, clock):
    conn = make_connector(http, clock, client_secret="wrong-secret-xyz")
    with pytest.raises(AuthError) as err:
        conn.get_order("1001")
    assert err.value.code == "invalid_client"
    assert "wrong-secret-xyz" not in str(err.value) + repr(err.value.call.as_dict())
    assert "wrong-secret-xyz" not in repr(sandbox.journal)


def test_missing_scope_is_insufficient_scope(sandbox, http, clock):
    conn = make_connector(http, clock, scopes=["view_orders:returnline-demo"])
    assert conn.get_order("1001") is not None
    with pytest.raises(AuthError) as err:
        conn.find_stock_movement("rl:R1:restock:1")
    assert err.value.code == "insufficient_scope"
    assert "view_products:returnline-demo" in err.value.message
