"""What `plan()` hands back: the actions that should exist, holds, exceptions and the decisions
in words. Everything here is plain data; `to_json()` gives JSON-able dicts (Money as
{"amount": "20.00", "currency": "GBP"}).

Keys are deterministic, built only from the return's id and its lines, so planning the same
facts twice gives the same keys and storage (insert-if-absent by key) adds nothing:
  actions     rl:{return}:{kind}:1                    (refund, credit_note, exchange_order, ...)
              rl:{return}:{restock|quarantine}:{line}:{n}[:{component sku}]
  holds       rl:{return}:hold:refund_approval:1  /  rl:{return}:hold:unknown_reason
  exceptions  rl:{return}:exc:{type}[:{subject}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.lifecycle import ActionKind, ExceptionType, HoldKind, State, Target
from rules.money import Money


def action_key(return_id: str, kind: ActionKind, *parts: object) -> str:
    return ":".join(["rl", return_id, kind.value, *(str(p) for p in parts)])


def hold_key(return_id: str, kind: HoldKind, *parts: object) -> str:
    return ":".join(["rl", return_id, "hold", kind.value, *(str(p) for p in parts)])


def exception_key(return_id: str, kind: ExceptionType, *parts: object) -> str:
    return ":".join(["rl", return_id, "exc", kind.value, *(str(p) for p in parts)])


def rule_owned(return_id: str, key: str) -> bool:
    """Keys `plan()` makes for this return (it may close/release only those)."""
    return key.startswith(f"rl:{return_id}:")


@dataclass(frozen=True)
class PlannedAction:
    key: str  # the idempotency key sent to the external system
    kind: ActionKind
    return_id: str
    payload: dict[str, Any]  # JSON-able
    line_ids: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # run only after these keys succeeded

    @property
    def target(self) -> Target:
        return self.kind.target

    @property
    def batchable(self) -> bool:
        return self.kind.batchable

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind.value, "return_id": self.return_id,
                "target": self.target.value, "payload": self.payload,
                "line_ids": list(self.line_ids), "depends_on": list(self.depends_on),
                "batchable": self.batchable}


@dataclass(frozen=True)
class Hold:
    key: str
    kind: HoldKind
    return_id: str
    why: str  # plain words for the supervisor
    amount: Money | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind.value, "return_id": self.return_id,
                "why": self.why, "amount": self.amount.to_json() if self.amount else None}


@dataclass(frozen=True)
class ExceptionToOpen:
    key: str
    type: ExceptionType
    owner: str
    return_id: str
    message: str
    due_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.type.value, "owner": self.owner,
                "return_id": self.return_id, "message": self.message,
                "due_at": self.due_at.isoformat() if self.due_at else None}


@dataclass(frozen=True)
class Closing:
    """A hold to release or an exception to close: its cause no longer holds."""

    key: str
    why: str


@dataclass
class Plan:
    return_id: str
    state: State = State.REQUESTED
    actions: list[PlannedAction] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)  # should be open now
    holds_release: list[Closing] = field(default_factory=list)
    exceptions_open: list[ExceptionToOpen] = field(default_factory=list)  # should be open now
    exceptions_close: list[Closing] = field(default_factory=list)
    actions_cancel: list[Closing] = field(default_factory=list)  # planned, not sent: must not run
    decisions: list[str] = field(default_factory=list)  # plain English, naming the rule
    value: Money | None = None  # what the return's refund is worth (before holds)
    graded_at: datetime | None = None  # when the last line was fully graded
    wake_at: datetime | None = None  # re-plan at this time even if nothing else changes

    def action(self, key: str) -> PlannedAction | None:
        return next((a for a in self.actions if a.key == key), None)

    def of_kind(self, kind: ActionKind) -> list[PlannedAction]:
        return [a for a in self.actions if a.kind is kind]

    def open_types(self) -> set[ExceptionType]:
        return {x.type for x in self.exceptions_open}

    def to_json(self) -> dict[str, Any]:
        return {
            "return_id": self.return_id, "state": self.state.value,
            "actions": [a.to_json() for a in self.actions],
            "holds": [h.to_json() for h in self.holds],
            "holds_release": [{"key": c.key, "why": c.why} for c in self.holds_release],
            "exceptions_open": [x.to_json() for x in self.exceptions_open],
            "exceptions_close": [{"key": c.key, "why": c.why} for c in self.exceptions_close],
            "actions_cancel": [{"key": c.key, "why": c.why} for c in self.actions_cancel],
            "decisions": list(self.decisions),
            "value": self.value.to_json() if self.value else None,
            "graded_at": self.graded_at.isoformat() if self.graded_at else None,
            "wake_at": self.wake_at.isoformat() if self.wake_at else None,
        }


def failure_key(return_id: str, action: str, kind: ActionKind) -> str:
    """The exception an action raises when it cannot be done (or finally fails).

    Same key whether the rules see the problem first (an inactive location) or the executor
    gives up after its retries, so the two never open the same problem twice.
    """
    suffix = action.removeprefix(f"rl:{return_id}:")
    return exception_key(return_id, kind.failure, suffix)
