"""Rule 3: the order is validated as it is NOW, before a return record, refund or credit note.

- Not visible yet: wait (policy `order_wait`, default 2 h from when we first looked), then
  raise `order_not_found` to CX.
- Cancelled, belonging to another store/region or currency, or a returned line no longer on
  the order (removed or reduced by an edit): `order_not_returnable` to CX.
- Units already refunded or replaced: a refund made by hand in the commerce admin on a returned
  line after the return was requested, or fewer units left refundable than are returned, or a
  replacement order nobody at Returnline made: `already_refunded` to finance, and that line
  (the whole return for a replacement) is never refunded a second time.

Once everything the order gates has been planned, later changes to the order no longer block:
they are reconciliation's business (`drift`, see rules.watch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from rules.facts import Facts
from rules.lifecycle import ExceptionType
from rules.mappings import Bundle, BundleComponent, Mappings
from rules.model import Order, OrderLine, OrderRefund, OrderState, Return, ReturnLine
from rules.outputs import ExceptionToOpen, exception_key
from rules.policy import Policy


class OrderStatus(StrEnum):
    OK = "ok"
    WAITING = "waiting"
    NOT_FOUND = "not_found"
    NOT_RETURNABLE = "not_returnable"


@dataclass(frozen=True)
class LineMatch:
    """Which order line a return line returns (and which bundle component, if any)."""

    line_id: str
    order_line: OrderLine
    bundle: Bundle | None = None
    component: BundleComponent | None = None

    @property
    def units_per_order_unit(self) -> int:
        return self.component.qty if self.component else 1


@dataclass
class OrderVerdict:
    status: OrderStatus
    matches: dict[str, LineMatch] = field(default_factory=dict)
    already_refunded: dict[str, str] = field(default_factory=dict)  # line_id -> why
    replaced: str | None = None  # why the whole return counts as already made good
    problems: list[str] = field(default_factory=list)
    exceptions: list[ExceptionToOpen] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    wake_at: datetime | None = None
    settled_by_hand: bool = False  # a person resolved the order problem: nothing more from us

    @property
    def ok(self) -> bool:
        return self.status is OrderStatus.OK


def match_order_line(line: ReturnLine, order: Order, mappings: Mappings) -> LineMatch | None:
    """Find the order line a return line returns: by line reference, else by SKU, else as a
    component of a bundle line. None: the line is not (or no longer) on the order."""
    if line.order_line_ref:
        candidates = [ol for ol in order.lines if ol.line_ref == line.order_line_ref]
    else:
        candidates = [ol for ol in order.lines if ol.sku == line.sku]
        candidates += [ol for ol in order.lines if ol.sku != line.sku]
    for ol in candidates:
        if ol.sku == line.sku:
            return LineMatch(line.line_id, ol)
        bundle = mappings.bundle(ol.sku) or mappings.bundle(ol.bundle_sku)
        component = bundle.component(line.sku) if bundle else None
        if component is not None:
            return LineMatch(line.line_id, ol, bundle, component)
    return None


def order_visible(facts: Facts, policy: Policy, now: datetime) -> OrderVerdict | None:
    """None when the order is there; else the waiting / not-found verdict."""
    if facts.order is not None:
        return None
    rid = facts.ret.return_id
    since = facts.order_first_sought_at or now
    deadline = since + policy.order_wait
    ref = facts.ret.order_ref
    if now < deadline:
        return OrderVerdict(OrderStatus.WAITING, wake_at=deadline, decisions=[
            f"Order {ref} is not visible in commerce yet: waiting until "
            f"{deadline.isoformat()} before raising it (rule: order validated as it is now)"])
    key = exception_key(rid, ExceptionType.ORDER_NOT_FOUND)
    verdict = OrderVerdict(OrderStatus.NOT_FOUND, decisions=[
        f"Order {ref} still not found after waiting {_hours(policy.order_wait)}: "
        "no return record, refund or credit note (rule: order validated as it is now)"])
    if facts.resolved(key):
        verdict.settled_by_hand = True
    else:
        verdict.exceptions.append(ExceptionToOpen(
            key, ExceptionType.ORDER_NOT_FOUND, policy.owner(ExceptionType.ORDER_NOT_FOUND), rid,
            f"Order {ref} not found in commerce {_hours(policy.order_wait)} after we first "
            "looked for it"))
    return verdict


def order_returnable(ret: Return, order: Order,
                     mappings: Mappings) -> tuple[dict[str, LineMatch], list[str]]:
    """Match every return line to the order as it is now; list what makes it not returnable."""
    problems: list[str] = []
    if order.state is OrderState.CANCELLED:
        problems.append(f"order {order.order_ref} is cancelled")
    if ret.store and order.store and ret.store.casefold() != order.store.casefold():
        problems.append(f"the return is for store {ret.store!r} but order {order.order_ref} "
                        f"belongs to {order.store!r}")
    if ret.currency and ret.currency.upper() != order.currency.upper():
        problems.append(f"the return is in {ret.currency} but the order is in {order.currency}")
    matches: dict[str, LineMatch] = {}
    asked: dict[tuple[str, str], int] = {}
    for line in ret.lines:
        match = match_order_line(line, order, mappings)
        if match is None:
            problems.append(f"{line.sku} (line {line.line_id}) is no longer on the order")
            continue
        matches[line.line_id] = match
        slot = (match.order_line.line_ref, line.sku)
        asked[slot] = asked.get(slot, 0) + line.qty
    for (line_ref, sku), qty in asked.items():
        match = next(m for m in matches.values()
                     if m.order_line.line_ref == line_ref and _sku(m) == sku)
        units = match.order_line.qty * match.units_per_order_unit
        if units < qty:
            problems.append(f"{qty} x {sku} returned but the order now has only {units}")
    return matches, problems


def our_refund_on_order(facts: Facts) -> OrderRefund | None:
    """This return's own refund as commerce shows it (it carries our idempotency key)."""
    if facts.order is None:
        return None
    ours = f"rl:{facts.ret.return_id}:"
    mine = [r for r in facts.order.refunds if (r.idempotency_key or "").startswith(ours)]
    return min(mine, key=lambda r: r.created_at) if mine else None


def is_manual(refund: OrderRefund) -> bool:
    """Made by hand in the commerce admin (or by anything that is not Returnline)."""
    return not (refund.idempotency_key or "").startswith("rl:")


def already_refunded(facts: Facts, matches: dict[str, LineMatch]) -> tuple[dict[str, str], str | None]:
    """Lines (and, for replacements, the whole return) already made good outside this return.

    Only refunds made before our own refund landed count here; a manual refund after ours is
    a double payment, which is `drift` (rules.watch).
    """
    ret, order = facts.ret, facts.order
    assert order is not None
    ours = f"rl:{ret.return_id}:"
    mine = our_refund_on_order(facts)
    others: list[OrderRefund] = [
        r for r in order.refunds if not (r.idempotency_key or "").startswith(ours)
        and (mine is None or r.created_at < mine.created_at)]
    found: dict[str, str] = {}
    by_slot: dict[tuple[str, str], list[str]] = {}
    for line in ret.lines:
        match = matches.get(line.line_id)
        if match is None:
            continue
        by_slot.setdefault((match.order_line.line_ref, line.sku), []).append(line.line_id)
        for refund in others:
            if is_manual(refund) and refund.created_at >= ret.requested_at \
                    and touches(refund, match):
                found[line.line_id] = (f"{line.sku} was refunded by hand in the commerce admin "
                                       f"(refund {refund.refund_id}) after the return was requested")
    for (_, sku), line_ids in by_slot.items():
        match = matches[line_ids[0]]
        asked = sum(ln.qty for ln in ret.lines if ln.line_id in line_ids)
        left = _refundable_units(match, others, order.refunds, ours)
        if left < asked:
            for lid in line_ids:
                found.setdefault(lid, f"only {left} x {sku} still refundable on the order, "
                                      f"{asked} returned: already refunded")
    replaced = None
    exchange_made = any(k.startswith(f"{ours}exchange_order:") for k in facts.outcomes)
    strangers = set(order.replacement_order_refs) - set(facts.our_replacement_orders)
    if strangers and not exchange_made:
        replaced = (f"order {order.order_ref} already has replacement order(s) "
                    f"{sorted(strangers)} that Returnline did not make")
    return found, replaced


def check_order(facts: Facts, policy: Policy, mappings: Mappings, now: datetime,
                gates_pending: bool = True) -> OrderVerdict:
    """Rule 3 in full. `gates_pending`: some order-gated action (return record, tag, refund or
    platform approval, exchange) is still to be planned; once none is, a missing, cancelled or
    edited order no longer blocks anything."""
    waiting = order_visible(facts, policy, now)
    if waiting is not None:
        return waiting if gates_pending else OrderVerdict(OrderStatus.OK)
    order = facts.order
    assert order is not None
    rid = facts.ret.return_id
    matches, problems = order_returnable(facts.ret, order, mappings)
    verdict = OrderVerdict(OrderStatus.OK, matches=matches)
    if problems and gates_pending:
        verdict.status, verdict.problems = OrderStatus.NOT_RETURNABLE, problems
        text = "; ".join(problems)
        verdict.decisions.append(f"Order {order.order_ref} is not returnable as it is now: {text} "
                                 "(rule: order validated as it is now)")
        key = exception_key(rid, ExceptionType.ORDER_NOT_RETURNABLE)
        if facts.resolved(key):
            verdict.settled_by_hand = True
        else:
            verdict.exceptions.append(ExceptionToOpen(
                key, ExceptionType.ORDER_NOT_RETURNABLE,
                policy.owner(ExceptionType.ORDER_NOT_RETURNABLE), rid, _cap(text)))
        return verdict
    found, replaced = already_refunded(facts, matches)
    owner = policy.owner(ExceptionType.ALREADY_REFUNDED)
    for line_id, why in sorted(found.items()):
        verdict.already_refunded[line_id] = why
        verdict.decisions.append(f"No refund for line {line_id}: {why} "
                                 "(rule: never a second refund)")
        key = exception_key(rid, ExceptionType.ALREADY_REFUNDED, line_id)
        if not facts.resolved(key):
            verdict.exceptions.append(ExceptionToOpen(
                key, ExceptionType.ALREADY_REFUNDED, owner, rid, _cap(why)))
    if replaced:
        verdict.replaced = replaced
        key = exception_key(rid, ExceptionType.ALREADY_REFUNDED, "replacement")
        verdict.decisions.append(f"No refund or exchange: {replaced} (rule: never a second refund)")
        if not facts.resolved(key):
            verdict.exceptions.append(ExceptionToOpen(
                key, ExceptionType.ALREADY_REFUNDED, owner, rid, _cap(replaced)))
    return verdict


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sku(match: LineMatch) -> str:
    return match.component.sku if match.component else match.order_line.sku


def touches(refund: OrderRefund, match: LineMatch) -> bool:
    """Does this refund give back units of the matched order line (or of its component)?"""
    for rl in refund.lines:
        if rl.line_ref == match.order_line.line_ref and rl.qty > 0:
            if rl.sku is None or rl.sku in (match.order_line.sku, _sku(match)):
                return True
    return False


def _units(rl, match: LineMatch) -> int:
    """Units of the matched SKU a refund line gives back (a whole bundle counts all its parts)."""
    ol = match.order_line
    if rl.line_ref != ol.line_ref:
        return 0
    if rl.sku is None or rl.sku == ol.sku:
        return rl.qty * match.units_per_order_unit
    return rl.qty if rl.sku == _sku(match) else 0


def _refundable_units(match: LineMatch, others: list[OrderRefund], all_refunds: tuple,
                      ours: str) -> int:
    """Units of the matched SKU still refundable on the order line, ignoring our own refunds."""
    ol = match.order_line
    per = match.units_per_order_unit
    left = ol.qty * per - sum(_units(rl, match) for r in others for rl in r.lines)
    if ol.refundable_qty is not None:  # the platform's own figure counts our refunds too
        our_units = sum(_units(rl, match) for r in all_refunds
                        if (r.idempotency_key or "").startswith(ours) for rl in r.lines)
        left = min(left, ol.refundable_qty * per + our_units)
    return max(left, 0)


def _hours(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
