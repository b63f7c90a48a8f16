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
