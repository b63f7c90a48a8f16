"""Make sync/sandbox/commercetools/spec_extract.json from the official commercetools OpenAPI file.

The extract holds only what Returnline's connector sends and the sandbox answers: the request
bodies of the operations we call, their responses, and the error objects, with every schema
reachable from them. Discriminator mappings of the huge polymorphic bases (update actions,
errors, references) are cut down to the members we use; the validator treats any other member
as unknown, which is what the sandbox wants (it refuses actions it does not implement).

Usage: python tools/commercetools_spec_extract.py [OPENAPI_YAML] [OUT_JSON]
Default input: ../shared/reference/commercetools/openapi.yaml next to the repository.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "reference" / "commercetools" / "openapi.yaml"
DEFAULT_OUT = ROOT / "sync" / "sandbox" / "commercetools" / "spec_extract.json"

# (method, path) of the operations the connector and sandbox use.
OPERATIONS = [
    ("get", "/{projectKey}/orders"),
    ("post", "/{projectKey}/orders/import"),
    ("get", "/{projectKey}/orders/{ID}"),
    ("post", "/{projectKey}/orders/{ID}"),
    ("get", "/{projectKey}/orders/order-number={orderNumber}"),
    ("post", "/{projectKey}/orders/order-number={orderNumber}"),
    ("get", "/{projectKey}/payments/{ID}"),
    ("post", "/{projectKey}/payments/{ID}"),
    ("get", "/{projectKey}/inventory"),
    ("post", "/{projectKey}/inventory"),
    ("get", "/{projectKey}/inventory/{ID}"),
    ("post", "/{projectKey}/inventory/{ID}"),
    ("get", "/{projectKey}/channels"),
    ("get", "/{projectKey}/channels/{ID}"),
]

# Members kept in the polymorphic bases' discriminator mappings.
KEEP_MEMBERS = {
    "OrderUpdateAction": {"addReturnInfo", "setReturnShipmentState", "setReturnPaymentState",
                          "changeOrderState", "setCustomField", "setCustomType"},
    "PaymentUpdateAction": {"addTransaction", "changeTransactionState"},
    "InventoryEntryUpdateAction": {"addQuantity", "removeQuantity", "setCustomField",
                                   "setCustomType"},
    "ErrorObject": {"ConcurrentModification", "InvalidOperation", "ResourceNotFound",
                    "InvalidInput", "InvalidJsonInput", "insufficient_scope", "invalid_token",
                    "DuplicateField", "General", "BadGateway", "OverCapacity", "RequiredField",
                    "InvalidField", "ReferencedResourceNotFound", "MissingRoleOnChannel",
                    "TooManyRequests"},
}
EXTRA_ROOTS = ["ErrorResponse", "AuthErrorResponse", "CentPrecisionMoney", "HighPrecisionMoney",
               "CentPrecisionMoneyDraft", "HighPrecisionMoneyDraft", "LineItemReturnItem"]
# Polymorphic bases whose whole (small) mapping is followed.
FOLLOW_ALL = {"TypedMoney", "TypedMoneyDraft", "ReturnItem"}
DROP_PREFIXES = ("x-annotation-",)
DROP_TEXT = ("description", "example")  # prose only; a property may also be named so


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items()
                if not k.startswith(DROP_PREFIXES)
                and not (k in DROP_TEXT and not isinstance(v, dict))}
    if isinstance(node, list):
        return [_strip(x) for x in node]
    return node


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.add(_name(v))
            elif k != "mapping":
                _refs(v, out)
    elif isinstance(node, list):
        for x in node:
            _refs(x, out)


def _discriminators(node: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if "discriminator" in node:
            found.append(node["discriminator"])
        for v in node.values():
            _discriminators(v, found)
    elif isinstance(node, list):
        for x in node:
            _discriminators(x, found)


def _schema_of(content: dict[str, Any] | None) -> str | None:
    schema = ((content or {}).get("application/json") or {}).get("schema") or {}
    return _name(schema["$ref"]) if "$ref" in schema else None


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    operations: dict[str, dict[str, Any]] = {}
    roots: set[str] = set(EXTRA_ROOTS)
    for method, path in OPERATIONS:
        op = spec["paths"][path][method]
        request = _schema_of((op.get("requestBody") or {}).get("content"))
        responses = {}
        for status, resp in op.get("responses", {}).items():
            if "$ref" in resp:
                resp = spec["components"]["responses"][_name(resp["$ref"])]
            name = _schema_of(resp.get("content"))
            if name:
                responses[status] = name
        scopes = [s for sec in op.get("security", []) for s in sec.get("oauth_2_0", [])]
        operations[f"{method.upper()} {path}"] = {"request": request, "responses": responses,
                                                  "scopes": scopes}
        roots |= {request} if request else set()
        roots |= set(responses.values())

    keep: dict[str, Any] = {}
    todo = sorted(roots)
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        schema = schemas[name]
        keep[name] = schema
        found: set[str] = set()
        _refs(schema, found)
        discs: list[dict[str, Any]] = []
        _discriminators(schema, discs)
        for disc in discs:
            for member, ref in disc.get("mapping", {}).items():
                if name in FOLLOW_ALL or member in KEEP_MEMBERS.get(name, ()):
                    found.add(_name(ref))
        todo.extend(sorted(found - keep.keys()))

    out = {}
    for name in sorted(keep):
        schema = _strip(keep[name])
        discs = []
        _discriminators(schema, discs)
        for disc in discs:
            disc["mapping"] = {m: r for m, r in disc.get("mapping", {}).items() if _name(r) in keep}
        out[name] = schema
    return {
        "source": {
            "repository": "github.com/commercetools/commercetools-api-reference",
            "commit": "5867aa22abcab5a521bd5bf0bd3b332c5ad763ae",
            "path": "oas/api/openapi.yaml",
            "made_by": "tools/commercetools_spec_extract.py",
        },
        "operations": operations,
        "schemas": out,
    }


def load_spec(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    out_path = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    data = extract(load_spec(spec_path))
    out_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out_path}: {len(data['schemas'])} schemas, {len(data['operations'])} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
