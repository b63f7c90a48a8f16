"""Month-end (and nightly) reconciliation: per return, the refunds in commerce, the credit notes
in the ERP and the stock movements, against what the rules expected.

Read from the external systems themselves (their truth), compared with our outbox. What does
not match becomes an exception for finance: `amount_mismatch` (the money differs between
refund, credit note and plan) or `drift` (money moved that no action of ours explains, or an
action we think happened is not there). Their keys start `recon:` so re-planning never closes
them by itself: a person looks.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rules.money import Money
from storage.ledger import ExceptionDraft, LedgerEntry, record
from storage.tables import ActionRow, ReturnRow
from sync.connectors.base import ConnectorError

REFUND_KINDS = ("refund", "approve_platform_return")
STOCK_KINDS = ("restock", "quarantine")


@dataclass
class ReconRow:
    return_id: str
    order_ref: str
    currency: str
    refund_expected: str = "0"  # what our succeeded refund actions say moved
    refund_in_commerce: str = "0"  # what commerce shows for this return (by our key)
    credit_note_in_erp: str = "0"
    stock_expected: int = 0  # units our succeeded stock actions moved
    stock_found: int = 0  # of those, confirmed in the commerce system's own records
    problems: list[str] = field(default_factory=list)
    # What could not be checked (a system unreadable now): neither ok nor a mismatch, and
    # never an exception; run it again later.
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unchecked

    @property
    def status(self) -> str:
        return "MISMATCH" if self.problems else "UNCHECKED" if self.unchecked else "ok"


@dataclass
class ReconReport:
    since: datetime
    until: datetime
    rows: list[ReconRow]
    errors: list[str] = field(default_factory=list)  # systems that could not be read

    @property
    def mismatches(self) -> list[ReconRow]:
        return [r for r in self.rows if r.problems]

    @property
    def unchecked(self) -> list[ReconRow]:
        return [r for r in self.rows if r.unchecked and not r.problems]

    def as_json(self) -> dict[str, Any]:
        return {"from": self.since.isoformat(), "to": self.until.isoformat(),
                "returns": len(self.rows), "mismatches": len(self.mismatches),
                "unchecked": len(self.unchecked),
                "errors": self.errors, "rows": [asdict(r) for r in self.rows]}

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["return", "order", "currency", "refund_expected", "refund_in_commerce",
                        "credit_note_in_erp", "stock_expected", "stock_found", "status",
                        "problems"])
            for r in self.rows:
                w.writerow([r.return_id, r.order_ref, r.currency, r.refund_expected,
                            r.refund_in_commerce, r.credit_note_in_erp, r.stock_expected,
                            r.stock_found, r.status, "; ".join(r.problems + r.unchecked)])


def period(day_from: date, day_to: date) -> tuple[datetime, datetime]:
    """[from 00:00 UTC, the day after `to` 00:00 UTC)."""
    return (datetime.combine(day_from, time.min, tzinfo=UTC),
            datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC))


def reconcile(engine: Any, since: datetime, until: datetime, *, open_exceptions: bool = True,
              progress: Callable[[int, int], Any] | None = None) -> ReconReport:
    """Returns with money or stock actions that landed in [since, until). `progress(done,
    total)` is called after each return is checked (the console shows it)."""
    systems = engine.systems
    with engine.db.reader() as s:
        actions = list(s.execute(select(ActionRow).where(
            ActionRow.status == "succeeded", ActionRow.updated_at >= since,
            ActionRow.updated_at < until)).scalars())
        ids = sorted({a.return_id for a in actions})
        returns = {r.return_id: r for r in s.execute(
            select(ReturnRow).where(ReturnRow.return_id.in_(ids))).scalars()}
        all_actions = list(s.execute(select(ActionRow).where(
            ActionRow.return_id.in_(ids))).scalars())
    by_return: dict[str, list[ActionRow]] = defaultdict(list)
    for a in all_actions:
        by_return[a.return_id].append(a)

    errors: list[str] = []
    notes_by_return: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if systems.erp is not None:
        try:  # credit notes may be booked a little after the refund: look a day further
            for cn in systems.erp.list_credit_notes(since, until + timedelta(days=1)):
                if cn.get("return"):
                    notes_by_return[cn["return"]].append(cn)
        except ConnectorError as exc:
            errors.append(f"{systems.erp_name}: {exc.message}")

    rows: list[ReconRow] = []
    orders: dict[str, Any] = {}
    for done, rid in enumerate(ids, start=1):
        ret = returns.get(rid)
        if ret is not None:
            rows.append(_row_for(engine, ret, by_return[rid], notes_by_return.get(rid, []),
                                 orders, errors))
        if progress is not None:
            progress(done, len(ids))
    report = ReconReport(since, until, rows, errors)
    if open_exceptions:
        _open_exceptions(engine, report)
    return report


@dataclass(frozen=True)
class Unread:
    """An order commerce would not give us now (rate limit, outage), and why."""

    why: str


def _money_sum(values: list[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for v in values:
        total = total + v
    return total


def _row_for(engine: Any, ret: ReturnRow, mine: list[ActionRow], notes: list[dict[str, Any]],
             orders: dict[str, Any], errors: list[str]) -> ReconRow:
    systems = engine.systems
    refunds = [a for a in mine if a.kind in REFUND_KINDS and a.status == "succeeded"]
    currency = ret.currency or (Money.from_json(refunds[0].payload["amount"]).currency
                                if refunds else "GBP")
    expected = _money_sum([Money.from_json(
        (a.result or {}).get("amount") if isinstance((a.result or {}).get("amount"), dict)
        else a.payload["amount"]) for a in refunds], currency)
    row = ReconRow(ret.return_id, ret.order_ref, currency, expected.amount_str())

    # Commerce: refunds on the order carrying this return's keys (platform movers: none).
    our_keys = {a.key for a in mine}
    in_commerce = Money.zero(currency)
    commerce_refunds = [a for a in refunds if a.kind == "refund"]
    if commerce_refunds or ret.money_mover == "returnline":
        if ret.order_ref not in orders:
            try:
                orders[ret.order_ref] = engine.read_order_now(ret.order_ref)
            except ConnectorError as exc:
                orders[ret.order_ref] = Unread(exc.message)
                errors.append(f"{systems.commerce_name} order {ret.order_ref}: {exc.message}")
        order = orders.get(ret.order_ref)
        if isinstance(order, Unread):
            row.unchecked.append(f"{systems.commerce_name} order {ret.order_ref} not read: "
                                 f"{order.why}")
            order = None
        if order is not None:
            for r in order.refunds:
                if r.idempotency_key and r.idempotency_key.startswith(f"rl:{ret.return_id}:"):
                    in_commerce = in_commerce + r.amount
                    if r.idempotency_key not in our_keys:
                        row.problems.append(f"drift: refund {r.refund_id} in commerce carries "
                                            f"our key {r.idempotency_key} but no action has it")
            row.refund_in_commerce = in_commerce.amount_str()
            if commerce_refunds and in_commerce != _money_sum(
                    [Money.from_json(a.payload["amount"]) for a in commerce_refunds], currency):
                row.problems.append(f"drift: commerce shows {in_commerce} refunded, our "
                                    f"refunds say {expected}")

    # ERP: one credit note per refund, same amount.
    credited = _money_sum([Money.parse(Decimal(cn["amount"]), cn["currency"]) for cn in notes
                           if cn.get("currency") == currency], currency)
    row.credit_note_in_erp = credited.amount_str()
    if refunds and credited != expected:
        row.problems.append(f"amount_mismatch: credit notes {credited} vs refunds {expected}")
    if not refunds and notes:
        row.problems.append(f"drift: credit note(s) {credited} in the ERP for a return with no "
                            "refund")

    # Stock: each movement we recorded is looked up in commerce by its key.
    for a in mine:
        if a.kind in STOCK_KINDS and a.status == "succeeded":
            delta = int((a.payload or {}).get("delta", 0))
            row.stock_expected += delta
            try:
                found = systems.commerce.find_stock_movement(a.key)
            except ConnectorError as exc:
                found = None
                row.unchecked.append(f"stock movement {a.key} not read: {exc.message}")
            if found is not None or a.external_id:
                row.stock_found += delta
    return row


def _open_exceptions(engine: Any, report: ReconReport) -> None:
    now = engine.now()
    entry = LedgerEntry(now=now)
    for row in report.mismatches:
        for problem in row.problems:
            kind, _, text = problem.partition(": ")
            exc_type = "amount_mismatch" if kind == "amount_mismatch" else "drift"
            entry.exceptions_open.append(ExceptionDraft(
                f"recon:{row.return_id}:{exc_type}:{report.since.date().isoformat()}",
                row.return_id, exc_type, engine.owner(exc_type),
                f"Reconciliation {report.since.date()}..{report.until.date()}: {text}"))
    if entry.exceptions_open:
        with engine.db.session() as s:
            record(s, entry)
