"""A small validator for the OpenAPI 3.0 subset the commercetools spec uses.

Supports type, properties, required (incl. the RAML-style "/regex/" pattern names, which
constrain the keys of map-like objects), enum, items, $ref, allOf, oneOf/anyOf, discriminator
(with mapping), additionalProperties; `format` is ignored. Issues are reported with
commercetools' path style ("actions -> transaction -> amount -> centAmount").

The spec's polymorphic bases carry the discriminator and each member is `allOf: [base, own]`;
a discriminator being dispatched is skipped when the member refers back to its base.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

EXTRACT_PATH = Path(__file__).with_name("spec_extract.json")


@dataclass(frozen=True)
class Issue:
    path: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return f"{' -> '.join(self.path)}: {self.message}" if self.path else self.message


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _is_pattern_name(name: str) -> bool:
    return len(name) >= 2 and name.startswith("/") and name.endswith("/")


class SchemaValidator:
    """Validate JSON values against named schemas.

    `strict=True` also refuses properties no schema in the (merged) object declares, where the
    schema allows no additionalProperties. The official spec is lax here; the sandbox is
    strict so a misspelt field in a connector fails loudly.  # ASSUMED: the real API refuses
    unknown fields in update actions with InvalidJsonInput.
    """

    def __init__(self, schemas: dict[str, Any], *, strict: bool = False) -> None:
        self.schemas = schemas
        self.strict = strict

    def errors(self, schema_name: str, value: Any) -> list[Issue]:
        issues: list[Issue] = []
        self._check({"$ref": f"#/components/schemas/{schema_name}"}, value, (), issues,
                    frozenset(), top=True)
        return issues

    def is_valid(self, schema_name: str, value: Any) -> bool:
        return not self.errors(schema_name, value)

    # --------------------------------------------------------------------------------------
    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = _ref_name(schema["$ref"])
            if name not in self.schemas:
                raise KeyError(f"schema {name!r} is not in the extract")
            schema = self.schemas[name]
        return schema

    def _check(self, schema: dict[str, Any], value: Any, path: tuple[str, ...],
               issues: list[Issue], active: frozenset[int], *, top: bool,
               declared: frozenset[str] = frozenset()) -> None:
        schema = self._resolve(schema)
        disc = schema.get("discriminator")
        if disc is not None and id(disc) not in active and isinstance(value, dict):
            prop = disc["propertyName"]
            tag = value.get(prop)
            if tag is None:
                if prop in schema.get("required", ()):
                    issues.append(Issue(path + (prop,), "Missing required value"))
                    return
            else:
                target = disc.get("mapping", {}).get(tag)
                if target is None:
                    issues.append(Issue(path + (prop,), f"Unknown value '{tag}'"))
                    return
                self._check({"$ref": target}, value, path, issues, active | {id(disc)}, top=top)
                return
        if schema.get("allOf") and isinstance(value, dict):
            # a member's additionalProperties must not refuse what a sibling part declares
            declared = declared | self._known(schema, active, set())[0]
        for part in schema.get("allOf", ()):
            self._check(part, value, path, issues, active, top=False, declared=declared)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                matches = 0
                for option in schema[key]:
                    trial: list[Issue] = []
                    self._check(option, value, path, trial, active, top=True)
                    matches += not trial
                if matches == 0 or (key == "oneOf" and matches > 1):
                    issues.append(Issue(path, f"does not match exactly one of {key}"))
        if not self._type_ok(schema.get("type"), value, path, issues):
            return
        if "enum" in schema and value not in schema["enum"]:
            issues.append(Issue(path, f"Unknown value '{value}' (allowed: "
                                      f"{', '.join(map(str, schema['enum']))})"))
        if isinstance(value, list) and "items" in schema:
            for item in value:
                self._check(schema["items"], item, path, issues, active, top=True)
        if isinstance(value, dict):
            self._check_object(schema, value, path, issues, active, declared)
            if top and self.strict:
                known, open_ = self._known(schema, active, set())
                if not open_:
                    for key in value:
                        if key not in known:
                            issues.append(Issue(path + (key,), "Unknown field"))

    def _type_ok(self, kind: str | None, value: Any, path: tuple[str, ...],
                 issues: list[Issue]) -> bool:
        ok = {
            None: True,
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }.get(kind, True)
        if not ok:
            issues.append(Issue(path, f"expected {kind}, got {_json_kind(value)}"))
        return ok

    def _check_object(self, schema: dict[str, Any], value: dict[str, Any],
                      path: tuple[str, ...], issues: list[Issue], active: frozenset[int],
                      declared: frozenset[str]) -> None:
        props = schema.get("properties", {})
        patterns = [re.compile(n[1:-1]) for n in schema.get("required", ()) if _is_pattern_name(n)]
        for name in schema.get("required", ()):
            if not _is_pattern_name(name) and name not in value:
                issues.append(Issue(path + (name,), "Missing required value"))
        for key, item in value.items():
            if key in props:
                self._check(props[key], item, path + (key,), issues, active, top=True)
                continue
            if key in declared:
                continue
            if patterns and not any(p.match(key) for p in patterns):
                issues.append(Issue(path + (key,), "invalid name"))
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and (patterns or not props):
                self._check(extra, item, path + (key,), issues, active, top=True)
            elif extra is False:
                issues.append(Issue(path + (key,), "Unknown field"))

    def _known(self, schema: dict[str, Any], active: frozenset[int],
               seen: set[int]) -> tuple[set[str], bool]:
        """Property names declared anywhere in the merged schema; open: anything goes."""
        schema = self._resolve(schema)
        if id(schema) in seen:
            return set(), False
        seen.add(id(schema))
        names = set(schema.get("properties", {}))
        open_ = schema.get("additionalProperties", False) is not False
        if schema.get("type") is None and not schema.get("properties") and not schema.get("allOf") \
                and "discriminator" not in schema and not schema.get("required"):
            open_ = True  # an empty schema: any value
        for part in schema.get("allOf", ()):
            more, part_open = self._known(part, active, seen)
            names |= more
            open_ = open_ or part_open
        for key in ("oneOf", "anyOf"):
            for option in schema.get(key, ()):
                more, part_open = self._known(option, active, seen)
                names |= more
                open_ = open_ or part_open
        return names, open_


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "integer",
            float: "number"}.get(type(value), type(value).__name__)


@lru_cache(maxsize=1)
def load_extract() -> dict[str, Any]:
    return json.loads(EXTRACT_PATH.read_text(encoding="utf-8"))


def extract_validator(*, strict: bool = False) -> SchemaValidator:
    return SchemaValidator(load_extract()["schemas"], strict=strict)
