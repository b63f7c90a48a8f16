"""NetSuite connector against the NetSuite sandbox: money, idempotency, errors, auth."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from rules.money import Money
from sync.connectors.base import (
    AuthError,
    CreditNoteRequest,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RefundLineRequest,
    TransientError,
)
from sync.connectors.netsuite import (
    NetSuiteConfig,
    NetSuiteErp,
    OAuth2ClientCredentials,
    TokenBasedAuth,
    external_id_for,
    key_from_external_id,
)
from sync.connectors.netsuite.auth import oauth1_base_string, parse_oauth_header
from sync.connectors.netsuite.wire import dumps_exact
from sync.sandbox.base import SandboxTransport
from sync.sandbox.netsuite import DEMO_TBA, NetSuiteSandbox

from .conftest import ACCOUNT, START, make_order, make_return


def credit_request(key: str, return_id: str, lines: list[tuple[str, int, str]], currency: str,
                   location: str | None = "uk-dc-sellable") -> CreditNoteRequest:
    line_reqs = tuple(RefundLineRequest(f"L{i}", sku, qty, Money.parse(amount, currency))
                      for i, (sku, qty, amount) in enumerate(lines, 1))
    total = sum((line.amount for line in line_reqs), Money.zero(currency))
    return CreditNoteRequest(key=key, return_id=return_id, order_ref="1001",
                             refund_key=key.replace("credit_note", "refund"),
                             refund_reference=f"gid://shopify/Refund/{return_id}", amount=total,
                             lines=line_reqs, location_id=location)


@pytest.mark.parametrize("currency, lines, total", [
    ("GBP", [("TEE-M", 1, "19.99"), ("MUG", 3, "10.00")], "29.99"),
    ("JPY", [("TEE-M", 2, "3001"), ("MUG", 1, "1500")], "4501"),
    ("KWD", [("TEE-M", 1, "1.255"), ("MUG", 3, "0.001")], "1.256"),
])
def test_credit_memo_total_equals_refund_to_the_minor_unit(erp, netsuite, currency, lines,
                                                            total):
    order = make_order("1001", currency, [("TEE-M", 2, lines[0][2]), ("MUG", 3, "1")])
    ret = make_return("R1", order, [("TEE-M", 1)])
    ra = erp.create_return_authorisation("rl:R1:return_authorisation:1", ret, order)
    req = credit_request("rl:R1:credit_note:1", "R1", lines, currency)
    effect = erp.create_credit_note(req)

    view = netsuite.external_view()["credit_notes"]
    assert view == [{"return": "R1", "amount": total, "currency": currency,
                     "external_id": "rl--R1--credit_note--1",
                     "refund": "gid://shopify/Refund/R1",
                     "return_authorisation": ra.external_id}]
    assert Money.parse(view[0]["amount"], currency) == req.amount
    assert effect.data["via"] == "transform" and effect.external_id
    # the wire carried exact JSON numbers, never a float's rounding
    sent = netsuite.requests_for("credit_note")[-1]
    assert sent["path"].endswith("!transform/creditMemo") and sent["query"] == {"replace": "item"}
    raw = netsuite.journal[-1]["body"]
    assert [line["amount"] for line in raw["item"]["items"]] == \
        [json.loads(a) for _, _, a in lines]
    # and the record read back agrees, line by line
    found = erp.find_credit_note("rl:R1:credit_note:1")
    assert found is not None and found.external_id == effect.external_id
    assert found.data["amount"] == total and found.data["return"] == "R1"


def test_exact_json_never_rounds():
    assert dumps_exact({"a": Decimal("0.10"), "b": Decimal("1.255"), "c": Decimal("1500")}) == \
        b'{"a":0.10,"b":1.255,"c":1500}'
    with pytest.raises(TypeError):
        dumps_exact({"a": 0.1})


def test_external_id_encoding_is_reversible_and_netsuite_safe():
    for key in ["rl:R1:credit_note:1", "rl:a-b:c_d:2", "rl:ü x/|:1"]:
        ext = external_id_for(key)
        assert all(c.isalnum() or c in "_-" for c in ext)
        assert key_from_external_id(ext) == key
    assert external_id_for("rl:a-b") != external_id_for("rl:a:b")


def test_retry_after_timeout_after_commit_leaves_one_credit_memo(erp, netsuite):
    order = make_order("1001", "GBP", [("TEE-M", 2, "20.00")])
    ret = make_return("R1", order, [("TEE-M", 1)])
    erp.create_return_authorisation("rl:R1:return_authorisation:1", ret, order)
    netsuite.arm_fault("return_authorisation", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        erp.create_return_authorisation("rl:R1:return_authorisation:1", ret, order)
    assert [ra["amount"] for ra in netsuite.return_authorisations()] == ["20.00"]  # upsert: once
    req = credit_request("rl:R1:credit_note:1", "R1", [("TEE-M", 1, "20.00")], "GBP")

    netsuite.arm_fault("credit_note", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        erp.create_credit_note(req)
    # the engine looks the effect up before any resend: it is there
    found = erp.find_credit_note(req.key)
    assert found is not None and found.data["amount"] == "20.00"
    # even a blind resend cannot double it: the duplicate external id resolves to the first
    again = erp.create_credit_note(req)
    assert again.external_id == found.external_id and again.data["already_existed"]
    assert [c["amount"] for c in netsuite.external_view()["credit_notes"]] == ["20.00"]


def test_return_authorisation_found_by_external_id_and_valued_as_planned(erp, netsuite):
    key = "rl:R3:return_authorisation:1"
    assert erp.find_return_authorisation(key) is None
    order = make_order("1003", "GBP", [("TEE-M", 3, "20.00")])
    ret = make_return("R3", order, [("TEE-M", 3)])
    netsuite.arm_fault("return_authorisation", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):  # the values the rules planned (an edited price)
        erp.create_return_authorisation(key, ret, order, amounts={"R3-1": Money(5000, "GBP")})
    found = erp.find_return_authorisation(key)  # what the executor does before a resend
    (ra,) = netsuite.return_authorisations()
    assert found is not None and found.external_id == ra["id"] and ra["amount"] == "50.00"
    assert found.data["amount"] == "50.00" and found.data["return"] == "R3"
    assert found.summary.startswith(f"Return authorisation RMA{ra['id']} found in ERP")
    (line,) = netsuite.dump_state()["records"]["returnAuthorization"][ra["id"]]["item"]["items"]
    assert (line["quantity"], Decimal(str(line["rate"]))) == (3, Decimal("16.66666667"))
    effect = erp.create_return_authorisation(key, ret, order)  # a resend: same record
    assert effect.external_id == ra["id"] and len(netsuite.return_authorisations()) == 1
    assert effect.summary == (f"Return authorisation {ra['id']} created in ERP (NetSuite) for "
                              "return R3: GBP 60.00")


def test_upsert_path_without_return_authorisation_is_idempotent(erp, netsuite):
    req = credit_request("rl:R2:credit_note:1", "R2", [("LAMP", 1, "45.50")], "GBP")
    netsuite.arm_fault("credit_note", "timeout_after_commit")
    with pytest.raises(OutcomeUnknown):
        erp.create_credit_note(req)
    first = netsuite.external_view()["credit_notes"]
    effect = erp.create_credit_note(req)  # PUT eid: upsert updates the same record
    assert effect.data["via"] == "upsert"
    assert netsuite.external_view()["credit_notes"] == first
    assert len(first) == 1 and first[0]["amount"] == "45.50"


def test_missing_credit_memo_is_not_found(erp):
    assert erp.find_credit_note("rl:NOPE:credit_note:1") is None


def test_error_body_becomes_a_readable_message(erp, netsuite):
    req = credit_request("rl:R3:credit_note:1", "R3", [("TEE-M", 1, "20.00")], "GBP")
    erp._items["TEE-M"] = "999"  # a stale cache: NetSuite refuses the reference
    with pytest.raises(PermanentError) as err:
        erp.create_credit_note(req)
    assert err.value.code == "INVALID_KEY_OR_REF"
    assert "Invalid item reference key 999" in err.value.message
    assert "item.items[0].item" in err.value.message
    assert err.value.call is not None and err.value.call.status == 400


def test_unknown_sku_and_unbalanced_refund_refused_before_sending(erp, netsuite):
    with pytest.raises(PermanentError, match="no item for SKU GHOST"):
        erp.create_credit_note(credit_request("rl:R4:credit_note:1", "R4",
                                              [("GHOST", 1, "5.00")], "GBP"))
    req = credit_request("rl:R5:credit_note:1", "R5", [("MUG", 1, "5.00")], "GBP")
    unbalanced = CreditNoteRequest(**{**req.__dict__, "amount": Money.parse("9.95", "GBP")})
    with pytest.raises(PermanentError, match="lines sum to GBP 5.00 but the refund is GBP 9.95"):
        erp.create_credit_note(unbalanced)
    assert netsuite.requests_for("credit_note") == []


def test_refund_money_beyond_lines_goes_on_the_adjustment_item(http, netsuite, clock):
    adj = netsuite.seed_item("RETURN-ADJ")
    auth = TokenBasedAuth(ACCOUNT, clock=clock, **DEMO_TBA)
    erp = NetSuiteErp(http, NetSuiteConfig(ACCOUNT, adjustment_item_id=adj), auth, clock=clock)
    req = credit_request("rl:R6:credit_note:1", "R6", [("MUG", 1, "5.00")], "GBP")
    erp.create_credit_note(CreditNoteRequest(**{**req.__dict__,
                                                "amount": Money.parse("8.95", "GBP")}))
    assert netsuite.external_view()["credit_notes"][0]["amount"] == "8.95"


def test_concurrency_limit_and_faults_are_typed(erp, netsuite):
    netsuite.held_slots = netsuite.concurrency_limit  # other integrations use every slot
    with pytest.raises(RateLimited) as err:
        erp.find_credit_note("rl:R1:credit_note:1")
    assert err.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
    assert "Concurrent request limit exceeded" in err.value.message
    netsuite.held_slots = 0
    netsuite.arm_fault("get_credit_note", "http_503")
    with pytest.raises(TransientError):
        erp.find_credit_note("rl:R1:credit_note:1")
    netsuite.arm_fault("suiteql", "timeout")
    with pytest.raises(TransientError):  # a read that timed out is safe to repeat
        erp.list_credit_notes(START, START + timedelta(days=1))


def test_tba_signs_every_attempt_afresh(erp, netsuite):
    netsuite.arm_fault("get_credit_note", "http_503")
    with pytest.raises(TransientError):
        erp.find_credit_note("rl:R1:credit_note:1")
    assert erp.find_credit_note("rl:R1:credit_note:1") is None  # the retry was accepted
    # both attempts authenticated (a replayed nonce would have been a 401), each its own nonce
    assert [e["status"] for e in netsuite.requests_for("get_credit_note")] == [503, 404]
    assert len(netsuite._nonces) == 2


def test_tba_wrong_secret_is_an_auth_error_without_the_secret(http, clock):
    auth = TokenBasedAuth(ACCOUNT, clock=clock, **{**DEMO_TBA, "token_secret": "wrong-s3cret"})
    erp = NetSuiteErp(http, NetSuiteConfig(ACCOUNT), auth, clock=clock)
    with pytest.raises(AuthError) as err:
        erp.find_credit_note("rl:R1:credit_note:1")
    assert "Invalid login attempt" in err.value.message
    assert "wrong-s3cret" not in repr(err.value.__dict__)


def test_oauth1_base_string_matches_rfc5849_example():
    # RFC 5849 section 3.4.1.1 (parameters reduced to the query + oauth ones it shows)
    base = oauth1_base_string("POST", "http://EXAMPLE.COM:80/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
                              [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b"),
                               ("oauth_consumer_key", "9djdj82h48djs9d2"),
                               ("oauth_token", "kkk9d7dh3k39sjv7"),
                               ("oauth_signature_method", "HMAC-SHA1"),
                               ("oauth_timestamp", "137131201"), ("oauth_nonce", "7d8f3e4a"),
                               ("c2", ""), ("a3", "2 q")])
    assert base == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D"
        "%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce"
        "%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth"
        "_token%3Dkkk9d7dh3k39sjv7")


def test_tba_header_shape(clock):
    auth = TokenBasedAuth(ACCOUNT, clock=clock, **DEMO_TBA)
    fields = parse_oauth_header(auth.headers("GET", "https://x/y")["Authorization"])
    assert fields["realm"] == "1234567_SB1" and fields["oauth_signature_method"] == "HMAC-SHA256"
    assert fields["oauth_version"] == "1.0" and fields["oauth_timestamp"] == \
        str(int(START.timestamp()))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_oauth2_m2m_jwt_token_is_fetched_cached_and_renewed(netsuite, clock, kind):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(65537, 2048) if kind == "rsa" \
        else ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    netsuite.register_m2m("client-1", "cert-1", public)
    with httpx.Client(transport=SandboxTransport([netsuite])) as http:
        auth = OAuth2ClientCredentials(ACCOUNT, "client-1", "cert-1", pem, http=http, clock=clock)
        erp = NetSuiteErp(http, NetSuiteConfig(ACCOUNT), auth, clock=clock)
        assert erp.find_credit_note("rl:R1:credit_note:1") is None
        assert erp.find_credit_note("rl:R1:credit_note:1") is None
        assert auth.tokens_fetched == 1
        clock.advance(timedelta(minutes=56))  # inside the renewal margin of the 60-min token
        erp.find_credit_note("rl:R1:credit_note:1")
        assert auth.tokens_fetched == 2
        netsuite.revoke_tokens()  # a 401 drops the token and fetches a new one, once
        erp.find_credit_note("rl:R1:credit_note:1")
        assert auth.tokens_fetched == 3
        token_call = netsuite.requests_for("token")[0]
        assert token_call["body"].startswith("grant_type=client_credentials")
        assert token_call["body"].endswith("client_assertion=***")  # never journaled
        # a key NetSuite does not know is refused as an auth error
        other = rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        bad = OAuth2ClientCredentials(ACCOUNT, "client-1", "cert-1", other, http=http, clock=clock)
        with pytest.raises(AuthError, match="invalid_client"):
            NetSuiteErp(http, NetSuiteConfig(ACCOUNT), bad, clock=clock).find_credit_note("k")


def test_list_credit_notes_for_reconciliation_pages_through_suiteql(erp, netsuite, clock,
                                                                    monkeypatch):
    monkeypatch.setattr("sync.connectors.netsuite.erp.SUITEQL_PAGE", 2)
    for i in range(5):
        erp.create_credit_note(credit_request(f"rl:R{i}:credit_note:1", f"R{i}",
                                              [("MUG", 1, f"{i + 1}.50")], "GBP"))
        clock.advance(timedelta(hours=6))
    rows = erp.list_credit_notes(START, START + timedelta(hours=24))
    assert [(r["return"], r["amount"], r["currency"], r["key"]) for r in rows] == [
        (f"R{i}", f"{i + 1}.50", "GBP", f"rl:R{i}:credit_note:1") for i in range(4)]
    assert len(netsuite.requests_for("suiteql")) >= 3  # pages of two


def test_state_dump_round_trips(erp, netsuite, clock):
    erp.create_credit_note(credit_request("rl:R1:credit_note:1", "R1", [("MUG", 1, "5.00")],
                                          "GBP"))
    state = netsuite.dump_state()
    assert json.loads(json.dumps(state)) == state
    fresh = NetSuiteSandbox(clock, account_id=ACCOUNT)
    fresh.load_state(state)
    assert fresh.external_view() == netsuite.external_view()
    assert fresh.dump_state() == state


def test_replayed_tba_signature_is_refused(http, netsuite, clock):
    auth = TokenBasedAuth(ACCOUNT, clock=clock, **DEMO_TBA)
    url = "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/creditMemo/eid:x"
    headers = auth.headers("GET", url)
    assert http.get(url, headers=headers).status_code == 404  # signed, accepted, not there
    replay = http.get(url, headers=headers)  # same nonce and timestamp again
    assert replay.status_code == 401 and "invalid_token" in replay.headers["www-authenticate"]
    assert replay.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_cut_off_answers(erp, netsuite):
    req = credit_request("rl:R7:credit_note:1", "R7", [("MUG", 1, "5.00")], "GBP")
    erp.create_credit_note(req)
    netsuite.arm_fault("get_credit_note", "malformed")
    with pytest.raises(TransientError, match="unreadable"):
        erp.find_credit_note(req.key)
    netsuite.arm_fault("credit_note", "timeout")  # never applied: the lookup says so
    req8 = credit_request("rl:R8:credit_note:1", "R8", [("MUG", 1, "5.00")], "GBP")
    with pytest.raises(OutcomeUnknown):
        erp.create_credit_note(req8)
    assert erp.find_credit_note(req8.key) is None
    assert erp.create_credit_note(req8).data["amount"] == "5.00"
    assert len(netsuite.external_view()["credit_notes"]) == 2
