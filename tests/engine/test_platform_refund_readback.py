"""Happy Returns refunds at the prices it holds: the engine reads back what it refunded. A
different amount than planned opens amount_mismatch for finance and the credit note books what
really moved; the same amount closes the return with nothing open."""

from __future__ import annotations

import json
from pathlib import Path

from sync.replay import replay_file
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]


def _on_happy_returns(tmp_path: Path, *, edit_order: bool) -> dict:
    data = json.loads((ROOT / "scenarios" / "edited_order_refunds_current_price.json").read_text())
    data["returns_platform"] = "happy_returns"
    data["steps"] = [s for s in data["steps"]
                     if s["do"] != "expect" and (edit_order or s["do"] != "edit_order")]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    return replay_file(load_scenario(path))


def test_happy_returns_refunding_another_amount_opens_amount_mismatch(tmp_path):
    # The order was discounted to 15.00 after the return was requested; Happy Returns still
    # holds 20.00 and refunds that on our approval.
    out = _on_happy_returns(tmp_path, edit_order=True)
    r1 = out["returns"]["R1"]
    assert r1["state"] == "refunded"
    [exc] = [x for x in r1["exceptions"] if x["open"]]
    assert (exc["type"], exc["owner"]) == ("amount_mismatch", "finance")
    assert exc["message"].startswith("The returns platform (happy_returns) refunded GBP 20.00 on "
                                     "approval rl:happy_returns:")
    assert exc["message"].endswith(":approve_platform_return:1 but GBP 15.00 was planned")
    assert out["external"]["platform"]["refunds"] == [
        {"order": "1010", "return": "R1", "amount": "20.00", "currency": "GBP"}]
    # the books follow the money that moved, not the plan
    assert out["external"]["erp"]["credit_notes"] == [
        {"return": "R1", "amount": "20.00", "currency": "GBP"}]


def test_happy_returns_refunding_the_planned_amount_closes_cleanly(tmp_path):
    out = _on_happy_returns(tmp_path, edit_order=False)
    r1 = out["returns"]["R1"]
    assert r1["state"] == "closed" and r1["exceptions"] == []
    assert out["external"]["platform"]["refunds"] == [
        {"order": "1010", "return": "R1", "amount": "20.00", "currency": "GBP"}]
    assert out["external"]["erp"]["credit_notes"] == [
        {"return": "R1", "amount": "20.00", "currency": "GBP"}]
