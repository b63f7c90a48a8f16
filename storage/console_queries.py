"""Extra reads the console needs beyond storage.queries: one return's pieces, a failure
group's actions, master reason codes, rate budgets. All bounded and indexed.

Also the audit row for job control (pause/resume/run now), which the operations layer does
not cover yet.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import desc, func, select
from sqlmodel import Session

from rules.mappings import normalise_reason
from storage.tables import (
    ActionRow,
    ExceptionRow,
    HoldRow,
    OrderSnapshotRow,
    RateBudgetRow,
    ReasonCodeRow,
    ReasonMappingRow,
    ReturnLineRow,
    ReturnRow,
)


def get_return(s: Session, return_id: str) -> ReturnRow | None:
    return s.get(ReturnRow, return_id)


def count_returns(s: Session, state: str | None = None) -> int:
    q = select(func.count()).select_from(ReturnRow)
    if state:
        q = q.where(ReturnRow.state == state)
    return s.execute(q).scalar_one()


def lines_for(s: Session, return_ids: Iterable[str]) -> dict[str, list[ReturnLineRow]]:
    ids = list(return_ids)
    out: dict[str, list[ReturnLineRow]] = {rid: [] for rid in ids}
    if not ids:
        return out
    rows = s.execute(select(ReturnLineRow).where(ReturnLineRow.return_id.in_(ids))
                     .order_by(ReturnLineRow.return_id, ReturnLineRow.line_id)).scalars()
    for row in rows:
        out[row.return_id].append(row)
    return out


def holds_for(s: Session, return_id: str) -> list[HoldRow]:
    return list(s.execute(select(HoldRow).where(HoldRow.return_id == return_id)
                          .order_by(HoldRow.opened_at, HoldRow.key)).scalars())


def exceptions_for(s: Session, return_id: str) -> list[ExceptionRow]:
    return list(s.execute(select(ExceptionRow).where(ExceptionRow.return_id == return_id)
                          .order_by(ExceptionRow.opened_at, ExceptionRow.key)).scalars())


def actions_for(s: Session, return_id: str) -> list[ActionRow]:
    return list(s.execute(select(ActionRow).where(ActionRow.return_id == return_id)
                          .order_by(ActionRow.created_at, ActionRow.key)).scalars())


def open_hold_count_and_total(s: Session) -> list[tuple[str, int, int]]:
    """Open refund approvals per currency: (currency, count, total minor units)."""
    rows = s.execute(select(HoldRow.currency, func.count(), func.sum(HoldRow.amount_minor))
                     .where(HoldRow.decision.is_(None), HoldRow.kind == "refund_approval")
                     .group_by(HoldRow.currency).order_by(HoldRow.currency))
    return [(cur or "", n, int(total or 0)) for cur, n, total in rows]


def group_actions(s: Session, *, system: str, kind: str, error_code: str | None,
                  limit: int = 200) -> list[ActionRow]:
    """The failed/dead actions of one failure group, latest first."""
    q = select(ActionRow).where(ActionRow.status.in_(("failed", "dead")),
                                ActionRow.system == system, ActionRow.kind == kind)
    q = q.where(ActionRow.last_error_code.is_(None) if not error_code
                else ActionRow.last_error_code == error_code)
    return list(s.execute(q.order_by(desc(ActionRow.updated_at), ActionRow.key)
                          .limit(limit)).scalars())


def get_action(s: Session, key: str) -> ActionRow | None:
    return s.get(ActionRow, key)


def reason_codes(s: Session) -> list[ReasonCodeRow]:
    return list(s.execute(select(ReasonCodeRow).order_by(ReasonCodeRow.code)).scalars())


def rate_budgets(s: Session, limit: int = 50) -> list[RateBudgetRow]:
    return list(s.execute(select(RateBudgetRow).order_by(RateBudgetRow.system,
                                                         RateBudgetRow.window)
                          .limit(limit)).scalars())


def order_currencies(s: Session, order_refs: Iterable[str]) -> dict[str, str]:
    """Currency per order number from the last order snapshots (for returns whose own row
    does not carry one)."""
    refs = sorted(set(order_refs))
    if not refs:
        return {}
    rows = s.execute(select(OrderSnapshotRow.order_ref, OrderSnapshotRow.currency)
                     .where(OrderSnapshotRow.order_ref.in_(refs)))
    return {ref: cur for ref, cur in rows if cur}


def mapped_codes(s: Session, platform: str, raws: Iterable[str]) -> dict[str, str]:
    """Master code per raw reason text as the mappings say now (platform first, then "*")."""
    norms = {normalise_reason(r): r for r in raws if r}
    if not norms:
        return {}
    rows = s.execute(select(ReasonMappingRow).where(
        ReasonMappingRow.raw.in_(list(norms)), ReasonMappingRow.platform.in_((platform, "*"))))
    found: dict[str, str] = {}
    for row in sorted(rows.scalars(), key=lambda m: m.platform == "*"):
        found.setdefault(norms[row.raw], row.code)
    return found
