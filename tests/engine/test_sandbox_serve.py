"""`returnline sandbox serve` pieces: the fleet on real sockets, its state kept across a
restart, control routes, and the endpoints transport that points production connectors at it."""

from __future__ import annotations

import httpx
import pytest

from storage.config import ConfigError, load_config, resolve_paths
from storage.master_data import mappings_dict
from sync.clock import WallClock
from sync.connectors.base import TransientError
from sync.connectors.shopify import ShopifyConnector
from sync.endpoints import EndpointTransport
from sync.runtime import open_database
from sync.sandbox.serve import Fleet, Served, scenario_config
from sync.sandbox.shopify import SANDBOX_ACCESS_TOKEN
from sync.synthetic import bulk_scenario
from sync.wiring import SHOP


@pytest.fixture
def served(tmp_path):
    running = Served(Fleet(tmp_path / "state", rate_limits=False))
    ends = running.start()
    yield running, ends
    running.stop()


def _shopify(ends) -> ShopifyConnector:
    client = httpx.Client(transport=EndpointTransport(ends["systems"]), timeout=10)
    return ShopifyConnector(client, SHOP, SANDBOX_ACCESS_TOKEN, clock=WallClock())


def test_connectors_reach_the_served_sandbox_and_its_state_survives_a_restart(served, tmp_path):
    running, ends = served
    posted = httpx.post(f"{ends['control']}/__sandbox__/scenario",
                        json=bulk_scenario(3, seed=1)).json()
    assert sorted(posted["returns"]) == ["R00000", "R00001", "R00002"]
    order = _shopify(ends).get_order("5001")
    assert order is not None and order.order_ref == "5001"
    calls = len(running.fleet.sandboxes["shopify"].journal)
    running.stop()

    again = Fleet(tmp_path / "state", rate_limits=False)  # a new process on the same folder
    shopify = again.sandboxes["shopify"]
    assert shopify.order("5001")["lines"][0]["sku"] == order.lines[0].sku
    assert len(shopify.journal) == calls  # the request journal is kept too
    assert again.world_state["world"]["seeded_rma"] == posted["returns"]


def test_a_fault_armed_over_the_control_route_hits_the_next_call(served):
    _, ends = served
    httpx.post(f"{ends['control']}/__sandbox__/scenario", json=bulk_scenario(1, seed=1))
    shop = ends["systems"]["shopify"]["url"]
    armed = httpx.post(f"{shop}/__sandbox__/fault",
                       json={"operation": "get_order", "kind": "http_503", "count": 1})
    assert armed.status_code == 200
    with pytest.raises(TransientError):
        _shopify(ends).get_order("5000")
    assert _shopify(ends).get_order("5000").order_ref == "5000"  # only the next call
    bad = httpx.post(f"{shop}/__sandbox__/fault", json={"operation": "*", "kind": "explode"})
    assert bad.status_code == 400 and "http_500" in bad.json()["error"]


def test_a_posted_scenario_with_engine_steps_is_refused_with_the_step(served):
    _, ends = served
    data = bulk_scenario(1, seed=1)
    data["steps"].append({"do": "approve", "return": "R00000", "user": "sam"})
    answer = httpx.post(f"{ends['control']}/__sandbox__/scenario", json=data)
    assert answer.status_code == 400
    assert "step 4 (approve)" in answer.json()["error"]


def test_the_endpoints_transport_never_reaches_an_unlisted_or_remote_host(served):
    _, ends = served
    client = httpx.Client(transport=EndpointTransport(ends["systems"]))
    with pytest.raises(httpx.ConnectError, match="not in the sandbox endpoints file"):
        client.get("https://example.com/")
    with pytest.raises(ValueError, match="not on this machine"):
        EndpointTransport({"x": {"url": "https://10.0.0.1:443", "hosts": ["api.returngo.ai"]}})


def test_master_data_in_the_config_is_written_to_the_database(tmp_path):
    config_file = tmp_path / "returnline.toml"
    config_file.write_text(scenario_config(bulk_scenario(1)))
    config = load_config(config_file)
    paths = resolve_paths(str(config_file))
    db = open_database(config, paths, f"sqlite:///{tmp_path / 'r.db'}")
    with db.session() as s:
        data = mappings_dict(s)
    db.dispose()
    assert data["reasons"]["map"] == {"too small": "TOO_SMALL"}
    [wh] = data["warehouses"]
    assert {(loc["id"], loc["sellable"]) for loc in wh["locations"]} == {
        ("uk-dc-sellable", True), ("uk-dc-quarantine", False)}


def test_a_malformed_warehouse_table_is_refused_with_its_line(tmp_path):
    config_file = tmp_path / "returnline.toml"
    config_file.write_text('[[warehouses]]\nid = "uk-dc"\n\n[[warehouses.locations]]\n'
                           'id = "uk-dc-sellable"\nsellable = "yes"\n')
    with pytest.raises(ConfigError) as err:
        load_config(config_file)
    assert "line 1: warehouses:" in str(err.value) and "sellable = true/false" in str(err.value)
