"""The GraphQL side of the sandbox: the schema extract, a document cache, Shopify's error shapes.

Documents are parsed and validated once per query text (the connector sends the same texts
every time). Error bodies follow the recorded shapes in reference shopify.md section 5:
validation errors carry Shopify's `extensions.code` (`undefinedField`, `argumentNotAccepted`,
...), variable problems are one `INVALID_VARIABLE` error, and neither has a `data` key.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    print_type,
    type_from_ast,
    validate,
)
from graphql.pyutils import Undefined
from graphql.utilities import validate_input_value

EXTRACT_PATH = Path(__file__).with_name("schema_extract.graphql")

# Root mutation fields that need @idempotent from 2026-04 (reference 1.5), among those served.
IDEMPOTENT_REQUIRED = frozenset({"refundCreate", "inventoryAdjustQuantities"})


@lru_cache(maxsize=1)
def served_schema() -> GraphQLSchema:
    return build_schema(EXTRACT_PATH.read_text())


@dataclass
class ParsedDocument:
    text: str
    document: DocumentNode | None
    errors: list[dict[str, Any]]  # Shopify-shaped parse/validation errors; empty when valid
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name:
            return self.operations.get(name)
        if len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return None

    def root_fields(self, op: OperationDefinitionNode) -> list[FieldNode]:
        return [s for s in op.selection_set.selections if isinstance(s, FieldNode)]


class DocumentCache:
    """Parse + validate once per query text; bounded so a fuzzing client cannot grow it."""

    def __init__(self, schema: GraphQLSchema, limit: int = 512) -> None:
        self.schema = schema
        self.limit = limit
        self._docs: dict[str, ParsedDocument] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> ParsedDocument:
        with self._lock:
            found = self._docs.get(text)
        if found is not None:
            return found
        parsed = self._parse(text)
        with self._lock:
            if len(self._docs) >= self.limit:
                self._docs.pop(next(iter(self._docs)))
            self._docs[text] = parsed
        return parsed

    def _parse(self, text: str) -> ParsedDocument:
        try:
            document = parse(text)
        except GraphQLError as exc:
            return ParsedDocument(text, None, [_parse_error(exc)])
        errors = [shopify_validation_error(e) for e in validate(self.schema, document)]
        ops = {d.name.value if d.name else None: d for d in document.definitions
               if isinstance(d, OperationDefinitionNode)}
        frags = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
        return ParsedDocument(text, document, errors, ops, frags)


def _locations(exc: GraphQLError) -> list[dict[str, int]] | None:
    if not exc.locations:
        return None
    return [{"line": loc.line, "column": loc.column} for loc in exc.locations]


def _parse_error(exc: GraphQLError) -> dict[str, Any]:
    # ASSUMED: Shopify's parser words this differently; the shape (message + locations, no
    # data) is what matters to a client.
    out: dict[str, Any] = {"message": exc.message}
    if exc.locations:
        out["locations"] = _locations(exc)
    return out


_VALIDATION_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"Cannot query field '(?P<f>\w+)' on type '(?P<t>\w+)'"),
     lambda m: (f"Field '{m['f']}' doesn't exist on type '{m['t']}'",
                {"code": "undefinedField", "typeName": m["t"], "fieldName": m["f"]})),
    (re.compile(r"Unknown argument '(?P<a>\w+)' on field '\w+\.(?P<f>\w+)'"),
     lambda m: (f"Field '{m['f']}' doesn't accept argument '{m['a']}'",
                {"code": "argumentNotAccepted", "name": m["f"], "typeName": "Field",
                 "argumentName": m["a"]})),
    (re.compile(r"Unknown directive '@(?P<d>\w+)'"),
     lambda m: (f"Directive @{m['d']} is not defined",
                {"code": "undefinedDirective", "directiveName": m["d"]})),
    (re.compile(r"Variable '\$(?P<v>\w+)' is never used(?: in operation '(?P<o>\w+)')?"),
     lambda m: (f"Variable ${m['v']} is declared by {m['o'] or 'anonymous operation'} "
                "but not used", {"code": "variableNotUsed", "variableName": m["v"]})),
    (re.compile(r"Variable '\$(?P<v>\w+)' is not defined(?: by operation '(?P<o>\w+)')?"),
     lambda m: (f"Variable ${m['v']} is used by {m['o'] or 'anonymous operation'} "
                "but not declared", {"code": "variableNotDefined", "variableName": m["v"]})),
    (re.compile(r"Field '(?P<f>\w+)' argument '(?P<a>\w+)' of type '[^']+' is required"),
     lambda m: (f"Field '{m['f']}' is missing required arguments: {m['a']}",
                {"code": "missingRequiredArguments", "className": "Field", "name": m["f"],
                 "arguments": m["a"]})),
    (re.compile(r"Field '(?P<t>\w+)\.(?P<f>\w+)' of required type '(?P<ty>[^']+)' was not"),
     lambda m: (f"Argument '{m['f']}' on InputObject '{m['t']}' is required. "
                f"Expected type {m['ty']}",
                {"code": "missingRequiredInputObjectAttribute", "argumentName": m["f"],
                 "argumentType": m["ty"], "inputObjectType": m["t"]})),
]


def shopify_validation_error(exc: GraphQLError) -> dict[str, Any]:
    message, extensions = exc.message, {"code": "validationError"}  # ASSUMED fallback code
    for pattern, build in _VALIDATION_PATTERNS:
        m = pattern.search(exc.message)
        if m:
            message, extensions = build(m)
            break
    out: dict[str, Any] = {"message": message}
    if exc.locations:
        out["locations"] = _locations(exc)
    out["extensions"] = extensions
    return out


def coerce_variables(schema: GraphQLSchema, op: OperationDefinitionNode,
                     raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Shopify's INVALID_VARIABLE errors for the operation's variables (empty: all good)."""
    errors = []
    for var_def in op.variable_definitions or ():
        name = var_def.variable.name.value
        vtype = type_from_ast(schema, var_def.type)
        type_str = str(vtype)
        value = raw.get(name, Undefined)
        problems: list[dict[str, Any]] = []
        if value is Undefined or value is None:
            if type_str.endswith("!") and var_def.default_value is None:
                problems.append({"path": [], "explanation": "Expected value to not be null"})
        else:
            def on_error(error, path, problems=problems):
                problems.append(_problem(list(path or []), error.message))

            validate_input_value(value, vtype, on_error, True)
        if problems:
            first = problems[0]
            where = ".".join(str(p) for p in first["path"])
            message = f"Variable ${name} of type {type_str} was provided invalid value"
            if where:
                message += f" for {where} ({first['explanation']})"
            errors.append({"message": message,
                           "locations": [{"line": var_def.loc.start_token.line,
                                          "column": var_def.loc.start_token.column}]
                           if var_def.loc else [],
                           "extensions": {"code": "INVALID_VARIABLE",
                                          "value": None if value is Undefined else value,
                                          "problems": problems}})
    return errors


def _problem(path: list[Any], message: str) -> dict[str, Any]:
    """graphql-core's wording -> Shopify's (graphql-ruby) explanation."""
    m = re.search(r"of type '(\w+)' not to include unknown field '(\w+)'", message)
    if m:
        return {"path": [*path, m[2]], "explanation": f"Field is not defined on {m[1]}"}
    m = re.search(r"to include required field '(\w+)'", message)
    if m:
        return {"path": [*path, m[1]], "explanation": "Expected value to not be null"}
    m = re.search(r"non-null type '[^']+' (?:to be provided|not to be None)", message)
    if m:
        return {"path": path, "explanation": "Expected value to not be null"}
    m = re.search(r"Value '([^']*)' does not exist in '(\w+)' enum", message) or \
        re.search(r"Enum '(\w+)' cannot represent value: '?([^'.]*)", message)
    if m:
        enum, value = (m[2], m[1]) if "does not exist" in message else (m[1], m[2])
        return {"path": path, "explanation": f"Expected \"{value}\" to be one of: "
                + ", ".join(_enum_values(enum))}
    return {"path": path, "explanation": message.rstrip(".")}


def _enum_values(type_name: str) -> list[str]:
    gtype = served_schema().type_map.get(type_name)
    return list(getattr(gtype, "values", {}).keys()) if gtype else []


def resolver_error(message: str, code: str, node: FieldNode | None = None) -> GraphQLError:
    return GraphQLError(message, nodes=[node] if node else None, extensions={"code": code})


def describe_type(name: str) -> str:
    return print_type(served_schema().type_map[name])
