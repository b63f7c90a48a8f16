"""Master data the rules read: reason codes, dispositions, warehouses, bundles.

- Reasons: one master list of codes. A platform's reason text or code is matched ignoring
  case and extra spaces ("  too SMALL " is "Too small"), first against that platform's own
  table, then the shared table, then the master codes themselves. Some master reasons say the
  item is defective (FAULTY, DAMAGED...): those feed the reason/grade contradiction check.
- Dispositions: what the warehouse's grade means for stock (sellable -> restock, damaged,
  faulty, used -> quarantine, missing or wrong item -> nothing).
- Warehouses: their locations, each sellable or not and active or not.
- Routing: a return goes to its destination warehouse, else the warehouse that graded it,
  else the default warehouse.
- Bundles: a bundle SKU is made of components, each with a quantity and a weight (the relative
  value of one unit of that component, used to split the bundle's price).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rules.model import Condition, Disposition, Grading, Location, Return, ReturnLine, Warehouse


class MappingsError(ValueError):
    """Master data that cannot be used as written; the message says where and why."""


DEFAULT_DISPOSITIONS: dict[Condition, Disposition] = {
    Condition.SELLABLE: Disposition.RESTOCK,
    Condition.DAMAGED: Disposition.QUARANTINE,
    Condition.FAULTY: Disposition.QUARANTINE,
    Condition.USED: Disposition.QUARANTINE,
    Condition.MISSING: Disposition.NONE,
    Condition.WRONG_ITEM: Disposition.NONE,
}

# Without an explicit list, a master code naming one of these words implies a defect.
_DEFECT_WORDS = ("FAULT", "DAMAGE", "DEFECT", "BROKEN")

ANY_PLATFORM = "*"


def normalise_reason(text: str) -> str:
    """The form reason text is matched in: case-folded, spaces collapsed."""
    return " ".join(str(text).split()).casefold()


@dataclass(frozen=True)
class BundleComponent:
    sku: str
    qty: int = 1
    weight: int = 1  # relative value of ONE unit of this component


@dataclass(frozen=True)
class Bundle:
    sku: str
    components: tuple[BundleComponent, ...]

    def component(self, sku: str) -> BundleComponent | None:
        return next((c for c in self.components if c.sku == sku), None)


@dataclass(frozen=True)
class Mappings:
    master_reasons: tuple[str, ...] = ()
    reason_map: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (platform, raw)
    defect_reasons: frozenset[str] | None = None  # None: derive from the code's words
    dispositions: Mapping[Condition, Disposition] = field(
        default_factory=lambda: dict(DEFAULT_DISPOSITIONS))
    warehouses: Mapping[str, Warehouse] = field(default_factory=dict)
    default_warehouse: str | None = None  # None: the first warehouse configured
    bundles: Mapping[str, Bundle] = field(default_factory=dict)

    # -- reasons ----------------------------------------------------------------------------
    def map_reason(self, line: ReturnLine, platform: str = ANY_PLATFORM) -> str | None:
        """The master code for a line's reason, or None when nobody has mapped it yet."""
        candidates = [line.platform_reason_code, line.raw_reason]
        for raw in (normalise_reason(c) for c in candidates if c and str(c).strip()):
            for scope in (platform, ANY_PLATFORM):
                code = self.reason_map.get((scope, raw))
                if code:
                    return code
            for code in self.master_reasons:
                if normalise_reason(code) == raw:
                    return code
        return None

    def with_reason(self, raw: str, code: str, platform: str = ANY_PLATFORM) -> Mappings:
        """Reclassification: teach the mapping raw -> code (code must be a master reason)."""
        if code not in self.master_reasons:
            raise MappingsError(f"{code!r} is not a master reason code: {list(self.master_reasons)}")
        new_map = dict(self.reason_map)
        new_map[(platform, normalise_reason(raw))] = code
        return replace(self, reason_map=new_map)

    def implies_defect(self, code: str | None) -> bool:
        if code is None:
            return False
        if self.defect_reasons is not None:
            return code in self.defect_reasons
        return any(word in code.upper() for word in _DEFECT_WORDS)

    # -- stock ------------------------------------------------------------------------------
    def disposition(self, condition: Condition) -> Disposition:
        return self.dispositions.get(condition, DEFAULT_DISPOSITIONS[condition])

    def route(self, ret: Return, grading: Grading | None = None) -> str | None:
        """The warehouse a return's goods are booked into."""
        if ret.destination_warehouse:
            return ret.destination_warehouse
        if grading is not None and grading.warehouse:
            return grading.warehouse
        if self.default_warehouse:
            return self.default_warehouse
        return next(iter(self.warehouses), None)

    def warehouse(self, warehouse_id: str | None) -> Warehouse | None:
        return self.warehouses.get(warehouse_id) if warehouse_id else None

    def location(self, location_id: str) -> tuple[Warehouse, Location] | None:
        for wh in self.warehouses.values():
            for loc in wh.locations:
                if loc.location_id == location_id:
                    return wh, loc
        return None

    # -- bundles ----------------------------------------------------------------------------
    def bundle(self, sku: str | None) -> Bundle | None:
        return self.bundles.get(sku) if sku else None

    # -- reading the scenario / config ------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Mappings:
        """Build from the scenario's "warehouses", "reasons", "bundles" (and optional
        "dispositions": {"used": "restock"}, "default_warehouse": "uk-dc").

        reasons: {"master": [...], "map": {"Too small": "TOO_SMALL"},
                  "platforms": {"returngo": {"SIZE_S": "TOO_SMALL"}}, "defect": ["FAULTY"]}
        """
        data = {} if data is None else data
        if not isinstance(data, Mapping):
            raise MappingsError(f"mappings must be an object, got {type(data).__name__}")
        master, reason_map, defect = _reasons(_given(data, "reasons", {}))
        warehouses = _warehouses(_given(data, "warehouses", []))
        default = data.get("default_warehouse")
        if default is not None and default not in warehouses:
            raise MappingsError(f"default_warehouse {default!r} is not one of {list(warehouses)}")
        return cls(master_reasons=master, reason_map=reason_map, defect_reasons=defect,
                   dispositions=_dispositions(_given(data, "dispositions", {})),
                   warehouses=warehouses, default_warehouse=default,
                   bundles=_bundles(_given(data, "bundles", [])))


def _given(data: Mapping[str, Any], key: str, default: Any) -> Any:
    """The value as written (so a wrong type is reported), or the default when absent/null."""
    value = data.get(key)
    return default if value is None else value


def _reasons(data: Any) -> tuple[tuple[str, ...], dict[tuple[str, str], str], frozenset | None]:
    if not isinstance(data, Mapping):
        raise MappingsError(f"reasons must be an object with master/map, got {data!r}")
    master = _given(data, "master", [])
    if not isinstance(master, list) or not all(isinstance(c, str) and c.strip() for c in master):
        raise MappingsError(f"reasons.master must be a list of codes, got {master!r}")
    master_t = tuple(c.strip() for c in master)
    table: dict[tuple[str, str], str] = {}

    def add(scope: str, where: str, entries: Any) -> None:
        if not isinstance(entries, Mapping):
            raise MappingsError(f"{where} must map raw reason to code, got {entries!r}")
        for raw, code in entries.items():
            if code not in master_t:
                raise MappingsError(f"{where}: {raw!r} maps to {code!r}, "
                                    f"which is not in reasons.master {list(master_t)}")
            table[(scope, normalise_reason(raw))] = code

    add(ANY_PLATFORM, "reasons.map", _given(data, "map", {}))
    platforms = _given(data, "platforms", {})
    if not isinstance(platforms, Mapping):
        raise MappingsError(f"reasons.platforms must map platform to a table, got {platforms!r}")
    for platform, entries in platforms.items():
        add(str(platform), f"reasons.platforms.{platform}", entries)
    defect = data.get("defect")
    if defect is not None:
        if not isinstance(defect, list) or any(c not in master_t for c in defect):
            raise MappingsError(f"reasons.defect must list master codes, got {defect!r}")
        defect = frozenset(defect)
    return master_t, table, defect


def _warehouses(data: Any) -> dict[str, Warehouse]:
    if not isinstance(data, list):
        raise MappingsError(f"warehouses must be a list, got {data!r}")
    out: dict[str, Warehouse] = {}
    seen_locations: set[str] = set()
    for i, wh in enumerate(data):
        where = f"warehouses[{i}]"
        if not isinstance(wh, Mapping) or not isinstance(wh.get("id"), str) or not wh["id"]:
            raise MappingsError(f"{where}: needs an \"id\"")
        locations = []
        for j, loc in enumerate(_given(wh, "locations", [])):
            lwhere = f"{where}.locations[{j}]"
            if not isinstance(loc, Mapping) or not isinstance(loc.get("id"), str) or not loc["id"]:
                raise MappingsError(f"{lwhere}: needs an \"id\"")
            if not isinstance(loc.get("sellable"), bool):
                raise MappingsError(f"{lwhere}: \"sellable\" must be true or false")
            active = loc.get("active", True)
            if not isinstance(active, bool):
                raise MappingsError(f"{lwhere}: \"active\" must be true or false")
            if loc["id"] in seen_locations:
                raise MappingsError(f"{lwhere}: location id {loc['id']!r} used twice")
            seen_locations.add(loc["id"])
            locations.append(Location(loc["id"], sellable=loc["sellable"], active=active,
                                      commerce_location_id=loc.get("commerce_location_id")))
        if wh["id"] in out:
            raise MappingsError(f"{where}: warehouse id {wh['id']!r} used twice")
        out[wh["id"]] = Warehouse(wh["id"], tuple(locations), name=wh.get("name", ""))
    return out


def _dispositions(data: Any) -> dict[Condition, Disposition]:
    if not isinstance(data, Mapping):
        raise MappingsError(f"dispositions must map condition to disposition, got {data!r}")
    out = dict(DEFAULT_DISPOSITIONS)
    for cond, disp in data.items():
        try:
            out[Condition(cond)] = Disposition(disp)
        except ValueError:
            raise MappingsError(
                f"dispositions: {cond!r} -> {disp!r}: conditions are "
                f"{[c.value for c in Condition]}, dispositions {[d.value for d in Disposition]}"
            ) from None
    return out


def _bundles(data: Any) -> dict[str, Bundle]:
    if not isinstance(data, list):
        raise MappingsError(f"bundles must be a list, got {data!r}")
    out: dict[str, Bundle] = {}
    for i, b in enumerate(data):
        where = f"bundles[{i}]"
        if not isinstance(b, Mapping) or not isinstance(b.get("sku"), str) or not b["sku"]:
            raise MappingsError(f"{where}: needs a \"sku\"")
        comps = []
        for j, c in enumerate(_given(b, "components", [])):
            cwhere = f"{where}.components[{j}]"
            if not isinstance(c, Mapping) or not isinstance(c.get("sku"), str) or not c["sku"]:
                raise MappingsError(f"{cwhere}: needs a \"sku\"")
            qty, weight = c.get("qty", 1), c.get("weight", 1)
            if not _int(qty) or qty < 1:
                raise MappingsError(f"{cwhere}: qty must be a whole number >= 1, got {qty!r}")
            if not _int(weight) or weight < 0:
                raise MappingsError(f"{cwhere}: weight must be a whole number >= 0, got {weight!r}")
            comps.append(BundleComponent(c["sku"], qty, weight))
        if not comps:
            raise MappingsError(f"{where}: a bundle needs at least one component")
        if sum(c.weight * c.qty for c in comps) <= 0:
            raise MappingsError(f"{where}: component weights must not all be zero")
        if len({c.sku for c in comps}) != len(comps):
            raise MappingsError(f"{where}: a component SKU is listed twice")
        out[b["sku"]] = Bundle(b["sku"], tuple(comps))
    return out


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
