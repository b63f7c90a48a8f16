"""The seed scenarios again on every other system: commercetools, ReturnGO, Happy Returns and
the CSV drop folder. Same expected outcomes, read from the sandboxes' own state."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sync.replay import match_expected, replay_file
from sync.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.json"))
COMMERCE_NAMES = ("shopify", "commercetools")


def variant(path: Path, **systems: str):
    scenario = load_scenario(path)
    commerce = systems.get("commerce")
    if commerce:
        for step in scenario.steps:  # faults aimed at "the commerce system" follow it
            if step["do"] == "fault" and step["system"] in COMMERCE_NAMES:
                step["system"] = commerce
        scenario.commerce = commerce
    scenario.returns_platform = systems.get("platform", scenario.returns_platform)
    scenario.warehouse_feed = systems.get("feed", scenario.warehouse_feed)
    return scenario


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_on_commercetools(path):
    scenario = variant(path, commerce="commercetools")
    assert match_expected(scenario.expect, replay_file(scenario)) == []


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_on_returngo(path):
    scenario = variant(path, platform="returngo")
    assert match_expected(scenario.expect, replay_file(scenario)) == []


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_with_the_csv_drop_folder(path):
    scenario = variant(path, feed="csv")
    assert match_expected(scenario.expect, replay_file(scenario)) == []


# Happy Returns moves the money itself (its approval refunds), at the prices it holds. Where
# those differ from the order as it is now (an edit, a bundle component, high precision) the
# engine does not yet read back what Happy Returns refunded: see the closing note.
HR_AMOUNTS_DIFFER = {"bundle_component_refund", "edited_order_refunds_current_price",
                     "high_precision_rounded_once"}


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p.stem not in HR_AMOUNTS_DIFFER],
                         ids=[p.stem for p in SCENARIOS if p.stem not in HR_AMOUNTS_DIFFER])
def test_on_happy_returns(path):
    scenario = variant(path, platform="happy_returns")
    # Happy Returns is polled every 15 minutes: checks made minutes after a step are the
    # Rebound timing's; the final outcome is what must hold.
    scenario.steps = [s for s in scenario.steps if s["do"] != "expect"]
    expect = copy.deepcopy(scenario.expect)
    commerce = expect.get("external", {}).get("commerce", {})
    if "refunds" in commerce:  # our refunds happen in Happy Returns, hand-made ones in commerce
        refunds = commerce["refunds"]
        expect["external"].setdefault("platform", {})["refunds"] = [
            r for r in refunds if r.get("return") is not None]
        commerce["refunds"] = [r for r in refunds if r.get("return") is None]
    assert match_expected(expect, replay_file(scenario)) == []
