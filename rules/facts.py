"""Everything the engine knows about one return, handed to `plan()` in one value.

The engine builds Facts from storage: the canonical Return (with the warehouse's gradings on its
lines), the commerce Order as last read (None while it cannot be found), the outcomes of the
actions already in the outbox, supervisors' decisions on holds, and what people have resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from rules.lifecycle import ActionStatus, Verdict
from rules.model import Order, OrderRefund, Return
from rules.money import Money


@dataclass(frozen=True)
class ActionOutcome:
    """What became of one planned action (keyed by its idempotency key)."""

    key: str
    status: ActionStatus
    external_id: str | None = None  # the refund id / credit note number / order id it made
    amount: Money | None = None  # refunds and platform approvals: the money actually moved
    planned_amount: Money | None = None  # the amount in the action's payload, when it has one
    error: str = ""  # the last error, in words, when failed/dead


@dataclass(frozen=True)
class HoldDecision:
    """A supervisor's decision on a hold (keyed by the hold's key)."""

    key: str
    verdict: Verdict
    by: str
    note: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    ret: Return
    order: Order | None = None  # the order as it is NOW; None: not found (yet)
    order_first_sought_at: datetime | None = None  # when we first looked for it (None: now)
    outcomes: Mapping[str, ActionOutcome] = field(default_factory=dict)  # by action key
    hold_decisions: Mapping[str, HoldDecision] = field(default_factory=dict)  # by hold key
    resolved_exceptions: frozenset[str] = frozenset()  # keys a PERSON resolved: never reopen
    open_exceptions: frozenset[str] = frozenset()  # keys open now (so plan can close them)
    open_holds: frozenset[str] = frozenset()  # hold keys open and undecided now
    platform_refunded: bool = False  # the returns platform says it refunded this return
    unexplained_refunds: tuple[OrderRefund, ...] = ()  # commerce refunds no action explains
    our_replacement_orders: frozenset[str] = frozenset()  # exchange orders Returnline made

    def outcome(self, key: str) -> ActionOutcome | None:
        return self.outcomes.get(key)

    def succeeded(self, key: str) -> bool:
        o = self.outcomes.get(key)
        return o is not None and o.status is ActionStatus.SUCCEEDED

    def planned(self, key: str) -> bool:
        """The action exists in the outbox (in any status): it is kept, never contradicted."""
        return key in self.outcomes

    def dead(self, key: str) -> bool:
        o = self.outcomes.get(key)
        return o is not None and o.status is ActionStatus.DEAD

    def resolved(self, key: str) -> bool:
        return key in self.resolved_exceptions
