"""The engine: observe -> record -> plan -> act, for every return, idempotently.

- `poll_returns` reads what changed on the returns platform since the stored cursor, fetches
  each return's order as it is now from commerce, and records facts + plan + cursor in one
  transaction (a crash before commit re-reads the same page; recording it twice adds nothing).
- `poll_warehouse` does the same for grading feeds (ShipBob, CSV drop folder).
- `replan` builds `rules.Facts` from storage, calls `rules.plan`, and stores its result
  (actions, holds, exceptions, decisions on the timeline, the return's state).
- The executor (sync/executor.py) performs actions and re-plans the returns of each claimed
  batch once (their outcomes make them due first, so a crash leaves them to the sweep).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from rules import plan as rules_plan
from rules.facts import ActionOutcome, Facts, HoldDecision
from rules.lifecycle import ActionKind, ActionStatus, ExceptionType, State, Target, Verdict
from rules.mappings import Mappings
from rules.model import Grading, MoneyMover, Order, PlatformStatus, Return
from rules.money import Money
from rules.policy import Policy
from storage.bulk import update_by_key, upsert
from storage.codec import decode, encode, fingerprint_encoded
from storage.db import Database
from storage.ledger import (
    ActionDraft,
    EventDraft,
    ExceptionDraft,
    HoldDraft,
    LedgerEntry,
    LineFacts,
    ReturnFacts,
    get_cursor,
    record,
)
from storage.master_data import load_mappings
from storage.tables import (
    ActionRow,
    ConnectorHealthRow,
    ExceptionRow,
    HoldRow,
    ImportedFileRow,
    OrderSnapshotRow,
    PendingGradingRow,
    ReturnLineRow,
    ReturnRow,
)
from sync.connectors.base import ConnectorError, NotFound, RateLimited
from sync.executor import HELD_BEFORE_SENDING
from sync.ratelimit import FeedbackLimiter, SystemLimits, share_day_budget

log = logging.getLogger("returnline.engine")

_STATUS = {
    "ready": ActionStatus.PENDING, "waiting": ActionStatus.PENDING,
    "in_flight": ActionStatus.PENDING, "planned": ActionStatus.PENDING,
    "succeeded": ActionStatus.SUCCEEDED, "failed": ActionStatus.FAILED,
    "dead": ActionStatus.DEAD, "cancelled": ActionStatus.CANCELLED,
}

# Actions whose payload depends on the order as it is now: refreshed right before sending.
MONEY_KINDS = ("refund", "credit_note", "create_return_record", "approve_platform_return")


@dataclass
class Systems:
    """Which connector answers for each role, by the names used in config and scenarios."""

    commerce_name: str
    commerce: Any
    platform_name: str
    platform: Any
    erp_name: str | None = None
    erp: Any = None
    feeds: dict[str, Any] = field(default_factory=dict)  # warehouse feeds by name

    def for_target(self, target: Target) -> str:
        if target is Target.ERP:
            return self.erp_name or "erp"
        if target is Target.PLATFORM:
            return self.platform_name
        return self.commerce_name

    def named(self) -> list[tuple[str, Any]]:
        pairs = [(self.commerce_name, self.commerce), (self.platform_name, self.platform),
                 (self.erp_name or "erp", self.erp), *self.feeds.items()]
        return [(n, c) for n, c in pairs if c is not None]

    def by_name(self, name: str) -> Any:
        if name == self.commerce_name:
            return self.commerce
        if name == self.platform_name:
            return self.platform
        if name == self.erp_name:
            return self.erp
        if name in self.feeds:
            return self.feeds[name]
        raise KeyError(f"no connector named {name!r}")


def default_limits(systems: Systems) -> tuple[dict[str, SystemLimits], dict[str, Any]]:
    """Each system's limiters and cost estimates from its connector, where it has them:
    Shopify's GraphQL cost bucket (fed by every answer's extensions.cost), the platforms'
    own buckets and budgets (ReturnGO's day, Happy Returns' 0.5 req/s) stay inside their
    connectors, which pace their own reads."""
    limits: dict[str, SystemLimits] = {}
    costs: dict[str, Any] = {}
    commerce = systems.commerce
    bucket = getattr(commerce, "bucket", None)
    if bucket is not None and hasattr(commerce, "estimated_cost"):
        limits[systems.commerce_name] = SystemLimits(
            [FeedbackLimiter(lambda now, cost: bucket.delay_for(int(cost), now))])
        costs[systems.commerce_name] = lambda kind, batch=1: commerce.estimated_cost(
            "move_stock" if kind in ("restock", "quarantine") else kind) + (
            # a money action first re-reads its order (prepare): both must fit the bucket
            commerce.estimated_cost(_reread_operation(commerce)) if kind in MONEY_KINDS else 0)
    return limits, costs


def _reread_operation(commerce: Any) -> str:
    return "reread_order" if hasattr(commerce, "reread_order") else "get_order"


REPLAN_CHUNK = 500  # returns planned per read of each table and per ledger write
DECODED_CACHE_LIMIT = 5_000  # platform returns kept decoded, by facts hash

# The reads of planning, built once (a single-return re-plan before every money action spent
# more building its six statements than SQLite spent answering them).
_IDS = bindparam("ids", expanding=True)
_R = ReturnRow.__table__
# Without the facts JSON: most returns' facts are already decoded in cache.
_RETURNS = select(*[c for c in _R.c if c.name != "facts"]).where(_R.c.return_id.in_(_IDS))
_FACTS = select(_R.c.return_id, _R.c.facts).where(_R.c.return_id.in_(_IDS))
_BY_RETURN = {m: select(m.__table__).where(m.__table__.c.return_id.in_(_IDS))
              for m in (ActionRow, HoldRow, ExceptionRow, ReturnLineRow)}
_S = OrderSnapshotRow.__table__
_SNAPSHOTS = select(_S).where(_S.c.commerce == bindparam("commerce"),
                              _S.c.order_ref.in_(bindparam("refs", expanding=True)))
_SNAPSHOT = select(_S.c.snapshot).where(_S.c.commerce == bindparam("commerce"),
                                        _S.c.order_ref == bindparam("ref"))


@dataclass
class PlanInputs:
    """Everything the rules need for a chunk of returns, read with one query per table as
    plain rows (read-only: the plan's changes are written back in bulk, not through the ORM)."""

    rows: dict[str, Any]
    actions: dict[str, list[Any]]
    holds: dict[str, list[Any]]
    exceptions: dict[str, list[Any]]
    lines: dict[str, list[Any]]
    snapshots: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)  # return id -> facts JSON, when read
    _orders: dict[str, Order | None] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session, ids: Sequence[str], commerce: str, *,
             decoded: dict[str, Return] | None = None,
             orders: dict[str, Order | None] | None = None) -> PlanInputs:
        """`decoded`: platform returns by facts hash (their JSON is not read again);
        `orders`: orders just read from commerce and stored (their snapshots are not read)."""
        s.flush()  # what this transaction changed through the ORM is part of the facts

        def grouped(model: Any) -> dict[str, list[Any]]:
            out: dict[str, list[Any]] = defaultdict(list)
            for r in s.execute(_BY_RETURN[model], {"ids": ids}):
                out[r.return_id].append(r)
            return out

        rows = {r.return_id: r for r in s.execute(_RETURNS, {"ids": ids})}
        unknown = [rid for rid, r in rows.items() if not decoded or r.facts_hash not in decoded]
        facts = dict(s.execute(_FACTS, {"ids": unknown}).all()) if unknown else {}
        known_orders = {ref: o for ref, o in (orders or {}).items() if o is not None}
        refs = {r.order_ref for r in rows.values()} - set(known_orders)
        snapshots = {r.order_ref: r for r in s.execute(
            _SNAPSHOTS, {"commerce": commerce, "refs": list(refs)})} if refs else {}
        return cls(rows, grouped(ActionRow), grouped(HoldRow), grouped(ExceptionRow),
                   grouped(ReturnLineRow), snapshots, facts, dict(known_orders))

    def order(self, ref: str) -> Order | None:
        if ref not in self._orders:
            snap = self.snapshots.get(ref)
            self._orders[ref] = decode(Order, snap.snapshot) if snap and snap.snapshot else None
        return self._orders[ref]


class Engine:
    def __init__(self, db: Database, clock: Any, systems: Systems, policy: Policy, *,
                 limits: dict[str, SystemLimits] | None = None,
                 costs: dict[str, Any] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.systems = systems
        self.policy = policy
        auto_limits, auto_costs = default_limits(systems)
        self._limits = {**auto_limits, **(limits or {})}
        self._costs = {**auto_costs, **(costs or {})}
        self._mappings: Mappings | None = None
        self._wake_cache: tuple[int, datetime | None] | None = None
        self._health_seen: dict[str, tuple[str | None, datetime]] = {}
        self._decoded: dict[str, Return] = {}  # platform returns by facts hash

    # --- Runtime protocol for the executor ----------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def connector(self, system: str) -> Any:
        return self.systems.by_name(system)

    def limits(self, system: str) -> SystemLimits:
        return self._limits.setdefault(system, SystemLimits())

    def cost(self, system: str, kind: str, batch: int = 1) -> float:
        estimate = self._costs.get(system)
        return float(estimate(kind, batch)) if estimate else 1.0

    def owner(self, exception_type: str) -> str:
        try:
            return self.policy.owner(ExceptionType(exception_type))
        except ValueError:
            return "engineering"

    def share_budgets(self) -> None:
        """Day budgets kept inside connectors (ReturnGO's 2,000 calls) shared through the
        database: called before and after every job run, so jobs, processes and restarts
        spend one count per day."""
        for name, connector in self.systems.named():
            budget = getattr(connector, "budget", None)
            if budget is not None and hasattr(budget, "take_unsaved"):
                share_day_budget(self.db.session, name, budget, self.now())

    # --- master data ------------------------------------------------------------------------
    def mappings(self, s: Session | None = None) -> Mappings:
        """Cached; loaded through the caller's session when given, so a reclassification
        made in that same transaction is seen before it commits."""
        if self._mappings is None:
            if s is not None:
                self._mappings = load_mappings(s)
            else:
                with self.db.session() as own:
                    self._mappings = load_mappings(own)
        return self._mappings

    def invalidate_mappings(self) -> None:
        self._mappings = None

    # --- health -----------------------------------------------------------------------------
    def _health(self, system: str, error: str | None = None, polled: bool = False) -> None:
        """Record a system's health; unchanged news is written at most once a minute."""
        now = self.now()
        last = self._health_seen.get(system)
        if last is not None and last[0] == error and now - last[1] < timedelta(minutes=1):
            return
        self._health_seen[system] = (error, now)
        with self.db.session() as s:
            row = s.get(ConnectorHealthRow, system) or ConnectorHealthRow(system=system)
            if error is None:
                row.last_ok_at, row.consecutive_failures = now, 0
            else:
                row.last_error_at, row.last_error = now, error[:2000]
                row.consecutive_failures += 1
            if polled:
                row.last_poll_at = now
            s.add(row)

    # --- observe: returns platform ------------------------------------------------------------
    def poll_returns(self, max_pages: int = 50) -> int:
        """One polling round over the returns platform; returns how many returns it recorded."""
        name = self.systems.platform_name
        source = f"{name}:poll"
        seen = 0
        for _ in range(max_pages):
            with self.db.session() as s:
                cursor = get_cursor(s, source)
            try:
                page = self.systems.platform.list_changed(cursor, self.now())
            except ConnectorError as exc:
                self._health(name, exc.message, polled=True)
                return seen
            if not page.returns and page.next_cursor == cursor:
                self._health(name, polled=True)  # nothing new: no transaction to write
                break
            orders = self._fetch_orders({r.order_ref for r in page.returns})
            now = self.now()
            with self.db.session() as s:
                ids = self._store_returns(s, page.returns, page.raw, now)
                self._store_orders(s, orders, now)
                record(s, LedgerEntry(now=now, cursors={source: page.next_cursor}))
                self.replan(s, [i for i in ids if i], now, orders=orders)
            self._health(name, polled=True)
            seen += len(page.returns)
            more = getattr(self.systems.platform, "has_more", None)
            if page.next_cursor in (None, cursor) or more is None \
                    or not more(page.next_cursor, self.now()):
                break
        self.recheck_missing_orders()
        return seen

    def recheck_missing_orders(self, limit: int = 50) -> int:
        """Returns whose order we could not read yet are asked about again every round: a
        read that failed (timeout, 5xx) must not run out the bounded wait for an order that
        exists. Only the wait itself (policy) turns into order_not_found."""
        with self.db.reader() as s:
            rows = s.execute(select(ReturnRow.return_id, ReturnRow.order_ref).where(
                ReturnRow.state == State.AWAITING_ORDER.value).limit(limit)).all()
        if not rows:
            return 0
        orders = {ref: o for ref, o in self._fetch_orders({ref for _, ref in rows}).items()
                  if o is not None}
        if not orders:
            return 0
        now = self.now()
        with self.db.session() as s:
            self._store_orders(s, orders, now)
            self.replan(s, [rid for rid, ref in rows if ref in orders], now, orders=orders)
        return len(orders)

    def observe_return(self, ret: Return, raw: dict[str, Any] | None = None) -> str:
        """Record one return seen by webhook or poll (idempotent), with its order."""
        orders = self._fetch_orders({ret.order_ref})
        now = self.now()
        with self.db.session() as s:
            rid = self._store_return(s, ret, raw or {}, now)
            self._store_orders(s, orders, now)
            self.replan(s, [rid], now, orders=orders)
        return rid

    def _store_return(self, s: Session, ret: Return, raw: dict[str, Any], now: datetime) -> str:
        return self._store_returns(s, [ret], [raw], now)[0]

    def _store_returns(self, s: Session, rets: Sequence[Return], raws: Sequence[dict[str, Any]],
                       now: datetime) -> list[str]:
        """Record what the platform said about these returns, in one ledger write."""
        t = ReturnRow.__table__
        known = {r.return_id: r for r in s.execute(select(
            t.c.return_id, t.c.facts_hash, t.c.label, t.c.state, t.c.value_minor, t.c.graded_at,
            t.c.closed_at, t.c.order_first_sought_at).where(
            t.c.return_id.in_({r.return_id for r in rets})))}
        entry = LedgerEntry(now=now)
        for ret, raw in zip(rets, raws, strict=True):
            row = known.get(ret.return_id)
            facts = encode(ret)
            digest = fingerprint_encoded(facts)
            self._remember(digest, ret)
            if row is not None and row.facts_hash == digest:
                continue  # nothing new
            label = (row.label if row else None) or _label_of(raw)
            entry.returns.append(ReturnFacts(
                return_id=ret.return_id, platform=ret.platform, platform_id=ret.platform_id,
                order_ref=ret.order_ref, requested_at=ret.requested_at,
                state=row.state if row else State.REQUESTED.value,
                platform_status=ret.status.value, rma=ret.rma,
                customer_email=(ret.customer_email or "").lower() or None, store=ret.store,
                currency=ret.currency, money_mover=ret.money_mover.value,
                facts=facts, facts_hash=digest,
                lines=[LineFacts(line_id=ln.line_id, sku=ln.sku, qty=ln.qty,
                                 raw_reason=ln.raw_reason, resolution=ln.resolution.value,
                                 exchange_sku=ln.exchange_sku) for ln in ret.lines],
                value_minor=row.value_minor if row else 0,
                graded_at=row.graded_at if row else None,
                closed_at=row.closed_at if row else None,
                order_first_sought_at=(row.order_first_sought_at if row else None) or now,
                label=label))
            entry.events.append(EventDraft(
                f"{ret.platform}:{ret.platform_id}:{digest}", ret.return_id, now, ret.platform,
                "observed", _describe_return(ret, row), {"raw": raw}))
        record(s, entry)
        return [r.return_id for r in rets]

    def _fetch_orders(self, refs: Iterable[str], *, before_action: bool = False
                      ) -> dict[str, Order | None]:
        """Orders as they are now. `before_action`: the re-read right before money moves,
        sized to the snapshot where the connector can (Shopify: fewer points); a bucket
        that says "not yet" is raised so the action waits instead of using the old snapshot."""
        out: dict[str, Order | None] = {}
        name = self.systems.commerce_name
        commerce = self.systems.commerce
        reread = getattr(commerce, "reread_order", None) if before_action else None
        for ref in sorted(refs):
            try:
                if reread is not None:
                    out[ref] = reread(ref, self._snapshot(ref))
                else:
                    out[ref] = commerce.get_order(ref)
            except NotFound:
                out[ref] = None
            except RateLimited as exc:
                if before_action and exc.code == HELD_BEFORE_SENDING:
                    raise
                self._health(name, exc.message)
                continue
            except ConnectorError as exc:
                self._health(name, exc.message)
                continue  # keep the last snapshot; the next round asks again
        if out:
            self._health(name)
        return out

    def _store_orders(self, s: Session, orders: dict[str, Order | None], now: datetime) -> None:
        # An order that vanished (None) is kept as last seen; the rules judge it by state.
        upsert(s, OrderSnapshotRow, [
            {"commerce": self.systems.commerce_name, "order_ref": ref,
             "order_id": order.order_id, "state": order.state.value,
             "currency": order.currency, "version": order.version, "snapshot": encode(order),
             "seen_at": now}
            for ref, order in orders.items() if order is not None], ["commerce", "order_ref"])

    def read_order_now(self, order_ref: str) -> Order | None:
        """The order as commerce has it now, by the cheapest full-enough read (Shopify: sized
        to the stored snapshot). Errors are the caller's to handle."""
        reread = getattr(self.systems.commerce, "reread_order", None)
        if reread is not None:
            return reread(order_ref, self._snapshot(order_ref))
        return self.systems.commerce.get_order(order_ref)

    def _snapshot(self, order_ref: str) -> Order | None:
        with self.db.reader() as s:
            snap = s.execute(_SNAPSHOT, {"commerce": self.systems.commerce_name,
                                         "ref": order_ref}).scalar()
        return decode(Order, snap) if snap else None

    def refresh_order(self, order_ref: str, *, before_action: bool = False) -> None:
        orders = self._fetch_orders([order_ref], before_action=before_action)
        with self.db.session() as s:
            self._store_orders(s, orders, self.now())

    def refresh_order_and_replan(self, order_ref: str) -> int:
        """An order changed in commerce (a webhook said so): re-read it, re-plan its returns."""
        self.refresh_order(order_ref)
        now = self.now()
        with self.db.session() as s:
            ids = list(s.execute(select(ReturnRow.return_id).where(
                ReturnRow.order_ref == order_ref)).scalars())
            self.replan(s, ids, now)
        return len(ids)

    def prepare(self, action: ActionRow) -> ActionRow | None:
        """Right before a money action is first sent: read the order as it is now and re-plan,
        so an edited order or a refund made by hand meanwhile changes what is sent (or stops
        it). Returns the action as it now stands, or None when it is no longer to be sent."""
        if action.kind not in MONEY_KINDS or action.attempts or action.outcome_unknown:
            return action
        order_ref = (action.payload or {}).get("order_ref")
        orders = self._fetch_orders([order_ref], before_action=True) if order_ref else {}
        now = self.now()
        with self.db.session() as s:  # the order as read and the plan from it: one commit
            self._store_orders(s, orders, now)
            self.replan(s, [action.return_id], now)
            fresh = s.get(ActionRow, action.key)
        if fresh is None or fresh.status != "in_flight":
            return None
        return fresh

    # --- observe: warehouse gradings --------------------------------------------------------
    def record_gradings(self, s: Session, return_id: str, gradings: Sequence[tuple[str, Grading]],
                        source_key: str, now: datetime) -> bool:
        """Attach warehouse gradings [(sku, Grading)] to a return; idempotent by source_key."""
        return bool(self._attach_gradings(s, [(return_id, source_key, list(gradings))], now))

    def _attach_gradings(self, s: Session,
                         batch: Sequence[tuple[str, str, list[tuple[str, Grading]]]],
                         now: datetime) -> list[str]:
        """[(return id, source key, [(sku, Grading)])] in one read and one write of the
        returns' gradings; a source key already attached adds nothing. Returns the ids of
        the returns that gained gradings."""
        t = ReturnRow.__table__
        ids = {rid for rid, _, _ in batch}
        stored = {r.return_id: list(r.warehouse_gradings or []) for r in s.execute(
            select(t.c.return_id, t.c.warehouse_gradings).where(t.c.return_id.in_(ids)))}
        changed: dict[str, list[dict[str, Any]]] = {}
        entry = LedgerEntry(now=now)
        for rid, source_key, gradings in batch:
            existing = changed.get(rid, stored.get(rid))
            if existing is None or not gradings \
                    or any(g.get("source_key") == source_key for g in existing):
                continue
            changed[rid] = existing + [
                {"sku": sku, "grading": encode(g), "source_key": source_key}
                for sku, g in gradings]
            entry.events.append(EventDraft(
                f"grading:{source_key}", rid, now, gradings[0][1].source or "wms", "observed",
                "; ".join(f"Graded {g.condition.value} x{g.qty} {sku} at {g.warehouse}"
                          for sku, g in gradings)))
        update_by_key(s, ReturnRow, [{"return_id": rid, "warehouse_gradings": graded}
                                     for rid, graded in changed.items()], ["return_id"])
        record(s, entry)
        return list(changed)

    def poll_warehouse(self, feed_name: str | None = None) -> int:
        """Read every warehouse feed (or one) and attach gradings to their returns."""
        total = 0
        for name, feed in self.systems.feeds.items():
            if feed_name and name != feed_name:
                continue
            total += self._poll_feed(name, feed)
        return total

    def _poll_feed(self, name: str, feed: Any) -> int:
        if hasattr(feed, "pending"):  # a CSV drop folder
            return sum(len(r.gradings) for r in feed.scan(self.now(), self.record_csv_import))
        source = f"{name}:poll"
        with self.db.session() as s:
            cursor = get_cursor(s, source)
        try:
            page = feed.list_changed(cursor, self.now())
        except ConnectorError as exc:
            self._health(name, exc.message, polled=True)
            return 0
        now = self.now()
        lines = [line for group in page.gradings.values() for line in group]
        if not lines and page.next_cursor == cursor and not self._has_pending_gradings():
            self._health(name, polled=True)
            return 0
        with self.db.session() as s:
            touched = self.record_graded_lines(s, lines, now)
            record(s, LedgerEntry(now=now, cursors={source: page.next_cursor}))
            self.replan(s, touched, now)
        self._health(name, polled=True)
        return len(lines)

    def record_csv_import(self, result: Any) -> bool:
        """One 3PL file, in one transaction: its good rows as gradings, the file as imported
        (name + checksum, so the same file again changes nothing), and its bad rows as an
        exception for the warehouse naming each row and why."""
        now = self.now()
        with self.db.session() as s:
            if s.get(ImportedFileRow, (result.name, result.sha256)) is not None:
                return False  # the same file (name and content) again changes nothing
            touched = self.record_graded_lines(s, result.gradings, now)
            s.add(ImportedFileRow(name=result.name, sha256=result.sha256, imported_at=now,
                                  good_rows=len(result.gradings),
                                  bad_rows=len(result.rejects) + (1 if result.error else 0)))
            problems = ([f"file: {result.error}"] if result.error else []) + [
                f"row {r.row}: {r.reason}" for r in result.rejects]
            if problems:
                shown = "; ".join(problems[:20]) + ("; ..." if len(problems) > 20 else "")
                record(s, LedgerEntry(now=now, exceptions_open=[ExceptionDraft(
                    f"file:{result.name}:{result.sha256[:12]}:rejected",
                    f"file:{result.name}", "import_rejected", "warehouse",
                    f"{result.name}: {len(problems)} row(s) not imported: {shown}")]))
            self.replan(s, touched, now)
        return True

    def _has_pending_gradings(self) -> bool:
        with self.db.reader() as s:
            return s.execute(select(PendingGradingRow.source_key).limit(1)).first() is not None

    def record_graded_lines(self, s: Session, lines: Sequence[Any], now: datetime) -> list[str]:
        """GradedLine objects from any feed -> gradings on their returns; those whose return
        is not known yet are kept in pending_gradings and matched on a later round."""
        pending = list(s.execute(select(PendingGradingRow)).scalars())
        found = self.find_return_ids(s, {p.rma for p in pending} | {ln.rma for ln in lines})
        batch: list[tuple[str, str, list[tuple[str, Grading]]]] = []
        for p in pending:
            rid = found.get(p.rma)
            if rid:
                batch.append((rid, p.source_key, [(p.sku, decode(Grading, p.grading))]))
                s.delete(p)
        parked = {p.source_key for p in pending}
        for line in lines:
            key = f"{line.source}:{line.source_ref}"
            rid = found.get(line.rma)
            if rid is not None:
                batch.append((rid, key, [(line.sku, line.to_grading())]))
            elif key not in parked:
                parked.add(key)
                s.add(PendingGradingRow(source_key=key, rma=line.rma, sku=line.sku,
                                        grading=encode(line.to_grading()), received_at=now))
        touched = self._attach_gradings(s, batch, now) if batch else []
        s.flush()
        return touched

    @staticmethod
    def find_return_ids(s: Session, refs: Iterable[str | None]) -> dict[str, str]:
        """Warehouse references -> return ids, by RMA, then platform id, then our id (one
        query per column for all of them)."""
        left = {r for r in refs if r}
        out: dict[str, str] = {}
        t = ReturnRow.__table__
        for column in (t.c.rma, t.c.platform_id, t.c.return_id):
            if not left:
                break
            for ref, rid in s.execute(select(column, t.c.return_id).where(column.in_(left))):
                out.setdefault(ref, rid)
            left -= set(out)
        return out

    # --- decide -------------------------------------------------------------------------------
    def _load(self, s: Session, ids: Sequence[str],
              orders: dict[str, Order | None] | None = None) -> PlanInputs:
        return PlanInputs.load(s, ids, self.systems.commerce_name, decoded=self._decoded,
                               orders=orders)

    def _return_of(self, row: Any, inputs: PlanInputs) -> Return | None:
        """The return as the rules see it: what the platform last said (decoded once per
        facts hash) plus the warehouse's gradings; None before the platform said anything."""
        ret = self._decoded.get(row.facts_hash) if row.facts_hash else None
        if ret is None:
            data = inputs.facts.get(row.return_id)
            if not data:
                return None
            ret = decode(Return, data)
            if row.facts_hash:
                self._remember(row.facts_hash, ret)
        return _with_gradings(ret, row.warehouse_gradings or [])

    def _remember(self, digest: str, ret: Return) -> None:
        if len(self._decoded) >= DECODED_CACHE_LIMIT:
            self._decoded.clear()
        self._decoded[digest] = ret

    def _facts(self, row: Any, inputs: PlanInputs, ret: Return) -> Facts:
        order = inputs.order(ret.order_ref)
        actions = inputs.actions.get(row.return_id, [])
        outcomes = {a.key: _outcome(a) for a in actions}
        holds = inputs.holds.get(row.return_id, [])
        decisions = {h.key: HoldDecision(h.key, Verdict(h.decision), h.decided_by or "",
                                         h.note or "", h.decided_at)
                     for h in holds if h.decision in ("approved", "rejected")}
        excs = inputs.exceptions.get(row.return_id, [])
        # A refund carrying a Returnline key that no action of ours has is unexplained (drift).
        # Refunds made by hand carry no key: rule 3 judges those as "already refunded".
        ours = set(outcomes)
        unexplained = tuple(r for r in (order.refunds if order else ())
                            if r.idempotency_key and r.idempotency_key.startswith(
                                f"rl:{row.return_id}:") and r.idempotency_key not in ours)
        replacements = frozenset(a.external_id for a in actions
                                 if a.kind == "exchange_order" and a.status == "succeeded"
                                 and a.external_id)
        return Facts(
            ret=ret, order=order, order_first_sought_at=row.order_first_sought_at,
            outcomes=outcomes, hold_decisions=decisions,
            resolved_exceptions=frozenset(x.key for x in excs if x.resolved_at is not None
                                          and x.resolved_by != "returnline"),
            open_exceptions=frozenset(x.key for x in excs if x.resolved_at is None),
            open_holds=frozenset(h.key for h in holds if h.decision is None),
            # Only where the platform moves the money does its "completed" mean "refunded".
            platform_refunded=(ret.status is PlatformStatus.COMPLETED
                               and ret.money_mover is MoneyMover.PLATFORM),
            unexplained_refunds=unexplained, our_replacement_orders=replacements)

    def replan(self, s: Session, return_ids: Sequence[str], now: datetime, *,
               orders: dict[str, Order | None] | None = None) -> None:
        """Plan the given returns again from what is stored and write the plans, a chunk of
        returns per read of each table and per ledger write (not a round trip per row).
        `orders`: orders this transaction just stored (no need to read them back)."""
        ids = list(dict.fromkeys(return_ids))
        if not ids:
            return
        mappings = self.mappings(s)
        for i in range(0, len(ids), REPLAN_CHUNK):
            chunk = ids[i:i + REPLAN_CHUNK]
            inputs = self._load(s, chunk, orders)
            entry = LedgerEntry(now=now)
            writes = _PlanWrites()
            for rid in chunk:
                row = inputs.rows.get(rid)
                ret = self._return_of(row, inputs) if row is not None else None
                if ret is None:
                    continue
                facts = self._facts(row, inputs, ret)
                result = rules_plan.plan(facts, self.policy, mappings, now)
                self._plan_into(entry, writes, row, facts, result, now, inputs, mappings)
            record(s, entry)
            writes.write(s)

    def _plan_into(self, entry: LedgerEntry, writes: _PlanWrites, row: Any, facts: Facts,
                   p: Any, now: datetime, inputs: PlanInputs, mappings: Mappings) -> None:
        rid = row.return_id
        existing = {a.key: a for a in inputs.actions.get(rid, [])}
        for a in p.actions:
            system = self.systems.for_target(a.target)
            cur = existing.get(a.key)
            if cur is None:
                entry.actions.append(ActionDraft(a.key, rid, a.kind.value, system, a.payload,
                                                 list(a.depends_on), a.batchable))
            elif cur.payload != a.payload and cur.status in ("ready", "waiting", "in_flight") \
                    and cur.attempts == 0 and not cur.outcome_unknown:
                # Not sent yet and the facts moved (an edited order): send what is true now.
                writes.actions.append({"key": cur.key, "payload": a.payload, "updated_at": now})
        for c in p.actions_cancel:
            cur = existing.get(c.key)
            if cur is not None and cur.status in ("ready", "waiting", "failed", "in_flight") \
                    and cur.attempts == 0 and not cur.outcome_unknown:
                writes.actions.append({"key": cur.key, "status": "cancelled", "updated_at": now,
                                       "lease_owner": None, "lease_expires_at": None})
                entry.events.append(EventDraft(f"{c.key}:cancelled", rid, now, "returnline",
                                               "decision", f"{_kind_label(cur.kind)} cancelled "
                                               f"before it was sent: {c.why}"))
        for h in p.holds:
            entry.holds_open.append(HoldDraft(h.key, rid, h.kind.value, h.why,
                                              h.amount.minor if h.amount else None,
                                              h.amount.currency if h.amount else None))
        entry.holds_release.update({c.key: c.why for c in p.holds_release})
        for x in p.exceptions_open:
            entry.exceptions_open.append(ExceptionDraft(x.key, rid, x.type.value, x.owner,
                                                        x.message, x.due_at))
        entry.exceptions_close.update({c.key: c.why for c in p.exceptions_close})
        for text in p.decisions:
            entry.events.append(EventDraft(f"{rid}:decision:{fingerprint_encoded(text)}", rid, now,
                                           "returnline", "decision", text))
        if p.state.value != row.state:
            entry.events.append(EventDraft(
                f"{rid}:state:{row.state}->{p.state.value}:{_fingerprint(facts.ret, row)[:8]}",
                rid, now, "returnline", "state", f"State: {row.state} -> {p.state.value}"))
        writes.lines.extend(_line_facts(inputs.lines.get(rid, []), facts, mappings))
        writes.returns.append({
            "return_id": rid,
            "currency": row.currency if row.currency is not None or facts.order is None
            else facts.order.currency,
            "state": p.state.value,
            "value_minor": p.value.minor if p.value else row.value_minor,
            "graded_at": p.graded_at or row.graded_at,
            "wake_at": p.wake_at,
            "closed_at": row.closed_at if row.closed_at is not None or p.state is not State.CLOSED
            else now,
            "updated_at": now})

    def next_wake(self) -> datetime | None:
        if self._wake_cache is not None and self._wake_cache[0] == self.db.generation:
            return self._wake_cache[1]
        with self.db.reader() as s:
            value = s.execute(select(func.min(ReturnRow.wake_at))).scalar()
        self._wake_cache = (self.db.generation, value)
        return value

    # --- sweeps -----------------------------------------------------------------------------------
    def sweep(self) -> int:
        """Re-plan returns whose time has come (SLA windows, bounded order waits), and look
        again for orders not visible yet."""
        now = self.now()
        with self.db.session() as s:
            due = list(s.execute(select(ReturnRow.return_id, ReturnRow.order_ref, ReturnRow.state)
                                 .where(ReturnRow.wake_at.is_not(None), ReturnRow.wake_at <= now)))
        waiting_orders = {ref for _, ref, state in due if state == State.AWAITING_ORDER.value}
        orders = self._fetch_orders(waiting_orders) if waiting_orders else {}
        with self.db.session() as s:
            self._store_orders(s, orders, now)
            self.replan(s, [rid for rid, _, _ in due], now, orders=orders)
        return len(due)


# --- helpers ------------------------------------------------------------------------------------
@dataclass
class _PlanWrites:
    """What a chunk of plans changes in rows that already exist, written in bulk."""

    returns: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def write(self, s: Session) -> None:
        update_by_key(s, ReturnRow, self.returns, ["return_id"])
        update_by_key(s, ReturnLineRow, self.lines, ["return_id", "line_id"])
        update_by_key(s, ActionRow, self.actions, ["key"])


def _fingerprint(ret: Return, row: Any) -> str:
    """The return's fingerprint; without warehouse gradings it is the stored facts hash."""
    if not row.warehouse_gradings and row.facts_hash:
        return row.facts_hash
    return fingerprint_encoded(encode(ret))


def _line_facts(line_rows: list[Any], facts: Facts, mappings: Mappings) -> list[dict[str, Any]]:
    """What people search and group by: each line's mapped reason, grade and disposition
    (only the lines where one of them changed)."""
    rows = {r.line_id: r for r in line_rows}
    out = []
    for line in facts.ret.lines:
        row = rows.get(line.line_id)
        if row is None:
            continue
        code = mappings.map_reason(line, facts.ret.platform)
        condition = line.gradings[-1].condition if line.gradings else None
        values = (code, condition.value if condition else None,
                  mappings.disposition(condition).value if condition else None)
        if (row.reason_code, row.condition, row.disposition) != values:
            out.append({"return_id": row.return_id, "line_id": row.line_id,
                        "reason_code": values[0], "condition": values[1],
                        "disposition": values[2]})
    return out


def _outcome(a: ActionRow) -> ActionOutcome:
    """The money an action moved is what the system reported (the connector may re-price a
    refund against the order as it is at that moment), else what was planned."""
    amount = planned = None
    payload = a.payload or {}
    if a.kind in ("refund", "approve_platform_return"):
        planned = payload.get("amount")
        planned = _payload_money(planned) if isinstance(planned, dict) else None
        reported = (a.result or {}).get("amount") if a.status == "succeeded" else None
        amount = _payload_money(reported) if isinstance(reported, dict) else planned
    elif a.kind == "credit_note" and a.status == "succeeded":
        booked = a.result or {}  # the ERP's own total, so a memo that differs is seen
        if isinstance(booked.get("amount"), str) and booked.get("currency"):
            amount = Money.parse(booked["amount"], booked["currency"])
    return ActionOutcome(a.key, _STATUS.get(a.status, ActionStatus.PENDING), a.external_id,
                         amount=amount, planned_amount=planned, error=a.last_error or "")


def _payload_money(d: dict[str, Any]) -> Money:
    if "minor" in d:
        return Money(int(d["minor"]), d["currency"])
    return Money.from_json(d)


def return_with_gradings(row: ReturnRow) -> Return:
    """A return as the rules see it: what the platform said plus the warehouse's gradings."""
    return _with_gradings(decode(Return, row.facts), row.warehouse_gradings or [])


def _with_gradings(ret: Return, graded: list[dict[str, Any]]) -> Return:
    """Platform facts plus warehouse gradings, attached to the lines by SKU in line order."""
    if not graded:
        return ret
    lines = list(ret.lines)
    for g in graded:
        grading = decode(Grading, g["grading"])
        remaining = grading.qty
        for i, line in enumerate(lines):
            if line.sku != g["sku"] or remaining <= 0:
                continue
            room = line.qty - line.qty_graded
            if room <= 0:
                continue
            take = min(room, remaining)
            lines[i] = replace(line, gradings=(*line.gradings, replace(grading, qty=take)),
                               qty_received=max(line.qty_received, line.qty_graded + take))
            remaining -= take
    return replace(ret, lines=tuple(lines))


def _planned_by_rules(return_id: str, key: str) -> bool:
    return key.startswith(f"rl:{return_id}:")


def _kind_label(kind: str) -> str:
    try:
        return ActionKind(kind).value.replace("_", " ").capitalize()
    except ValueError:
        return kind


def _label_of(raw: dict[str, Any]) -> str | None:
    label = raw.get("_label") if isinstance(raw, dict) else None
    return label if isinstance(label, str) else None


def _describe_return(ret: Return, previous: ReturnRow | None) -> str:
    units = sum(line.qty for line in ret.lines)
    if previous is None:
        return (f"Return {ret.rma or ret.platform_id} requested on {ret.platform} for order "
                f"{ret.order_ref}: {units} item(s)")
    return f"{ret.platform} says {ret.raw_status or ret.status.value}"


def timedelta_seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def known_return(db: Database):
    """What Returnline last recorded of a platform return, so connectors fetch only changes."""
    cache: dict[tuple[str, str], Return] = {}

    def known(platform_id: str):
        with db.reader() as s:
            row = s.execute(select(ReturnRow.facts_hash, ReturnRow.facts).where(
                ReturnRow.platform_id == platform_id)).first()
        if row is None or not row.facts:
            return None
        key = (platform_id, row.facts_hash or "")
        if key not in cache:
            cache[key] = decode(Return, row.facts)
        return cache[key]
    return known
