"""The return made visible on the commerce order, for CX (no money, no stock).

- `create_return_record`: once the order checks pass, the return is recorded on the commerce
  order (Shopify return / commercetools return info) so anyone looking at the order sees it.
- `tag_order`: once every reason is mapped, the master reasons go on the order as tags and a
  note ("return-reason:TOO_SMALL"), so CX see why without opening Returnline.
Both can be switched off in the policy.
"""

from __future__ import annotations

from rules.facts import Facts
from rules.lifecycle import ActionKind
from rules.order_check import OrderVerdict
from rules.outputs import PlannedAction, action_key
from rules.policy import Policy
from rules.reasons import ReasonVerdict


def visibility_keys(return_id: str, policy: Policy) -> list[str]:
    keys = []
    if policy.create_return_record:
        keys.append(action_key(return_id, ActionKind.CREATE_RETURN_RECORD, 1))
    if policy.tag_orders:
        keys.append(action_key(return_id, ActionKind.TAG_ORDER, 1))
    return keys


def plan_visibility(facts: Facts, policy: Policy, order: OrderVerdict,
                    reasons: ReasonVerdict) -> tuple[list[PlannedAction], list[str]]:
    ret, commerce_order = facts.ret, facts.order
    rid = ret.return_id
    actions: list[PlannedAction] = []
    decisions: list[str] = []
    if commerce_order is None:
        return actions, decisions
    line_ids = tuple(ln.line_id for ln in ret.lines)
    key = action_key(rid, ActionKind.CREATE_RETURN_RECORD, 1)
    if policy.create_return_record and (facts.planned(key) or order.ok):
        lines = [{"line_id": ln.line_id, "sku": ln.sku, "qty": ln.qty,
                  "line_ref": (order.matches[ln.line_id].order_line.line_ref
                               if ln.line_id in order.matches else ln.order_line_ref),
                  "reason": ln.raw_reason, "reason_code": reasons.codes.get(ln.line_id),
                  "resolution": ln.resolution.value} for ln in ret.lines]
        actions.append(PlannedAction(key, ActionKind.CREATE_RETURN_RECORD, rid, {
            "return_id": rid, "order_ref": ret.order_ref, "order_id": commerce_order.order_id,
            "platform": ret.platform, "platform_id": ret.platform_id, "rma": ret.rma,
            "lines": lines}, line_ids=line_ids))
    key = action_key(rid, ActionKind.TAG_ORDER, 1)
    if policy.tag_orders and (facts.planned(key) or (order.ok and reasons.all_mapped)):
        codes = sorted({c for c in reasons.codes.values() if c})
        note = "; ".join(f"{ln.qty} x {ln.sku}: {reasons.codes.get(ln.line_id) or ln.raw_reason}"
                         for ln in ret.lines)
        actions.append(PlannedAction(key, ActionKind.TAG_ORDER, rid, {
            "return_id": rid, "order_ref": ret.order_ref, "order_id": commerce_order.order_id,
            "tags": ["returnline", *(f"return-reason:{c}" for c in codes)],
            "note": f"Return {rid}: {note}"}, line_ids=line_ids))
        decisions.append(f"Order {ret.order_ref} tagged with return reasons {codes} for CX")
    return actions, decisions
