"""Master data in the database: reason codes and mappings, dispositions, warehouses and
locations, bundles. Seeded from config or a scenario; read back as `rules.Mappings`.

Reclassifying a reason writes here (storage), so every process sees the new mapping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from rules.mappings import ANY_PLATFORM, Mappings, normalise_reason
from storage.tables import (
    BundleComponentRow,
    DispositionMappingRow,
    LocationRow,
    ReasonCodeRow,
    ReasonMappingRow,
    WarehouseRow,
)


def seed_master_data(s: Session, data: dict[str, Any], now: datetime, *, by: str = "config") -> None:
    """Write warehouses, reasons, bundles and dispositions as given (validated by the rules'
    own parser first, so bad master data is refused with its reason before anything is stored)."""
    Mappings.from_dict(data)
    reasons = data.get("reasons") or {}
    defect = set(reasons.get("defect") or [])
    for code in reasons.get("master") or []:
        row = s.get(ReasonCodeRow, code) or ReasonCodeRow(code=code)
        row.implies_defect = code in defect if defect else row.implies_defect
        s.add(row)
    s.flush()
    tables = [(ANY_PLATFORM, reasons.get("map") or {})]
    tables += list((reasons.get("platforms") or {}).items())
    for platform, entries in tables:
        for raw, code in entries.items():
            key = (platform, normalise_reason(raw))
            row = s.get(ReasonMappingRow, key)
            if row is None:
                s.add(ReasonMappingRow(platform=platform, raw=key[1], code=code, created_by=by,
                                       created_at=now))
            elif by != "config" or row.created_by == "config":
                row.code = code  # an operator's reclassification outlives a config reload
    for wh in data.get("warehouses") or []:
        s.merge(WarehouseRow(warehouse_id=wh["id"], name=wh.get("name", "")))
        s.flush()
        for loc in wh.get("locations") or []:
            s.merge(LocationRow(location_id=loc["id"], warehouse_id=wh["id"],
                                sellable=loc["sellable"], active=loc.get("active", True),
                                commerce_location_id=loc.get("commerce_location_id")))
    for bundle in data.get("bundles") or []:
        s.execute(delete(BundleComponentRow).where(BundleComponentRow.bundle_sku == bundle["sku"]))
        for comp in bundle["components"]:
            s.add(BundleComponentRow(bundle_sku=bundle["sku"], component_sku=comp["sku"],
                                     qty=comp.get("qty", 1), weight=comp.get("weight", 1)))
    for cond, disp in (data.get("dispositions") or {}).items():
        s.merge(DispositionMappingRow(condition=cond, disposition=disp))
    s.flush()


def from_config(data: dict[str, Any]) -> dict[str, Any] | None:
    """The master data a returnline.toml holds ([reasons], [[warehouses]], [[bundles]],
    [dispositions]) in seed_master_data's shape; None when it holds none."""
    reasons = data.get("reasons") or {}
    out = {
        "reasons": {k: v for k, v in {"master": reasons.get("master"), "map": reasons.get("map"),
                                      "defect": reasons.get("defect")}.items() if v},
        "warehouses": data.get("warehouses") or [],
        "bundles": data.get("bundles") or [],
        "dispositions": data.get("dispositions") or {},
    }
    return out if any(out.values()) else None


def mappings_dict(s: Session) -> dict[str, Any]:
    codes = list(s.execute(select(ReasonCodeRow).order_by(ReasonCodeRow.code)).scalars())
    shared: dict[str, str] = {}
    platforms: dict[str, dict[str, str]] = {}
    for m in s.execute(select(ReasonMappingRow)).scalars():
        (shared if m.platform == ANY_PLATFORM else platforms.setdefault(m.platform, {}))[m.raw] = \
            m.code
    defect = [c.code for c in codes if c.implies_defect]
    warehouses = []
    for wh in s.execute(select(WarehouseRow).order_by(WarehouseRow.warehouse_id)).scalars():
        locs = s.execute(select(LocationRow).where(LocationRow.warehouse_id == wh.warehouse_id)
                         .order_by(LocationRow.location_id)).scalars()
        warehouses.append({"id": wh.warehouse_id, "name": wh.name, "locations": [
            {"id": loc.location_id, "sellable": loc.sellable, "active": loc.active,
             "commerce_location_id": loc.commerce_location_id} for loc in locs]})
    bundles: dict[str, list[dict[str, Any]]] = {}
    for b in s.execute(select(BundleComponentRow).order_by(
            BundleComponentRow.bundle_sku, BundleComponentRow.component_sku)).scalars():
        bundles.setdefault(b.bundle_sku, []).append(
            {"sku": b.component_sku, "qty": b.qty, "weight": b.weight})
    return {
        "reasons": {"master": [c.code for c in codes], "map": shared, "platforms": platforms,
                    **({"defect": defect} if defect else {})},
        "warehouses": warehouses,
        "bundles": [{"sku": sku, "components": comps} for sku, comps in bundles.items()],
        "dispositions": {d.condition: d.disposition
                         for d in s.execute(select(DispositionMappingRow)).scalars()},
    }


def load_mappings(s: Session) -> Mappings:
    return Mappings.from_dict(mappings_dict(s))


def set_location_active(s: Session, location_id: str, active: bool) -> bool:
    row = s.get(LocationRow, location_id)
    if row is None:
        return False
    row.active = active
    s.add(row)
    return True
