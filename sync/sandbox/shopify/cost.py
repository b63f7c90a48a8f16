"""Shopify's calculated query cost and the leaky bucket that pays for it.

Rules (reference shopify.md section 3, "Cost rules"): scalars and enums cost 0, an object 1,
a connection 2 + (first|last) x (1 + the cost of one node), a mutation root field 10 plus its
payload's children. ASSUMED (the public record is silent): a plain list such as
`Order.refunds` or `userErrors` costs its element's children once, not per element; this is
the reading that gives the recorded 13 for the recorded inventoryAdjustQuantities selection.
The actual cost counts the nodes a connection really returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)

MUTATION_COST = 10
MAX_SINGLE_QUERY_COST = 1000
_MISSING = object()


def _unwrap(gtype):
    return gtype.of_type if is_non_null_type(gtype) else gtype


def _size_arg(node: FieldNode, variables: dict[str, Any]) -> int:
    for arg in node.arguments or ():
        if arg.name.value in ("first", "last"):
            value = arg.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                got = variables.get(value.name.value)
                return int(got) if isinstance(got, int) else 0
    return 0


class CostCalculator:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments

    def operation_cost(self, op: OperationDefinitionNode, variables: dict[str, Any],
                       data: Any = _MISSING) -> int:
        root = self.schema.mutation_type if op.operation.value == "mutation" else \
            self.schema.query_type
        return self._selections(root, op.selection_set, variables, data, mutation_root=True)

    def _selections(self, parent, selection_set, variables, data, mutation_root=False) -> int:
        total = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                total += self._field(parent, sel, variables, data, mutation_root)
            elif isinstance(sel, InlineFragmentNode):
                cond = self.schema.type_map[sel.type_condition.name.value] \
                    if sel.type_condition else parent
                total += self._selections(cond, sel.selection_set, variables, data, mutation_root)
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is not None:
                    cond = self.schema.type_map[frag.type_condition.name.value]
                    total += self._selections(cond, frag.selection_set, variables, data,
                                              mutation_root)
        return total

    def _field(self, parent, node: FieldNode, variables, data, mutation_root) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", {})
        if name.startswith("__") or name not in fields:
            return 0
        ftype = fields[name].type
        named = get_named_type(ftype)
        if is_leaf_type(named):
            return 0
        key = node.alias.value if node.alias else name
        sub = data.get(key) if isinstance(data, dict) else (_MISSING if data is _MISSING else None)
        if mutation_root and self.schema.mutation_type is parent:
            return MUTATION_COST + self._children(named, node, variables, sub)
        if named.name.endswith("Connection"):
            return self._connection(named, node, variables, sub)
        if is_list_type(_unwrap(ftype)):
            first = sub[0] if isinstance(sub, list) and sub else (_MISSING if sub is _MISSING
                                                                   else None)
            return self._children(named, node, variables, first)
        return 1 + self._children(named, node, variables, sub)

    def _children(self, named, node, variables, sub) -> int:
        if sub is None:
            return 0
        return self._selections(named, node.selection_set, variables, sub)

    def _connection(self, conn_type, node: FieldNode, variables, sub) -> int:
        node_type = get_named_type(conn_type.fields["nodes"].type) \
            if "nodes" in conn_type.fields else None
        per_node: list[tuple[Any, Any]] = []  # (selection set, data key path) of one node
        for sel in node.selection_set.selections if node.selection_set else ():
            if not isinstance(sel, FieldNode):
                continue
            key = sel.alias.value if sel.alias else sel.name.value
            if sel.name.value == "nodes":
                per_node.append((sel.selection_set, (key, None)))
            elif sel.name.value == "edges":
                for inner in sel.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        ikey = inner.alias.value if inner.alias else "node"
                        per_node.append((inner.selection_set, (key, ikey)))
        if node_type is None or not per_node:
            return 2
        if sub is _MISSING:
            size = _size_arg(node, variables)
            one = max(1 + self._selections(node_type, s, variables, _MISSING) for s, _ in per_node)
            return 2 + size * one
        if sub is None:
            return 2
        best = 0
        for selset, (key, ikey) in per_node:
            items = sub.get(key) or []
            cost = 0
            for item in items:
                obj = item.get(ikey) if ikey else item
                cost += 1 + self._selections(node_type, selset, variables, obj)
            best = max(best, cost)
        return 2 + best


@dataclass
class CostBucket:
    """The leaky bucket per app+shop: `maximum` points, restored at `restore_rate` per second."""

    maximum: float = 2000.0
    restore_rate: float = 100.0
    available: float = 2000.0
    updated: datetime | None = None

    def refill(self, now: datetime) -> float:
        if self.updated is not None:
            elapsed = max(0.0, (now - self.updated).total_seconds())
            self.available = min(self.maximum, self.available + elapsed * self.restore_rate)
        if self.updated is None or now > self.updated:
            self.updated = now
        return self.available

    def take(self, points: float, now: datetime) -> bool:
        if self.refill(now) < points:
            return False
        self.available -= points
        return True

    def give_back(self, points: float, now: datetime) -> None:
        self.refill(now)
        self.available = min(self.maximum, self.available + max(0.0, points))

    def drain(self, now: datetime) -> None:
        self.refill(now)
        self.available = 0.0

    def status(self, now: datetime) -> dict[str, Any]:
        self.refill(now)
        return {"maximumAvailable": _num(self.maximum),
                "currentlyAvailable": int(self.available),
                "restoreRate": _num(self.restore_rate)}

    def as_dict(self) -> dict[str, Any]:
        return {"maximum": self.maximum, "restore_rate": self.restore_rate,
                "available": self.available,
                "updated": self.updated.isoformat() if self.updated else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostBucket:
        updated = datetime.fromisoformat(data["updated"]) if data.get("updated") else None
        return cls(data["maximum"], data["restore_rate"], data["available"], updated)


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# Restore rates per plan (reference section 3); bucket sizes beyond Standard are unverified:
# ASSUMED 20x the restore rate, as observed on Standard (2,000 / 100).
PLANS = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}
