"""`returnline sandbox serve`: every sandbox on its own localhost port, state kept in a folder.

The engine is pointed at it by config (`[sandbox] endpoints`, written here as endpoints.json
together with a ready returnline.toml and credentials file), exactly as at the real services:
it can be killed and restarted while the sandboxes keep the truth. Each sandbox's state is
written (atomically) within FLUSH_SECONDS of a change and on shutdown, its request journal is
appended as JSON lines, and a restart loads both back.

Control routes, on every sandbox's port (never part of the real APIs):
    GET  /__sandbox__/state | /__sandbox__/external | /__sandbox__/journal
    POST /__sandbox__/fault  {"operation", "kind", "count"}
    POST /__sandbox__/chaos  {"rate", "kinds", "seed", "spare"}
and on the control port:
    POST /__sandbox__/scenario   a scenario: seeds its orders and plays its sandbox-side steps
    GET  /__sandbox__/external   the replay's `external` for the scenario's systems
    GET  /__sandbox__/health
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sync.clock import WallClock
from sync.sandbox.base import FAULT_KINDS, Sandbox, asgi_app, read_body
from sync.sandbox.commercetools import CommercetoolsSandbox
from sync.sandbox.csv_warehouse import CsvWarehouse
from sync.sandbox.happy_returns import HappyReturnsSandbox
from sync.sandbox.netsuite import DEMO_TBA, NetSuiteSandbox
from sync.sandbox.rebound import ReboundSandbox
from sync.sandbox.returngo import ReturnGOSandbox
from sync.sandbox.shipbob import DEMO_CHANNEL, DEMO_TOKEN, ShipBobSandbox
from sync.sandbox.shopify import SANDBOX_ACCESS_TOKEN, ShopifySandbox

FLUSH_SECONDS = 0.2
# The order of ports from --port-base; "control" comes last.
SERVED = ("shopify", "commercetools", "rebound", "returngo", "happy_returns", "netsuite",
          "shipbob")
COMMERCE = ("shopify", "commercetools")
PLATFORMS = ("rebound", "returngo", "happy_returns")


class FleetError(Exception):
    """A control request the fleet refuses (bad scenario, engine-only step, unknown system)."""


@dataclass
class Fleet:
    """Every sandbox on one clock, persisted in `state_dir`."""

    state_dir: Path
    rate_limits: bool = True
    clock: Any = field(default_factory=WallClock)

    def __post_init__(self) -> None:
        from sync.wiring import CT_PROJECT, NS_ACCOUNT

        self.state_dir = Path(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        c, limits = self.clock, self.rate_limits
        self.sandboxes: dict[str, Sandbox] = {
            "shopify": ShopifySandbox(c, rate_limits=limits),
            "commercetools": CommercetoolsSandbox(c, project_key=CT_PROJECT),
            "rebound": ReboundSandbox(c, limits_enabled=limits),
            "returngo": ReturnGOSandbox(c, limits_enabled=limits),
            "happy_returns": HappyReturnsSandbox(c, limits_enabled=limits),
            "netsuite": NetSuiteSandbox(c, account_id=NS_ACCOUNT),
            "shipbob": ShipBobSandbox(c),
        }
        self.csv = CsvWarehouse(self.csv_folder, c)
        self.lock = threading.RLock()  # one control request at a time; flushes in between
        self.world_state: dict[str, Any] = {}
        self._written: dict[str, str] = {}
        self._journaled: dict[str, int] = {}
        self._seen: dict[str, int] = {}  # request_count at the last flush, per sandbox
        self._touched = True  # a control call changed something the counts don't show
        self._load()

    @property
    def csv_folder(self) -> Path:
        return self.state_dir / "csv-drop"

    # --- persistence ---------------------------------------------------------------------------
    def _state_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.state.json"

    def _journal_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.journal.jsonl"

    def _load(self) -> None:
        for name, sb in self._persisted().items():
            path = self._state_file(name)
            if path.exists():
                text = path.read_text(encoding="utf-8")
                sb.load_state(json.loads(text))
                self._written[name] = text
            jpath = self._journal_file(name)
            if jpath.exists() and isinstance(sb, Sandbox):
                with open(jpath, encoding="utf-8") as fh:
                    sb.journal = [json.loads(line) for line in fh if line.strip()]
                self._journaled[name] = len(sb.journal)
        world = self.state_dir / "world.json"
        if world.exists():
            self.world_state = json.loads(world.read_text(encoding="utf-8"))

    def _persisted(self) -> dict[str, Any]:
        return {**self.sandboxes, "csv": self.csv}

    def flush(self) -> None:
        """Write what changed since the last flush (state atomically; journal appended)."""
        with self.lock:
            touched, self._touched = self._touched, False
            for name, sb in self._persisted().items():
                count = getattr(sb, "request_count", 0)
                if not touched and self._seen.get(name) == count:
                    continue  # no request since the last flush: nothing can have changed
                self._seen[name] = count
                lock = getattr(sb, "lock", None) or threading.RLock()
                with lock:  # a sandbox holds its lock for a whole request
                    text = json.dumps(sb.dump_state(), sort_keys=True)
                    journal = list(getattr(sb, "journal", []))
                if text != self._written.get(name):
                    _atomic_write(self._state_file(name), text)
                    self._written[name] = text
                done = self._journaled.get(name, 0)
                if len(journal) > done:
                    with open(self._journal_file(name), "a", encoding="utf-8") as fh:
                        for entry in journal[done:]:
                            fh.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
                    self._journaled[name] = len(journal)
            if touched:
                _atomic_write(self.state_dir / "world.json",
                              json.dumps(self.world_state, sort_keys=True))

    # --- the scenario-side driver ----------------------------------------------------------------
    def world(self, commerce: str, platform: str, feed: str):
        from sync.wiring import World

        if commerce not in COMMERCE or platform not in PLATFORMS:
            raise FleetError(f"no served world for commerce {commerce!r} / platform {platform!r}")
        world = World(clock=self.clock, commerce_name=commerce, platform_name=platform,
                      feed_name=feed, commerce_sandbox=self.sandboxes[commerce],
                      platform_sandbox=self.sandboxes[platform],
                      erp_sandbox=self.sandboxes["netsuite"],  # type: ignore[arg-type]
                      wms_sandbox=self.csv if feed == "csv" else self.sandboxes["shipbob"],
                      transport=None, client=None, systems=None, csv_folder=self.csv_folder)
        world.load_state(self.world_state.get("world", {}))
        return world

    def play(self, data: dict[str, Any]) -> dict[str, Any]:
        """Seed a scenario's orders and master data and play its sandbox-side steps now
        (wall clock: `advance`, `sync` and `expect` are the engine's business and skipped)."""
        from sync.scenario import ScenarioError, parse_scenario
        from sync.wiring import DRIVER_VERBS

        try:
            scenario = parse_scenario(data, "<posted scenario>")
        except ScenarioError as exc:
            raise FleetError(str(exc)) from None
        engine_only = [f"step {n} ({s['do']})" for n, s in enumerate(scenario.steps, 1)
                       if s["do"] not in DRIVER_VERBS | {"advance", "sync", "expect"}]
        if engine_only:
            raise FleetError("these steps need the engine, not the sandboxes: "
                             + ", ".join(engine_only))
        with self.lock:
            world = self.world(scenario.commerce, scenario.returns_platform,
                               scenario.warehouse_feed)
            world.seed(scenario)
            skipped = 0
            for step in scenario.steps:
                if step["do"] in DRIVER_VERBS:
                    world.drive(step, scenario)
                else:
                    skipped += 1
            self._touched = True
            self.world_state = {"world": world.export_state(), "commerce": scenario.commerce,
                                "platform": scenario.returns_platform,
                                "feed": scenario.warehouse_feed}
        self.flush()
        return {"returns": world.export_state()["seeded_rma"], "skipped_steps": skipped}

    def external(self) -> dict[str, Any]:
        ws = self.world_state
        if not ws:
            raise FleetError("no scenario has been posted yet")
        with self.lock:
            world = self.world(ws["commerce"], ws["platform"], ws["feed"])
            return world.external({})

    # --- control routes ------------------------------------------------------------------------
    def control(self, name: str | None, method: str, path: str, query: dict[str, list[str]],
                body: Any) -> tuple[int, Any]:
        action = path.removeprefix("/__sandbox__/").strip("/")
        if method == "POST":
            self._touched = True
        if name is None:
            if method == "GET" and action == "health":
                return 200, {"ok": True, "pid": os.getpid()}
            if method == "POST" and action == "scenario":
                return 200, self.play(body or {})
            if method == "GET" and action == "external":
                return 200, self.external()
            if method == "POST" and action == "flush":
                self.flush()
                return 200, {"ok": True}
            return 404, {"error": f"no control route {method} {path}"}
        sb = self.sandboxes[name]
        if method == "GET" and action == "state":
            return 200, sb.dump_state()
        if method == "GET" and action == "external":
            return 200, sb.external_view()  # type: ignore[attr-defined]
        if method == "GET" and action == "journal":
            since = int((query.get("since") or ["0"])[0])
            with sb.lock:
                return 200, sb.journal[since:]
        if method == "POST" and action == "fault":
            body = body or {}
            if body.get("kind") not in FAULT_KINDS:
                return 400, {"error": f"kind must be one of {', '.join(FAULT_KINDS)}"}
            sb.arm_fault(body.get("operation", "*"), body["kind"], int(body.get("count", 1)))
            return 200, {"armed": body}
        if method == "POST" and action == "chaos":
            body = body or {}
            sb.set_chaos(float(body.get("rate", 0)), tuple(body.get("kinds") or FAULT_KINDS),
                         seed=int(body.get("seed", 0)), spare=tuple(body.get("spare") or ()))
            return 200, {"chaos": body}
        return 404, {"error": f"no control route {method} {path}"}


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def fleet_app(fleet: Fleet, name: str | None):
    """One port's ASGI app: control routes first, then the sandbox itself (none on control)."""
    import anyio

    inner = asgi_app(fleet.sandboxes[name]) if name is not None else None

    async def app(scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/__sandbox__/"):
            if inner is not None:
                return await inner(scope, receive, send)
            if scope["type"] == "http":
                await _reply(send, 404, {"error": "the control port serves /__sandbox__/ only"})
            return None
        body = await read_body(receive)
        query = parse_qs(scope.get("query_string", b"").decode(), keep_blank_values=True)
        try:
            payload = json.loads(body) if body else None
            status, out = await anyio.to_thread.run_sync(
                fleet.control, name, scope["method"].upper(), scope["path"], query, payload)
        except (FleetError, ValueError, KeyError) as exc:
            status, out = 400, {"error": str(exc)}
        await _reply(send, status, out)
        return None

    return app


async def _reply(send, status: int, payload: Any) -> None:
    body = json.dumps(payload, default=str).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# --- the endpoints file and the ready-made config ---------------------------------------------
def endpoints(fleet: Fleet, host: str, ports: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"control": f"http://{host}:{ports['control']}", "systems": {}}
    for name in SERVED:
        out["systems"][name] = {"url": f"http://{host}:{ports[name]}",
                                "hosts": list(fleet.sandboxes[name].hosts)}
    return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string takes JSON's escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def scenario_config(scenario: dict[str, Any]) -> str:
    """A scenario's policy and master data as returnline.toml sections."""
    from storage.config import SCHEMA

    out: list[str] = []
    policy = scenario.get("policy") or {}
    scalars = {k: v for k, v in policy.items() if k in SCHEMA["policy"]}
    if scalars:
        out += ["[policy]", *(f"{k} = {_toml(v)}" for k, v in scalars.items()), ""]
    if policy.get("approval_threshold"):
        out += ["[policy.approval_threshold]",
                *(f"{k} = {_toml(v)}" for k, v in policy["approval_threshold"].items()), ""]
    reasons = scenario.get("reasons") or {}
    if reasons.get("master") or reasons.get("defect"):
        out += ["[reasons]", *(f"{k} = {_toml(reasons[k])}" for k in ("master", "defect")
                               if reasons.get(k)), ""]
    if reasons.get("map"):
        out += ["[reasons.map]", *(f"{json.dumps(k)} = {_toml(v)}"
                                   for k, v in reasons["map"].items()), ""]
    for wh in scenario.get("warehouses") or []:
        out += ["[[warehouses]]", f"id = {_toml(wh['id'])}",
                *([f"name = {_toml(wh['name'])}"] if wh.get("name") else []), ""]
        for loc in wh.get("locations") or []:
            out += ["[[warehouses.locations]]",
                    *(f"{k} = {_toml(v)}" for k, v in loc.items() if v is not None), ""]
    for b in scenario.get("bundles") or []:
        out += ["[[bundles]]", f"sku = {_toml(b['sku'])}",
                f"components = {_toml(b['components'])}", ""]
    return "\n".join(out)


def write_config(state_dir: Path, endpoints_file: Path, *, commerce: str = "shopify",
                 platform: str = "returngo", feed: str = "shipbob",
                 scenario: dict[str, Any] | None = None) -> Path:
    """A returnline.toml pointing at the served sandboxes, with their test credentials in a
    file store next to it (these are the sandboxes' fixed test secrets, not real ones), and
    the scenario's policy and master data when one was seeded."""
    from storage.credentials import CredentialStore
    from sync.sandbox.commercetools import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    from sync.wiring import CT_PROJECT, CT_REGION, HR_RETAILER, NS_ACCOUNT, RETURNGO_SHOP, SHOP

    creds = state_dir / "credentials.cfg"
    store = CredentialStore(backend="file", file=creds)
    secrets = {
        ("shopify", "access_token"): SANDBOX_ACCESS_TOKEN,
        ("commercetools", "client_id"): DEFAULT_CLIENT_ID,
        ("commercetools", "client_secret"): DEFAULT_CLIENT_SECRET,
        ("returngo", "api_key"): "rg-test-key",
        ("happy_returns", "api_key"): "hr-test-key",
        ("rebound", "client_id"): "rb-client", ("rebound", "client_secret"): "rb-client-secret",
        ("rebound", "legacy_login"): "returnline", ("rebound", "legacy_api_key"): "rb-legacy-key",
        ("shipbob", "token"): DEMO_TOKEN,
        **{("netsuite", k): v for k, v in DEMO_TBA.items()},
    }
    for (system, name), value in secrets.items():
        store.set(system, name, value)
    config = state_dir / "returnline.toml"
    on = {name: "true" if name in (commerce, platform) else "false"
          for name in COMMERCE + PLATFORMS}
    config.write_text(f"""# Written by `returnline sandbox serve`: the engine against the served sandboxes.
[database]
url = "sqlite:///{state_dir / 'returnline.db'}"

[sandbox]
endpoints = "{endpoints_file}"

[credentials]
backend = "file"
file = "{creds}"

[systems.shopify]
enabled = {on['shopify']}
shop = "{SHOP}"

[systems.commercetools]
enabled = {on['commercetools']}
region = "{CT_REGION}"
project_key = "{CT_PROJECT}"

[systems.returngo]
enabled = {on['returngo']}
shop_name = "{RETURNGO_SHOP}"

[systems.happy_returns]
enabled = {on['happy_returns']}
retailer_id = "{HR_RETAILER}"

[systems.rebound]
enabled = {on['rebound']}

[systems.netsuite]
enabled = true
account_id = "{NS_ACCOUNT}"

[systems.shipbob]
enabled = {'true' if feed == 'shipbob' else 'false'}
channel_id = "{DEMO_CHANNEL}"

[systems.csv]
enabled = {'true' if feed == 'csv' else 'false'}
folder = "{state_dir / 'csv-drop'}"

""" + (scenario_config(scenario) if scenario else ""), encoding="utf-8")
    return config


# --- serving ---------------------------------------------------------------------------------
class Served:
    """The fleet on real sockets, one uvicorn server per port, each in its own thread."""

    def __init__(self, fleet: Fleet, host: str = "127.0.0.1", port_base: int = 0,
                 timeout_seconds: float = 30.0) -> None:
        import uvicorn

        self.fleet, self.host = fleet, host
        self.servers: list[Any] = []
        self.threads: list[threading.Thread] = []
        self.ports: dict[str, int] = {}
        self._stop = threading.Event()
        for i, name in enumerate((*SERVED, "control")):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port_base + i if port_base else 0))
            self.ports[name] = sock.getsockname()[1]
            app = fleet_app(fleet, None if name == "control" else name)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                                   timeout_graceful_shutdown=2))
            self.servers.append(server)
            self.threads.append(threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                                                 name=f"sandbox-{name}", daemon=True))
        self._flusher = threading.Thread(target=self._flush_loop, name="sandbox-flush",
                                         daemon=True)

    def start(self) -> dict[str, Any]:
        for t in self.threads:
            t.start()
        self._flusher.start()
        ends = endpoints(self.fleet, self.host, self.ports)
        _atomic_write(self.fleet.state_dir / "endpoints.json", json.dumps(ends, indent=2))
        return ends

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.fleet.flush()

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        for t in self.threads:
            t.join(timeout=5)
        self._stop.set()
        self._flusher.join(timeout=5)
        self.fleet.flush()
