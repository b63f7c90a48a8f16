"""The outbox executor: performs each planned action exactly once in its external system.

One attempt goes: claim under a lease (committed) -> ask the system's rate limiter -> if the
last attempt's outcome is unknown, look the effect up by its idempotency key -> call the
connector -> record the outcome and the timeline event in one transaction. The returns a
claimed batch touched are re-planned once, at the end of the batch.
No database transaction is open while a request is in flight.

Failures: transient ones retry with exponential backoff and jitter (deterministic per key and
attempt, so replays repeat), never sooner than the server's Retry-After; after the retry
budget, or at once for a refusal, the action is dead and an exception opens for its owner.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session

from rules.lifecycle import ActionKind
from rules.money import Money
from rules.outputs import failure_key
from storage import outbox
from storage.codec import decode
from storage.db import Database
from storage.ledger import EventDraft, ExceptionDraft, LedgerEntry, record
from storage.tables import ActionRow, OrderSnapshotRow, ReturnRow
from sync.connectors.base import (
    AuthError,
    ConflictError,
    ConnectorError,
    CreditNoteRequest,
    Effect,
    ExchangeRequest,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RefundLineRequest,
    RefundRequest,
    StockMovement,
    TransientError,
)

log = logging.getLogger("returnline.executor")

STOCK_KINDS = ("restock", "quarantine")
HELD_BEFORE_SENDING = "COST_BUCKET"  # Shopify's connector: waited for its cost bucket, sent nothing
LEASE_LOST = "lease lost; another worker owns it"

# The exception an action opens when it gives up. `action_failed` extends the contract's
# list for actions that move no money or stock (return records, tags, comments).
def failure_of(action: ActionRow) -> tuple[str, str]:
    """The exception key and type for an action that finally failed: the rules' own key, so
    the executor and the re-plan speak of one problem and one resolution settles it."""
    try:
        kind = ActionKind(action.kind)
    except ValueError:  # not a rules action (a comment on the platform): a key of its own
        return f"{action.key}:failed", "action_failed"
    return failure_key(action.return_id, action.key, kind), kind.failure.value


@dataclass
class RetryPolicy:
    # 12 attempts with doubling waits capped at an hour span about four hours: long enough to
    # ride out an outage, short enough that a person hears of it the same shift.
    max_attempts: int = 12
    base_seconds: float = 10.0
    cap_seconds: float = 3600.0

    def delay(self, key: str, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        jitter = random.Random(f"{key}:{attempt}").uniform(0.5, 1.0)  # noqa: S311 - not crypto
        return max(backoff * jitter, retry_after or 0.0)


class Runtime(Protocol):
    """What the executor needs from its surroundings (engine, replay, demo, tests)."""

    db: Database

    def now(self) -> datetime: ...
    def connector(self, system: str) -> Any: ...
    def limits(self, system: str) -> Any: ...
    def cost(self, system: str, kind: str, batch: int = 1) -> float: ...
    def owner(self, exception_type: str) -> str: ...
    def replan(self, session: Session, return_ids: Sequence[str], now: datetime) -> Any: ...
    def prepare(self, action: ActionRow) -> ActionRow | None: ...


@dataclass
class Outcome:
    key: str
    ok: bool
    summary: str


class Executor:
    def __init__(self, runtime: Runtime, worker: str = "worker-1", *,
                 lease: timedelta = timedelta(minutes=2), retry: RetryPolicy | None = None,
                 stock_batch_size: int = 250) -> None:
        self.rt = runtime
        self.worker = worker
        self.lease = lease
        self.retry = retry or RetryPolicy()
        self.stock_batch_size = stock_batch_size  # a connector's `max_stock_batch` may lower it
        self._held_until: dict[str, datetime] = {}  # system -> when its limiter allows again
        # Points a stock batch held back by the bucket needs: the outbox leaves them, so a
        # backlog of refunds does not take every point of a shared bucket, tick after tick.
        self._stock_reserve: dict[str, float] = {}
        self._next_due_cache: dict[bool, tuple[int, datetime | None]] = {}
        # Per thread (the outbox and stock jobs may drain at once): the returns whose
        # actions had an outcome in the running batch, re-planned once at its end.
        self._batch = threading.local()

    # --- entry points -----------------------------------------------------------------------
    def drain(self, *, include_stock: bool = False, max_rounds: int = 1000) -> list[Outcome]:
        """Run every action due now (stock movements only when `include_stock`).

        Once a system's rate limit says "not yet", its other claimed actions are handed back
        in one go and it is not claimed from again in this drain: a bucket that is empty now
        is asked again when the scheduler next runs, not once per waiting action."""
        kinds_excluded = [] if include_stock else list(STOCK_KINDS)
        outcomes: list[Outcome] = []
        self._held_until = {}
        for _ in range(max_rounds):
            now = self.rt.now()
            with self.rt.db.session() as s:
                claimed = outbox.claim_actions(s, self.worker, now, limit=50, lease=self.lease,
                                               exclude_kinds=kinds_excluded,
                                               exclude_systems=sorted(self._held_until))
            if not claimed:
                break
            outcomes.extend(self._run_claimed(claimed))
        return outcomes

    def drain_stock(self) -> list[Outcome]:
        """The stock batch job: every due movement, as few calls per system as allowed."""
        now = self.rt.now()
        self._held_until = {}
        self._stock_reserve = {}
        with self.rt.db.session() as s:
            claimed = outbox.claim_actions(s, self.worker, now, limit=10_000, lease=self.lease,
                                           kinds=list(STOCK_KINDS))
        return self._run_claimed(claimed)

    def next_due(self, *, stock: bool) -> datetime | None:
        """For the simulated scheduler: when this drain could next find work (cached until
        the database is next written)."""
        cached = self._next_due_cache.get(stock)
        if cached is not None and cached[0] == self.rt.db.generation:
            return cached[1]
        with self.rt.db.reader() as s:
            if stock:
                value = outbox.next_due(s, kinds=list(STOCK_KINDS))
            else:
                value = outbox.next_due(s, exclude_kinds=list(STOCK_KINDS))
        self._next_due_cache[stock] = (self.rt.db.generation, value)
        return value

    # --- one batch of claimed actions -------------------------------------------------------
    def _run_claimed(self, claimed: list[ActionRow]) -> list[Outcome]:
        """Run a claimed batch, then re-plan each return it touched once (not once per
        outcome: planning is repeatable, and a money action's `prepare` re-plans first)."""
        self._batch.replan = {}
        try:
            return self._run_batch(claimed)
        finally:
            self._flush_replans()

    def _to_replan(self, return_ids: Sequence[str]) -> None:
        self._batch.replan.update(dict.fromkeys(return_ids))

    def _flush_replans(self) -> None:
        ids, self._batch.replan = list(self._batch.replan), {}
        if ids:
            with self.rt.db.session() as s:
                self.rt.replan(s, ids, self.rt.now())

    def _run_batch(self, claimed: list[ActionRow]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        stock: dict[str, list[ActionRow]] = defaultdict(list)
        held: dict[str, list[ActionRow]] = defaultdict(list)
        for action in claimed:
            if action.system in self._held_until:
                held[action.system].append(action)  # its system said "not yet": hand back
            elif action.kind in STOCK_KINDS:
                stock[action.system].append(action)
            else:
                outcomes.append(self._run_one(action))
        for system, actions in stock.items():
            size = self._stock_batch_size(system)
            for i in range(0, len(actions), size):
                chunk = actions[i:i + size]
                if system in self._held_until:
                    held[system].extend(chunk)
                else:
                    outcomes.extend(self._run_stock_batch(system, chunk))
        for system, actions in held.items():
            outcomes.extend(self._hand_back(system, actions))
        return outcomes

    def _stock_batch_size(self, system: str) -> int:
        """As many movements per call as the system's API takes (Shopify: 250 per input)."""
        limit = getattr(self.rt.connector(system), "max_stock_batch", None)
        return min(self.stock_batch_size, int(limit)) if limit else self.stock_batch_size

    def _hold(self, system: str, until: datetime) -> None:
        current = self._held_until.get(system)
        self._held_until[system] = until if current is None else min(current, until)

    def _hand_back(self, system: str, actions: list[ActionRow]) -> list[Outcome]:
        """Give claimed actions back unattempted, each due when the limiter can pay for it
        (one transaction for all of them)."""
        now = self.rt.now()
        limits = self.rt.limits(system)
        with self.rt.db.session() as s:
            for a in actions:
                wait = limits.delay_for(now, self._cost_of(a))
                until = max(self._held_until[system], now + timedelta(seconds=wait))
                outbox.defer_action(s, a.key, self.worker, until, now)
        return [Outcome(a.key, False, "deferred by rate limit") for a in actions]

    def _cost_of(self, action: ActionRow) -> float:
        if action.kind in STOCK_KINDS:
            return self.rt.cost(action.system, action.kind, batch=1)
        return self.rt.cost(action.system, action.kind)

    def _rate_limited(self, actions: list[ActionRow], system: str, cost: float) -> bool:
        now = self.rt.now()
        wait = self.rt.limits(system).delay_for(now, cost)
        if wait <= 0:
            return False
        until = now + timedelta(seconds=wait)
        self._hold(system, until)
        with self.rt.db.session() as s:
            for a in actions:
                outbox.defer_action(s, a.key, self.worker, until, now)
        return True

    def _run_one(self, action: ActionRow) -> Outcome:
        cost = self.rt.cost(action.system, action.kind)
        reserve = self._stock_reserve.get(action.system, 0.0)
        if self._rate_limited([action], action.system, cost + reserve):
            return Outcome(action.key, False, "deferred by rate limit")
        handler = HANDLERS.get(action.kind)
        if handler is None:
            return self._give_up(action, PermanentError(f"no handler for {action.kind!r}"))
        connector = self.rt.connector(action.system)
        sent = False
        try:
            prepared = self.rt.prepare(action)
            if prepared is None:
                return Outcome(action.key, False, "no longer needed")
            action = prepared
            effect = None
            if action.outcome_unknown or action.attempts > 0:
                effect = handler.lookup(self, connector, action)
            if effect is None:
                with self.rt.db.session() as s:
                    if not outbox.mark_sent(s, action.key, self.worker, self.rt.now()):
                        return Outcome(action.key, False, LEASE_LOST)
                self.rt.limits(action.system).record(self.rt.now(), cost)
                sent = True
                effect = handler.call(self, connector, action)
        except ConnectorError as exc:
            # Held back by the bucket while preparing (the order re-read) or looking up:
            # nothing was counted yet, so nothing is given back.
            return self._failed(action, exc, counted=sent)
        except (KeyError, TypeError, ValueError) as exc:
            # A payload we cannot turn into a request: keep it, say why, let a person look.
            return self._give_up(action, PermanentError(
                f"cannot build the {action.kind} request: {type(exc).__name__}: {exc}"))
        return self._succeeded(action, effect)

    def _run_stock_batch(self, system: str, actions: list[ActionRow]) -> list[Outcome]:
        cost = self.rt.cost(system, "restock", batch=len(actions))
        if self._rate_limited(actions, system, cost):
            self._stock_reserve[system] = self._stock_reserve.get(system, 0.0) + cost
            return [Outcome(a.key, False, "deferred by rate limit") for a in actions]
        connector = self.rt.connector(system)
        outcomes: list[Outcome] = []
        fresh: list[ActionRow] = []
        resend: dict[tuple[str, ...], list[ActionRow]] = {}
        for action in actions:  # anything that may already have happened is looked up first
            if action.outcome_unknown or action.attempts > 0:
                try:
                    found = connector.find_stock_movement(action.key)
                except ConnectorError as exc:
                    outcomes.append(self._failed(action, exc))
                    continue
                if found is not None:
                    outcomes.append(self._succeeded(action, found))
                    continue
                batch = (action.result or {}).get("batch")
                if action.outcome_unknown and batch:
                    # Not findable (Shopify keeps no adjustment history): send exactly the
                    # batch that may have gone, so its idempotency key makes a repeat a no-op.
                    resend.setdefault(tuple(batch), []).append(action)
                    continue
            fresh.append(action)
        for batch, held in resend.items():
            outcomes.extend(self._send_stock(system, connector, held, batch))
        for i in range(0, len(fresh), self.stock_batch_size):
            chunk = fresh[i:i + self.stock_batch_size]
            outcomes.extend(self._send_stock(system, connector, chunk,
                                             tuple(sorted(a.key for a in chunk))))
        return outcomes

    def _send_stock(self, system: str, connector: Any, held: list[ActionRow],
                    batch: tuple[str, ...]) -> list[Outcome]:
        """One stock call for `batch` (the keys of every movement in it); `held` are the
        actions of it this worker holds and records."""
        outcomes: list[Outcome] = []
        members: dict[str, ActionRow] = {a.key: a for a in held}
        if len(members) < len(batch):
            with self.rt.db.reader() as s:
                for key in batch:
                    if key not in members and (row := s.get(ActionRow, key)) is not None:
                        members[key] = row
        movements: list[StockMovement] = []
        for key in batch:
            try:
                movements.append(_movement(members[key]))
            except (KeyError, TypeError, ValueError) as exc:
                if key in {a.key for a in held}:
                    outcomes.append(self._give_up(members[key], PermanentError(
                        f"cannot build the stock movement: {type(exc).__name__}: {exc}")))
                held = [a for a in held if a.key != key]
        if not held:
            return outcomes
        self.rt.limits(system).record(self.rt.now(), self.rt.cost(system, "restock", len(batch)))
        with self.rt.db.session() as s:
            for a in held:
                outbox.mark_sent(s, a.key, self.worker, self.rt.now(),
                                 batch=[m.key for m in movements])
        try:
            effects = dict(zip([m.key for m in movements], connector.move_stock(movements),
                               strict=True))
        except PermanentError as exc:
            applied = _applied_effects(exc, movements)
            if applied is None:
                return outcomes + [self._failed(a, exc) for a in held]
            return outcomes + [self._succeeded(a, applied[a.key]) if a.key in applied
                               else self._give_up(a, exc) for a in held]
        except ConnectorError as exc:
            return outcomes + [self._failed(a, exc) for a in held]
        return outcomes + self._succeeded_all([(a, effects[a.key]) for a in held])

    # --- recording outcomes -----------------------------------------------------------------
    def _succeeded(self, action: ActionRow, effect: Effect) -> Outcome:
        return self._succeeded_all([(action, effect)])[0]

    def _succeeded_all(self, done: list[tuple[ActionRow, Effect]]) -> list[Outcome]:
        """Record effects that exist, in one transaction (a stock batch: hundreds of them);
        their returns are re-planned at the end of the batch."""
        now = self.rt.now()
        outcomes: list[Outcome] = []
        touched: list[str] = []
        with self.rt.db.session() as s:
            entry = LedgerEntry(now=now)
            for action, effect in done:
                if not outbox.complete_action(s, action.key, self.worker, now,
                                              external_id=effect.external_id,
                                              result=json.loads(json.dumps(effect.data,
                                                                           default=str))):
                    outcomes.append(Outcome(action.key, False, LEASE_LOST))
                    continue
                entry.events.append(EventDraft(
                    f"{action.key}:done", action.return_id, now, action.system, "action",
                    effect.summary, {"key": action.key, "kind": action.kind,
                                     "external_id": effect.external_id}))
                # A retried action that now worked closes the exception it had opened.
                entry.exceptions_close[failure_of(action)[0]] = "succeeded on retry"
                touched.append(action.return_id)
                outcomes.append(Outcome(action.key, True, effect.summary))
            if touched:
                entry.replan_due.update(touched)
                record(s, entry)
        self._to_replan(touched)
        return outcomes

    def _failed(self, action: ActionRow, exc: ConnectorError, *, counted: bool = True) -> Outcome:
        """`counted`: the attempt was already counted as sent (mark_sent) when it failed."""
        if isinstance(exc, RateLimited) and exc.code == HELD_BEFORE_SENDING:
            # The connector's own bucket said "not yet" before anything left: no attempt spent.
            now = self.rt.now()
            until = now + timedelta(seconds=exc.retry_after or 1.0)
            self._hold(action.system, until)
            with self.rt.db.session() as s:
                outbox.defer_action(s, action.key, self.worker, until, now, uncount=counted)
            return Outcome(action.key, False, "deferred by rate limit")
        if isinstance(exc, AuthError | PermanentError) and not isinstance(exc, ConflictError):
            return self._give_up(action, exc)
        attempts = action.attempts + 1
        if attempts >= self.retry.max_attempts:
            return self._give_up(action, exc)
        now = self.rt.now()
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(exc, RateLimited) and retry_after:
            self.rt.limits(action.system).pause.pause(now, retry_after)
        delay = 1.0 if isinstance(exc, ConflictError) else self.retry.delay(action.key, attempts,
                                                                              retry_after)
        retry_at = now + timedelta(seconds=delay)
        unknown = isinstance(exc, OutcomeUnknown) or action.outcome_unknown
        with self.rt.db.session() as s:
            outbox.fail_action(s, action.key, self.worker, now, error=exc.message,
                               code=exc.code or type(exc).__name__, retry_at=retry_at,
                               outcome_unknown=unknown,
                               call=_call(exc))
            record(s, LedgerEntry(now=now, events=[EventDraft(
                f"{action.key}:attempt:{attempts}", action.return_id, now, action.system,
                "action", f"{_label(action.kind)} attempt {attempts} failed: {exc.message}; "
                f"retrying at {retry_at:%H:%M:%S}", {"key": action.key, "unknown": unknown})]))
        return Outcome(action.key, False, exc.message)

    def _give_up(self, action: ActionRow, exc: ConnectorError) -> Outcome:
        now = self.rt.now()
        failed_key, exc_type = failure_of(action)
        owner = "engineering" if isinstance(exc, AuthError) else self.rt.owner(exc_type)
        with self.rt.db.session() as s:
            outbox.fail_action(s, action.key, self.worker, now, error=exc.message,
                               code=exc.code or type(exc).__name__, retry_at=None,
                               outcome_unknown=action.outcome_unknown or isinstance(exc, OutcomeUnknown),
                               call=_call(exc))
            record(s, LedgerEntry(
                now=now,
                events=[EventDraft(f"{action.key}:dead:{action.attempts + 1}", action.return_id,
                                   now, action.system, "action",
                                   f"{_label(action.kind)} failed: {exc.message}",
                                   {"key": action.key})],
                exceptions_open=[ExceptionDraft(
                    failed_key, action.return_id, exc_type, owner,
                    f"{_label(action.kind)} in {action.system} failed: {exc.message}")],
                replan_due={action.return_id}))
        self._to_replan([action.return_id])
        return Outcome(action.key, False, exc.message)


def _applied_effects(exc: ConnectorError, movements: list[StockMovement]) -> dict | None:
    """Of a partly refused batch, the movements that were applied (by key), if it says."""
    effects = getattr(exc, "effects", None)  # Shopify: {key: Effect}
    if isinstance(effects, dict):
        return effects
    refused = getattr(exc, "refused", None)  # commercetools: refused keys + applied effects
    applied = getattr(exc, "applied", None)
    if isinstance(refused, list) and isinstance(applied, list):
        done = [m.key for m in movements if m.key not in set(refused)]
        return dict(zip(done, applied, strict=False))
    return None


def _call(exc: ConnectorError) -> dict[str, Any] | None:
    """The last attempt's request/response, JSON-safe (Decimals and bytes become text)."""
    if exc.call is None:
        return None
    return json.loads(json.dumps(exc.call.as_dict(), default=str))


def _label(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


# --- per-kind request building ----------------------------------------------------------------
def _money(d: dict[str, Any]) -> Money:
    return Money.from_json(d)


def _movement(a: ActionRow) -> StockMovement:
    p = a.payload or {}
    return StockMovement(key=a.key, return_id=a.return_id, sku=p["sku"],
                         location_id=p["location_id"], delta=int(p["delta"]),
                         sellable=bool(p.get("sellable", a.kind == "restock")))


def _lines(p: dict[str, Any]) -> tuple[RefundLineRequest, ...]:
    return tuple(RefundLineRequest(line_ref=line.get("line_ref") or "", sku=line["sku"],
                                   qty=int(line["qty"]), amount=_money(line["amount"]))
                 for line in p.get("lines", []))


def load_return(s: Session, return_id: str):
    """The return with the warehouse's gradings on its lines (what the rules decided on)."""
    from sync.engine import return_with_gradings

    row = s.get(ReturnRow, return_id)
    return return_with_gradings(row) if row and row.facts else None


def load_order(s: Session, commerce: str | None, order_ref: str):
    """The order as last seen in `commerce` (None: in whichever commerce system has it)."""
    from rules.model import Order

    if commerce is None:
        row = s.execute(select(OrderSnapshotRow).where(OrderSnapshotRow.order_ref == order_ref)
                        .order_by(OrderSnapshotRow.seen_at.desc())).scalars().first()
    else:
        row = s.get(OrderSnapshotRow, (commerce, order_ref))
    return decode(Order, row.snapshot) if row and row.snapshot else None


class Handler:
    def call(self, ex: Executor, connector: Any, a: ActionRow) -> Effect:
        raise NotImplementedError

    def lookup(self, ex: Executor, connector: Any, a: ActionRow) -> Effect | None:
        return None  # resending is harmless for this kind


class RefundHandler(Handler):
    def request(self, a: ActionRow) -> RefundRequest:
        p = a.payload or {}
        amount = _money(p["amount"])
        return RefundRequest(key=a.key, return_id=a.return_id, order_ref=p["order_ref"],
                             amount=amount, lines=_lines(p), note=p.get("note", ""))

    def call(self, ex, connector, a):
        return connector.refund(self.request(a))

    def lookup(self, ex, connector, a):
        return connector.find_refund((a.payload or {})["order_ref"], a.key)


class CreditNoteHandler(Handler):
    def call(self, ex, connector, a):
        p = a.payload or {}
        amount = _money(p["amount"])
        reference = p.get("refund_reference")
        if not reference:
            with ex.rt.db.reader() as s:
                refund = s.get(ActionRow, p["refund_key"])
                reference = (refund.external_id if refund else None) or p["refund_key"]
        return connector.create_credit_note(CreditNoteRequest(
            key=a.key, return_id=a.return_id, order_ref=p["order_ref"],
            refund_key=p["refund_key"], refund_reference=reference, amount=amount,
            lines=_lines(p), location_id=p.get("location_id")))

    def lookup(self, ex, connector, a):
        return connector.find_credit_note(a.key)


class ExchangeHandler(Handler):
    def call(self, ex, connector, a):
        p = a.payload or {}
        return connector.create_exchange_order(ExchangeRequest(
            key=a.key, return_id=a.return_id, order_ref=p["order_ref"],
            skus=tuple((line["sku"], int(line["qty"])) for line in p["lines"]),
            note=p.get("note", "")))

    def lookup(self, ex, connector, a):
        return connector.find_exchange_order((a.payload or {})["order_ref"], a.key)


class ReturnRecordHandler(Handler):
    def call(self, ex, connector, a):
        p = a.payload or {}
        with ex.rt.db.reader() as s:
            ret = load_return(s, a.return_id)
            order = load_order(s, a.system, p["order_ref"])
        if ret is None or order is None:
            raise TransientError("return or order not recorded yet")
        return connector.create_return_record(a.key, ret, order)


class ReturnAuthorisationHandler(Handler):
    """The ERP's record of a validated return, for the lines and values the rules planned.
    Its external id is the action key, so a lost answer is looked up before any resend."""

    def call(self, ex, connector, a):
        p = a.payload or {}
        with ex.rt.db.reader() as s:
            ret = load_return(s, a.return_id)
            order = load_order(s, None, p["order_ref"])
        if ret is None or order is None:
            raise TransientError("return or order not recorded yet")
        amounts = {line["line_id"]: _money(line["amount"]) for line in p.get("lines", [])}
        ret = replace(ret, lines=tuple(ln for ln in ret.lines if ln.line_id in amounts))
        if not ret.lines:
            raise PermanentError(f"return {a.return_id} no longer has the lines "
                                 f"{sorted(amounts)} to authorise")
        return connector.create_return_authorisation(a.key, ret, order, amounts=amounts)

    def lookup(self, ex, connector, a):
        return connector.find_return_authorisation(a.key)


class TagHandler(Handler):
    def call(self, ex, connector, a):
        p = a.payload or {}
        with ex.rt.db.reader() as s:
            order = load_order(s, a.system, p["order_ref"])
        if order is None:
            raise TransientError("order not recorded yet")
        return connector.tag_order(a.key, order, p.get("tags", []), p.get("note", ""))


class ApproveHandler(Handler):
    def _ret(self, ex, a):
        with ex.rt.db.reader() as s:
            ret = load_return(s, a.return_id)
        if ret is None:
            raise PermanentError(f"return {a.return_id} has no recorded facts")
        return ret

    def call(self, ex, connector, a):
        return connector.approve(a.key, self._ret(ex, a))

    def lookup(self, ex, connector, a):
        return connector.find_approval(self._ret(ex, a))


class CommentHandler(Handler):
    def call(self, ex, connector, a):
        with ex.rt.db.reader() as s:
            ret = load_return(s, a.return_id)
        return connector.post_comment(a.key, ret, (a.payload or {}).get("text", ""))

    def lookup(self, ex, connector, a):
        # A comment carries its key; a second copy on the platform's timeline is a duplicate.
        find = getattr(connector, "find_comment", None)
        if find is None:
            return None
        with ex.rt.db.reader() as s:
            ret = load_return(s, a.return_id)
        return find(ret, a.key) if ret is not None else None


HANDLERS: dict[str, Handler] = {
    "refund": RefundHandler(),
    "credit_note": CreditNoteHandler(),
    "exchange_order": ExchangeHandler(),
    "create_return_record": ReturnRecordHandler(),
    "return_authorisation": ReturnAuthorisationHandler(),
    "tag_order": TagHandler(),
    "approve_platform_return": ApproveHandler(),
    "comment": CommentHandler(),
}

Clock = Callable[[], datetime]
