"""The business's approval policy: when a refund may go out alone, and who owns each problem.

A finance reader's summary of the defaults:
- Refunds above the per-currency threshold wait for a supervisor (no threshold set for a
  currency: no value check for it).
- A line graded damaged/faulty/used that is refunded to the original payment waits for a
  supervisor, and so does a line whose reason says "defect" while the warehouse found it
  sellable. `always_hold` sends every refund to a supervisor.
- Tax is refunded with the price (`include_tax`).
- A commerce order that is not visible yet is waited for 2 hours, then raised to CX.
- A return graded but not refunded within 48 hours is an SLA breach.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from rules.lifecycle import ExceptionType
from rules.money import Money, MoneyError, normalise_currency

DEFAULT_OWNERS: dict[ExceptionType, str] = {
    ExceptionType.UNKNOWN_REASON: "merchandising",
    ExceptionType.ORDER_NOT_FOUND: "cx",
    ExceptionType.ORDER_NOT_RETURNABLE: "cx",
    ExceptionType.ALREADY_REFUNDED: "finance",
    ExceptionType.REFUND_FAILED: "finance",
    ExceptionType.RESTOCK_FAILED: "warehouse",
    ExceptionType.CREDIT_NOTE_FAILED: "finance",
    ExceptionType.EXCHANGE_FAILED: "cx",
    ExceptionType.AMOUNT_MISMATCH: "finance",
    ExceptionType.MISSING_ITEM: "warehouse",
    ExceptionType.SLA_BREACH: "warehouse",
    ExceptionType.DRIFT: "finance",
    ExceptionType.RETURN_AUTHORISATION_FAILED: "finance",  # the books wait on it
}

TEAMS = ("finance", "warehouse", "cx", "merchandising", "engineering")


class PolicyError(ValueError):
    """The policy settings cannot be used as written; the message says which and why."""


@dataclass(frozen=True)
class Policy:
    approval_threshold: Mapping[str, Money] = field(default_factory=dict)  # currency -> Money
    hold_damaged: bool = True  # damaged/faulty/used refunded to the original payment
    hold_on_contradiction: bool = True  # "faulty" reason but graded sellable
    always_hold: bool = False
    include_tax: bool = True
    order_wait: timedelta = timedelta(hours=2)
    sla_window: timedelta = timedelta(hours=48)
    owners: Mapping[ExceptionType, str] = field(default_factory=lambda: dict(DEFAULT_OWNERS))
    create_return_record: bool = True  # make the return visible on the commerce order
    tag_orders: bool = True  # put the mapped reasons on the order for CX
    return_authorisations: bool = True  # the ERP records validated returns (NetSuite feature)

    def owner(self, kind: ExceptionType) -> str:
        return self.owners.get(kind, DEFAULT_OWNERS[kind])

    def threshold(self, currency: str) -> Money | None:
        return self.approval_threshold.get(normalise_currency(currency))

    # -- reading the scenario / config "policy" object --------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Policy:
        """Build from e.g. `{"approval_threshold": {"GBP": "150.00"}, "sla_window": "48h"}`.

        Durations are "90m", "2h", "2d" or a number of minutes (`order_wait_minutes`) or hours
        (`sla_window_hours`). Unknown keys are refused so a typo never silently changes policy.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise PolicyError(f"policy must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise PolicyError(f"policy: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
        policy = cls()
        changes: dict[str, Any] = {}
        if "approval_threshold" in data:
            changes["approval_threshold"] = _thresholds(data["approval_threshold"])
        for flag in ("hold_damaged", "hold_on_contradiction", "always_hold", "include_tax",
                     "create_return_record", "tag_orders", "return_authorisations"):
            if flag in data:
                if not isinstance(data[flag], bool):
                    raise PolicyError(f"policy.{flag} must be true or false, got {data[flag]!r}")
                changes[flag] = data[flag]
        if "order_wait" in data:
            changes["order_wait"] = parse_duration(data["order_wait"], "policy.order_wait", "m")
        if "order_wait_minutes" in data:
            changes["order_wait"] = parse_duration(
                data["order_wait_minutes"], "policy.order_wait_minutes", "m")
        if "sla_window" in data:
            changes["sla_window"] = parse_duration(data["sla_window"], "policy.sla_window", "h")
        if "sla_window_hours" in data:
            changes["sla_window"] = parse_duration(
                data["sla_window_hours"], "policy.sla_window_hours", "h")
        if "owners" in data:
            changes["owners"] = _owners(data["owners"])
        return replace(policy, **changes)


_KEYS = {
    "approval_threshold", "hold_damaged", "hold_on_contradiction", "always_hold", "include_tax",
    "order_wait", "order_wait_minutes", "sla_window", "sla_window_hours", "owners",
    "create_return_record", "tag_orders", "return_authorisations",
}

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any, where: str, default_unit: str) -> timedelta:
    """"2h" -> 2 hours; a bare non-negative integer is in `default_unit` ("m" or "h")."""
    if isinstance(value, bool):
        raise PolicyError(f"{where}: not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise PolicyError(f"{where}: a duration cannot be negative ({value})")
        return timedelta(**{_UNITS[default_unit]: value})
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise PolicyError(f"{where}: not a duration: {value!r} (use e.g. \"90m\", \"2h\", \"2d\")")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _thresholds(data: Any) -> dict[str, Money]:
    if not isinstance(data, Mapping):
        raise PolicyError("policy.approval_threshold must map currency to amount, "
                          f"e.g. {{\"GBP\": \"150.00\"}}; got {data!r}")
    out: dict[str, Money] = {}
    for currency, amount in data.items():
        try:
            money = Money.parse(amount, currency)
        except MoneyError as exc:
            raise PolicyError(f"policy.approval_threshold.{currency}: {exc}") from exc
        if money.minor < 0:
            raise PolicyError(f"policy.approval_threshold.{currency}: cannot be negative")
        out[money.currency] = money
    return out


def _owners(data: Any) -> dict[ExceptionType, str]:
    if not isinstance(data, Mapping):
        raise PolicyError(f"policy.owners must map exception type to team, got {data!r}")
    owners = dict(DEFAULT_OWNERS)
    for kind, team in data.items():
        try:
            exc_type = ExceptionType(kind)
        except ValueError:
            raise PolicyError(f"policy.owners: unknown exception type {kind!r}; known: "
                              f"{[t.value for t in ExceptionType]}") from None
        if not isinstance(team, str) or not team.strip():
            raise PolicyError(f"policy.owners.{kind}: team must be a name, got {team!r}")
        owners[exc_type] = team.strip()
    return owners
