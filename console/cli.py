"""`returnline`: the command line. Each subcommand is a small function; `--json` where scripts read it."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from storage.config import ConfigError, database_url, load_config, resolve_paths
from storage.credentials import FIELDS, CredentialError, store_from_config

Handler = Callable[[argparse.Namespace], int]


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, sort_keys=True, default=str))


def _context(args: argparse.Namespace):
    paths = resolve_paths(getattr(args, "config", None))
    config = load_config(paths.config_file, required=bool(getattr(args, "config", None)))
    return paths, config


# --- paths / config ---------------------------------------------------------------------------
def cmd_paths(args: argparse.Namespace) -> int:
    paths = resolve_paths(args.config)
    try:
        config = load_config(paths.config_file)
        db = database_url(config, paths)
    except ConfigError:
        db = "(config invalid: run `returnline config check`)"
    info = {
        "config": str(paths.config_file),
        "config_exists": paths.config_file.exists(),
        "data": str(paths.data_dir),
        "log": str(paths.log_dir),
        "database": _mask_url(db),
    }
    if args.json:
        _print_json(info)
    else:
        for key in ("config", "data", "log", "database"):
            suffix = "" if key != "config" or info["config_exists"] else "  (not created yet)"
            print(f"{key + ':':<10} {info[key]}{suffix}")
    return 0


def _mask_url(url: str) -> str:
    """Never print a database password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, minus nothing secret
        return url.split("@")[-1] if "@" in url else url


def cmd_config_check(args: argparse.Namespace) -> int:
    paths = resolve_paths(args.config)
    try:
        load_config(paths.config_file, required=True)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    print(f"{paths.config_file}: ok")
    return 0


# --- credentials --------------------------------------------------------------------------------
def cmd_credentials_set(args: argparse.Namespace) -> int:
    try:
        _, config = _context(args)
        store = store_from_config(config.section("credentials"))
        value = getpass.getpass(f"{args.system} {args.field}: ")
        where = store.set(args.system, args.field, value)
    except (ConfigError, CredentialError) as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    print(f"stored {args.system} {args.field} in {where}")
    return 0


def cmd_credentials_list(args: argparse.Namespace) -> int:
    """Which secrets are configured (never their values)."""
    try:
        _, config = _context(args)
    except ConfigError as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    store = store_from_config(config.section("credentials"))
    rows = [{"system": s, "field": f, "set": store.get(s, f) is not None}
            for s, fields in FIELDS.items() for f in fields]
    if args.json:
        _print_json(rows)
    else:
        if not store.available():
            from storage.credentials import no_keyring_message
            print(no_keyring_message())
        for row in rows:
            print(f"{row['system']:<14} {row['field']:<16} {'set' if row['set'] else '-'}")
    return 0


# --- database -----------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from storage.db import Database

    try:
        paths, config = _context(args)
    except ConfigError as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    url = args.db or database_url(config, paths)
    db = Database(url)
    print(f"database at {_mask_url(db.url)} is up to date")
    db.dispose()
    return 0


# --- operations (the same ones the console uses) -------------------------------------------------
def _ops_context(args: argparse.Namespace):
    from sync.operations import operator_from_config
    from sync.runtime import runtime_from_config

    paths, config = _context(args)
    runtime = runtime_from_config(config, paths, db_url=getattr(args, "db", None))
    operator = operator_from_config(config, getattr(args, "as_user", None),
                                    read_only=getattr(args, "read_only", False))
    return runtime, operator


def _report(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        _print_json(payload)
    else:
        print(text)


def _hold_keys(runtime, target: str) -> list[str]:
    """A hold key as given, or every open refund hold of a return id / RMA / order."""
    from sqlalchemy import select

    from storage.queries import search_returns
    from storage.tables import HoldRow

    with runtime.db.session() as s:
        if s.get(HoldRow, target) is not None:
            return [target]
        ids = [r.return_id for r in search_returns(s, target)]
        return list(s.execute(select(HoldRow.key).where(
            HoldRow.return_id.in_(ids), HoldRow.decision.is_(None),
            HoldRow.kind == "refund_approval")).scalars())


def _run_operation(args: argparse.Namespace, action) -> int:
    from sync.operations import Refused

    try:
        runtime, operator = _ops_context(args)
        payload, text = action(runtime, operator)
    except (ConfigError, Refused) as exc:
        if getattr(args, "json", False):
            _print_json({"ok": False, "error": str(exc)})
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    _report(args, {"ok": True, **payload}, text)
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from sync.operations import Refused

    def act(rt, op):
        keys = _hold_keys(rt, args.target)
        if not keys:
            raise Refused(f"nothing waiting for approval matches {args.target!r}")
        done = [rt.operations.approve(op, k, args.note or "").key for k in keys]
        return {"approved": done}, f"approved {len(done)} held refund(s): {', '.join(done)}"
    return _run_operation(args, act)


def cmd_reject(args: argparse.Namespace) -> int:
    from sync.operations import Refused

    def act(rt, op):
        keys = _hold_keys(rt, args.target)
        if not keys:
            raise Refused(f"nothing waiting for approval matches {args.target!r}")
        done = [rt.operations.reject(op, k, args.note).key for k in keys]
        return {"rejected": done}, f"rejected {len(done)} held refund(s): {', '.join(done)}"
    return _run_operation(args, act)


def cmd_reclassify(args: argparse.Namespace) -> int:
    def act(rt, op):
        released = rt.operations.reclassify(op, args.raw, args.code, args.platform)
        return ({"raw": args.raw, "code": args.code, "released": released},
                f"{args.raw!r} now maps to {args.code}; {released} return(s) released")
    return _run_operation(args, act)


def cmd_retry(args: argparse.Namespace) -> int:
    def act(rt, op):
        if args.key:
            count = rt.operations.retry(op, args.key)
        else:
            count = rt.operations.retry_group(op, kind=args.kind, system=args.system,
                                              error_code=args.error)
        return {"requeued": count}, f"{count} action(s) queued to retry"
    return _run_operation(args, act)


def cmd_resolve(args: argparse.Namespace) -> int:
    def act(rt, op):
        exc = rt.operations.resolve(op, args.key, args.note)
        return ({"resolved": exc.key, "type": exc.type},
                f"resolved {exc.type} {exc.key}")
    return _run_operation(args, act)


def cmd_queue(args: argparse.Namespace) -> int:
    """`returnline queue NAME`: what waits, for scripts and cron (read only)."""
    from storage import queries

    try:
        runtime, _ = _ops_context(args)
    except ConfigError as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    with runtime.db.session() as s:
        if args.name == "holds":
            rows = [{"key": h.key, "return": r.return_id, "rma": r.rma, "order": r.order_ref,
                     "amount_minor": h.amount_minor, "currency": h.currency, "why": h.reason,
                     "opened_at": h.opened_at.isoformat()} for h, r in queries.open_holds(s)]
        elif args.name == "exceptions":
            rows = [{"key": x.key, "return": x.return_id, "type": x.type, "owner": x.owner,
                     "message": x.message, "opened_at": x.opened_at.isoformat()}
                    for x in queries.open_exceptions(s, owner=args.owner)]
        else:
            rows = [{"system": g.system, "kind": g.kind, "error": g.error_code, "count": g.count,
                     "sample": g.sample_error, "keys": g.keys[:20]}
                    for g in queries.failure_groups(s)]
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print("  ".join(str(v) for k, v in row.items() if k not in ("keys",)))
        print(f"{len(rows)} {args.name}")
    return 0


# --- the console ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """The console on the built-in sandbox store: no credentials, no network."""
    import getpass
    import tempfile
    from pathlib import Path

    from console.app import ReturnlineApp
    from console.context import ConsoleContext, engine_reconciler
    from sync.demo import LiveDemo, demo_scenario
    from sync.operations import Operator
    from sync.replay import Replay

    tmp = None
    if args.db:
        path = Path(args.db).expanduser()
        path.unlink(missing_ok=True)  # the demo store is built afresh each time
    else:
        tmp = tempfile.TemporaryDirectory(prefix="returnline-demo-")
        path = Path(tmp.name) / "demo.db"
    replay = Replay.build(demo_scenario(seed=args.seed), f"sqlite:///{path}")
    live = LiveDemo(replay, speed=args.speed)
    operator = Operator(getpass.getuser(), "admin", read_only=args.read_only)
    ctx = ConsoleContext.from_replay(
        replay, operator, title="Returnline demo",
        after_action=lambda: replay.executor.drain(include_stock=True),
        reconciler=engine_reconciler(replay.world.engine, live.lock))
    if args.no_sync:  # the store's history, then a still clock: no job runs while open
        replay.run()
        ctx.notes.append("Sync is off (--no-sync): the clock stands still and no job runs.")
    else:  # LiveDemo is the demo's in-process scheduler, on the simulated clock
        live.start()
    try:
        ReturnlineApp(ctx).run()
    finally:
        live.stop()
        replay.db.dispose()
        if tmp is not None:
            tmp.cleanup()
    return 0


def cmd_console(args: argparse.Namespace) -> int:
    """The console over the configured database (views and operations), running the sync jobs
    in-process unless `--no-sync` or [console] sync = false."""
    from console.app import ReturnlineApp
    from console.context import console_from_config
    from sync.operations import Refused

    try:
        paths, config = _context(args)
        ctx = console_from_config(config, paths, db_url=args.db, as_user=args.as_user,
                                  read_only=args.read_only,
                                  sync=False if args.no_sync else None)
    except (ConfigError, Refused) as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    if ctx.sync is not None:
        import logging.handlers

        paths.log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(paths.log_dir / "console-sync.log",
                                                       maxBytes=10_000_000, backupCount=5)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])  # never onto the TUI
    try:
        ReturnlineApp(ctx).run()
    finally:
        if ctx.sync is not None:
            ctx.sync.stop()  # already stopped on a clean exit; this covers a crash
        ctx.db.dispose()
    return 0


# --- the headless engine, webhooks, reconciliation -------------------------------------------------
def _engine_from_config(args: argparse.Namespace):
    """Database, policy and the production connectors from config and the credential store."""
    from sync.engine import Engine
    from sync.runtime import WallClock, build_systems, open_database, policy_from_config

    paths, config = _context(args)
    db = open_database(config, paths, getattr(args, "db", None))
    clock = WallClock()
    systems = build_systems(config, store_from_config(config.section("credentials")), clock, db)
    return paths, config, Engine(db, clock, systems, policy_from_config(config))


def cmd_sync(args: argparse.Namespace) -> int:
    """Run the scheduler headless until SIGTERM or Ctrl-C; in-flight work finishes first."""
    import logging.handlers
    import os
    import signal
    import socket
    import threading
    from datetime import timedelta

    from storage import outbox
    from sync.executor import Executor
    from sync.jobs import make_jobs
    from sync.scheduler import RealScheduler

    try:
        paths, config, engine = _engine_from_config(args)
    except (ConfigError, CredentialError) as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(paths.log_dir / "sync.log",
                                                   maxBytes=10_000_000, backupCount=5)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler, logging.StreamHandler()])
    # Every job run would be two INFO lines a second; job failures still log as errors.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    settings = {k: v for k, v in config.section("scheduler").items() if k.endswith("_seconds")}
    lease = timedelta(seconds=settings.pop("lease_seconds", 120))
    host = socket.gethostname()
    executor = Executor(engine, worker=f"{host}:{os.getpid()}", lease=lease)
    with engine.db.session() as s:  # our own earlier run, killed mid-call: take its work now
        released = outbox.release_dead_leases(s, host, engine.now(), alive=_pid_alive)
    scheduler = RealScheduler(engine.db, make_jobs(engine, executor, settings),
                              now=engine.now)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    scheduler.start()
    logging.getLogger("returnline.sync").info("sync started (pid %s, log %s)", os.getpid(),
                                              paths.log_dir / "sync.log")
    if released:
        logging.getLogger("returnline.sync").warning(
            "%d action(s) were in flight in a run that died: looking each up before any resend",
            released)
    stop.wait()
    logging.getLogger("returnline.sync").info("stopping: letting running jobs finish")
    scheduler.shutdown(wait=True)
    engine.db.dispose()
    return 0


def _pid_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    """Every sandbox on localhost ports, state kept in --state, until SIGTERM or Ctrl-C."""
    import json
    import signal
    import tempfile
    import threading
    from pathlib import Path

    from sync.sandbox.serve import Fleet, Served, write_config

    state = Path(args.state).expanduser() if args.state else Path(
        tempfile.mkdtemp(prefix="returnline-sandbox-"))
    fleet = Fleet(state, rate_limits=not args.no_limits)
    served = Served(fleet, host="127.0.0.1", port_base=args.port_base)
    ends = served.start()
    scenario = None
    if args.scenario:
        from sync.sandbox.serve import FleetError

        try:
            scenario = json.loads(Path(args.scenario).read_text(encoding="utf-8"))
            played = fleet.play(scenario)
        except (FleetError, ValueError, OSError) as exc:
            served.stop()
            print(f"returnline: {args.scenario}: {exc}", file=sys.stderr)
            return 1
        print(f"seeded {len(played['returns'])} return(s) from {args.scenario}")
    config = write_config(
        state, state / "endpoints.json",
        commerce=(scenario or {}).get("commerce", args.commerce),
        platform=(scenario or {}).get("returns_platform", args.platform),
        feed=(scenario or {}).get("warehouse_feed", args.feed), scenario=scenario)
    for name, spec in ends["systems"].items():
        print(f"{name:14} {spec['url']}  ({', '.join(spec['hosts'])})")
    print(f"{'control':14} {ends['control']}/__sandbox__/")
    print(f"state in {state}\nengine config: RETURNLINE_CONFIG={config} returnline sync",
          flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    served.stop()
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    """Serve the webhook endpoints (POST /webhooks/{platform}) on localhost by default."""
    import uvicorn

    from sync.runtime import WallClock
    from sync.webhooks import WebhookIntake, verifiers

    try:
        paths, config = _context(args)
        from storage.config import database_url
        from storage.db import Database

        db = Database(args.db or database_url(config, paths))
    except ConfigError as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    store = store_from_config(config.section("credentials"))
    secrets = {}
    for platform in ("shopify", "returngo", "happy_returns", "rebound", "shipbob"):
        secret = store.get(platform, "webhook_secret")
        if secret is not None:
            secrets[platform] = secret.reveal()
    if not secrets:
        print("returnline: no webhook secret is configured (returnline credentials set "
              "PLATFORM webhook_secret): refusing to accept unverifiable webhooks",
              file=sys.stderr)
        return 1
    clock = WallClock()
    intake = WebhookIntake(db, clock.now, verifiers(
        secrets, rebound_mode=config.get("systems.rebound.webhook_auth", "hmac"),
        now=clock.now))
    host = args.host or config.get("webhooks.host", "127.0.0.1")
    port = args.port or config.get("webhooks.port", 8787)
    print(f"webhooks for {', '.join(sorted(secrets))} on http://{host}:{port}/webhooks/<platform>")
    uvicorn.run(intake.asgi_app(), host=host, port=port, log_level="info")
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from sync.reconcile import period, reconcile

    try:
        day_from, day_to = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    except ValueError as exc:
        print(f"returnline: dates are YYYY-MM-DD: {exc}", file=sys.stderr)
        return 2
    try:
        _, _, engine = _engine_from_config(args)
    except (ConfigError, CredentialError) as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    since, until = period(day_from, day_to)
    report = reconcile(engine, since, until)
    if args.csv:
        report.write_csv(Path(args.csv))
    if args.json:
        _print_json(report.as_json())
    else:
        print(f"{len(report.rows)} return(s), {len(report.mismatches)} mismatch(es)"
              f"{', csv: ' + args.csv if args.csv else ''}")
        for row in report.mismatches:
            print(f"  {row.return_id}  {'; '.join(row.problems)}")
        for error in report.errors:
            print(f"  could not read: {error}")
    return 1 if report.mismatches or report.errors else 0


def cmd_import_grading(args: argparse.Namespace) -> int:
    """A 3PL grading file imported by hand: good rows recorded, bad rows to FILE.rejects.csv."""
    from pathlib import Path

    from sync.connectors.csv_grading import CsvGradingConfig, import_file, write_rejects
    from sync.runtime import runtime_from_config

    path = Path(args.file)
    if not path.is_file():
        print(f"returnline: {path}: no such file", file=sys.stderr)
        return 1
    try:
        paths, config = _context(args)
        runtime = runtime_from_config(config, paths, db_url=args.db)
    except ConfigError as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 1
    cfg = CsvGradingConfig(warehouse=args.warehouse or config.get("systems.csv.warehouse", "wms"),
                           columns=config.section("systems.csv.columns"))
    result = import_file(path, cfg, now=runtime.engine.now())
    if not runtime.engine.record_csv_import(result):
        _report(args, {"file": str(path), "already_imported": True},
                f"{path.name}: already imported (same name and content): nothing changed")
        return 0
    rejects = write_rejects(result, path.with_name(path.name + ".rejects.csv"))
    payload = {"file": str(path), "already_imported": False, "good_rows": len(result.gradings),
               "rejected_rows": [{"row": r.row, "reason": r.reason} for r in result.rejects],
               "error": result.error, "rejects_file": str(rejects) if rejects else None}
    _report(args, payload, f"{path.name}: {len(result.gradings)} row(s) imported, "
                           f"{len(result.rejects)} rejected"
                           + (f" (see {rejects})" if rejects else ""))
    return 0


# --- replay -------------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sync.replay import ReplayError, replay_file
    from sync.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.file)
        result = replay_file(scenario, Path(args.journal) if args.journal else None)
    except (ScenarioError, ReplayError) as exc:
        print(f"returnline: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return 0
    print(f"{result['name']}")
    for label, info in result["returns"].items():
        open_exc = [x["type"] for x in info["exceptions"] if x["open"]]
        extra = f"  open exceptions: {', '.join(open_exc)}" if open_exc else ""
        print(f"  {label:<8} {info['state']:<18} {info['timeline']:>3} timeline events{extra}")
    ext = result["external"]
    for refund in ext["commerce"]["refunds"]:
        print(f"  refund       {refund['currency']} {refund['amount']:>10}  order {refund['order']}"
              f"  return {refund['return']}")
    for ra in ext["erp"].get("return_authorisations", []):
        print(f"  return auth  {ra['currency']} {ra['amount']:>10}  return {ra['return']}")
    for cn in ext["erp"]["credit_notes"]:
        print(f"  credit note  {cn['currency']} {cn['amount']:>10}  return {cn['return']}")
    for move in ext["commerce"]["stock"]:
        where = "sellable" if move["sellable"] else "not sellable"
        print(f"  stock        {move['delta']:+d} {move['sku']} at {move['location']} ({where})")
    return 0


# --- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="returnline",
        description="Returnline: the operations console for e-commerce returns.",
    )
    parser.add_argument("--config", help="config file (default: RETURNLINE_CONFIG or the "
                                         "platform config dir; see `returnline paths`)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("paths", help="print the config, data, log and database locations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_paths)

    config = sub.add_parser("config", help="check the config file")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    p = config_sub.add_parser("check", help="validate; exit 1 with the reasons when invalid")
    p.set_defaults(handler=cmd_config_check)

    creds = sub.add_parser("credentials", help="store API credentials in the OS keyring")
    creds_sub = creds.add_subparsers(dest="credentials_command", metavar="ACTION", required=True)
    p = creds_sub.add_parser("set", help="prompt for a secret (not echoed) and store it")
    p.add_argument("system", choices=sorted(FIELDS))
    p.add_argument("field")
    p.set_defaults(handler=cmd_credentials_set)
    p = creds_sub.add_parser("list", help="which secrets are set (values never shown)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_credentials_list)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = db_sub.add_parser("upgrade", help="apply migrations (also done on every start)")
    p.add_argument("--db", help="database URL (default: config or SQLite in the data dir)")
    p.set_defaults(handler=cmd_db_upgrade)

    def op_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true")
        p.add_argument("--as", dest="as_user", metavar="USER",
                       help="act as this operator (only where [operator] allow_as = true)")
        p.add_argument("--db", help="database URL (default: from config)")
        return p

    p = op_parser("approve", "approve held refund(s): a hold key, return id, RMA or order")
    p.add_argument("target")
    p.add_argument("--note", default="")
    p.set_defaults(handler=cmd_approve)
    p = op_parser("reject", "reject held refund(s) with a note saying why")
    p.add_argument("target")
    p.add_argument("--note", required=True)
    p.set_defaults(handler=cmd_reject)
    p = op_parser("reclassify", "map a raw reason text to a master code; re-plans what waited")
    p.add_argument("raw")
    p.add_argument("code")
    p.add_argument("--platform", default="*", help="only for this platform (default: all)")
    p.set_defaults(handler=cmd_reclassify)
    p = op_parser("retry", "retry failed actions: given keys, or a whole group")
    p.add_argument("key", nargs="*", help="action keys")
    p.add_argument("--kind", help="every failed action of this kind (refund, restock...)")
    p.add_argument("--system", help="...in this system")
    p.add_argument("--error", help="...with this error code")
    p.set_defaults(handler=cmd_retry)
    p = op_parser("resolve", "resolve an exception with a note")
    p.add_argument("key")
    p.add_argument("--note", required=True)
    p.set_defaults(handler=cmd_resolve)
    p = op_parser("queue", "list a queue: holds, exceptions or failures")
    p.add_argument("name", choices=["holds", "exceptions", "failures"])
    p.add_argument("--owner", help="exceptions of this owner team only")
    p.set_defaults(handler=cmd_queue)

    p = sub.add_parser("demo", help="open the console on the built-in sandbox store")
    p.add_argument("--db", help="keep the demo database at this path (replaced if present)")
    p.add_argument("--seed", type=int, default=7, help="which demo store to generate")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per real second once the history has played")
    p.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    p.add_argument("--no-sync", action="store_true",
                   help="play the store's history, then keep the clock still (no jobs run)")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("console", help="open the console on the configured database")
    p.add_argument("--db", help="database URL (default: from config)")
    p.add_argument("--as", dest="as_user", metavar="USER",
                   help="act as this operator (only where [operator] allow_as = true)")
    p.add_argument("--read-only", action="store_true", help="hide and refuse every action")
    p.add_argument("--no-sync", action="store_true",
                   help="do not run the sync jobs in the console (see [console] sync)")
    p.set_defaults(handler=cmd_console)

    p = sub.add_parser("sync", help="run the engine headless (polls, outbox, sweeps) until "
                                    "SIGTERM or Ctrl-C")
    p.add_argument("--db", help="database URL (default: from config)")
    p.set_defaults(handler=cmd_sync)

    sandbox = sub.add_parser("sandbox", help="the built-in sandboxes as their own process")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    p = sandbox_sub.add_parser("serve", help="every sandbox on a localhost port, state kept in "
                               "--state; writes endpoints.json and a returnline.toml there")
    p.add_argument("--state", help="folder for state, journals and the engine config "
                   "(default: a new temporary folder)")
    p.add_argument("--port-base", type=int, default=0,
                   help="first port (sandboxes take consecutive ports; default: any free)")
    p.add_argument("--scenario", help="seed a scenario's orders and play its sandbox-side steps")
    p.add_argument("--commerce", choices=("shopify", "commercetools"), default="shopify",
                   help="the commerce system the written config switches on")
    p.add_argument("--platform", choices=("rebound", "returngo", "happy_returns"),
                   default="returngo", help="the returns platform the written config switches on")
    p.add_argument("--feed", choices=("shipbob", "csv"), default="shipbob",
                   help="the warehouse feed the written config switches on")
    p.add_argument("--no-limits", action="store_true", help="switch the simulated rate limits off")
    p.set_defaults(handler=cmd_sandbox_serve)

    p = sub.add_parser("webhooks", help="serve the webhook endpoints (localhost by default)")
    p.add_argument("--db", help="database URL (default: from config)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(handler=cmd_webhooks)

    p = sub.add_parser("reconcile", help="refunds vs credit notes vs stock, per return, for a "
                                         "period; mismatches become exceptions")
    p.add_argument("--from", dest="date_from", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", required=True, metavar="YYYY-MM-DD")
    p.add_argument("--csv", metavar="FILE", help="also write the report as CSV")
    p.add_argument("--json", action="store_true")
    p.add_argument("--db", help="database URL (default: from config)")
    p.set_defaults(handler=cmd_reconcile)

    imp = sub.add_parser("import", help="import a file by hand")
    imp_sub = imp.add_subparsers(dest="import_command", metavar="WHAT", required=True)
    p = imp_sub.add_parser("grading", help="a 3PL returns/grading CSV (same rules as the drop "
                                           "folder: each file once, bad rows rejected)")
    p.add_argument("file")
    p.add_argument("--warehouse", help="Returnline warehouse id the file comes from")
    p.add_argument("--db", help="database URL (default: from config)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_import_grading)

    p = sub.add_parser("replay", help="run a scenario against the built-in sandboxes")
    p.add_argument("file", help="scenario JSON file")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.add_argument("--journal", metavar="DIR",
                   help="write every request each sandbox received, as JSON lines per system")
    p.set_defaults(handler=cmd_replay)

    for register in EXTRA_COMMANDS:
        register(sub)
    return parser


# Other modules add their subcommands here (engine, console) without this file growing.
EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
