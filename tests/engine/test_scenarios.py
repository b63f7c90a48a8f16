"""Every shipped scenario runs the real engine and connectors against the sandboxes, and its
expected outcome holds — read from the sandboxes' own state (`external`), not our database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sync.replay import match_expected, replay_file
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.json"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_outcome(path):
    scenario = load_scenario(path)
    assert scenario.expect, f"{path.name} states no expected outcome"
    result = replay_file(scenario)
    assert match_expected(scenario.expect, result) == []


def test_every_seed_failure_mode_has_a_scenario():
    names = {p.stem for p in SCENARIOS}
    for mode in ("premature_refund", "damaged_stock_not_resold", "cancelled_order_not_returnable",
                 "unmapped_reason_held_then_released", "manual_refund_never_doubled",
                 "bundle_component_refund", "exchange_ships_at_once", "order_not_synced_yet",
                 "edited_order_refunds_current_price", "high_precision_rounded_once",
                 "inactive_location_restock_failed", "sla_breach_opens_and_closes"):
        assert mode in names


def test_replay_is_deterministic():
    scenario = load_scenario(ROOT / "scenarios" / "unmapped_reason_held_then_released.json")
    assert replay_file(scenario) == replay_file(scenario)


def test_cli_replay_json_and_journal(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "console.cli", "replay",
                           str(ROOT / "scenarios" / "premature_refund.json"), "--json",
                           "--journal", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["returns"]["R1"]["state"] == "closed"
    assert out["external"]["commerce"]["refunds"] == [
        {"order": "1001", "return": "R1", "amount": "20.00", "currency": "GBP"}]
    assert out["requests"]["shopify"] > 0
    lines = (tmp_path / "shopify.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert set(first) == {"at", "method", "path", "query", "headers", "body", "status"}
    assert first["headers"]["x-shopify-access-token"] == "***"
    assert "shpat_" not in (tmp_path / "shopify.jsonl").read_text()


def test_cli_replay_refuses_a_broken_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "start": "2026-11-02T09:00:00Z",
                               "steps": [{"do": "receive", "return": "R1"}]}))
    proc = subprocess.run([sys.executable, "-m", "console.cli", "replay", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "step 1 (receive): unknown return 'R1'" in proc.stderr


def test_expectations_inside_a_scenario_fail_the_replay(tmp_path):
    data = json.loads((ROOT / "scenarios" / "premature_refund.json").read_text())
    data["steps"].append({"do": "expect", "returns": {"R1": {"state": "rejected"}}})
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    proc = subprocess.run([sys.executable, "-m", "console.cli", "replay", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert 'expected "rejected", got "closed"' in proc.stderr
