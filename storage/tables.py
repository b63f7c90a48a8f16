"""The tables. One row type per concept of DESIGN.md "State worth a table each".

Times are UTC. Money is integer minor units plus an ISO currency code. JSON columns hold
payloads that are read whole (raw platform payloads, action payloads, call records).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always gives them back aware (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: Returnline stores UTC-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=True))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class ReturnRow(SQLModel, table=True):
    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("platform", "platform_id", name="uq_returns_platform_id"),
        Index("ix_returns_state_updated", "state", "updated_at"),
    )

    return_id: str = Field(primary_key=True)
    platform: str
    platform_id: str = Field(index=True)  # searched alone (the unique key leads with platform)
    rma: str | None = Field(default=None, index=True)
    order_ref: str = Field(index=True)
    customer_email: str | None = Field(default=None, index=True)
    store: str | None = None
    currency: str | None = None
    state: str = Field(default="requested")
    platform_status: str = "requested"
    money_mover: str = "returnline"
    value_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    requested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    graded_at: datetime | None = _ts()
    closed_at: datetime | None = _ts()
    order_first_sought_at: datetime | None = _ts()
    wake_at: datetime | None = _ts(index=True)  # re-plan then even if nothing else changes
    facts: dict | None = _json()  # the canonical Return as the returns platform last said
    # Gradings from warehouse feeds (ShipBob, CSV), kept apart so a platform poll never
    # overwrites them: [{"line_id", "sku", "grading": {...}, "source_key"}]
    warehouse_gradings: list | None = _json()
    facts_hash: str | None = None
    label: str | None = Field(default=None, index=True)  # a scenario's name for it, when replayed


class ReturnLineRow(SQLModel, table=True):
    __tablename__ = "return_lines"
    __table_args__ = (UniqueConstraint("return_id", "line_id", name="uq_return_lines"),)

    id: int | None = Field(default=None, primary_key=True)
    return_id: str = Field(foreign_key="returns.return_id")  # searched via uq_return_lines
    line_id: str
    sku: str = Field(index=True)
    qty: int
    raw_reason: str = Field(default="", index=True)
    reason_code: str | None = Field(default=None, index=True)
    resolution: str = "refund"
    exchange_sku: str | None = None
    condition: str | None = None
    disposition: str | None = None


class OrderSnapshotRow(SQLModel, table=True):
    __tablename__ = "order_snapshots"

    commerce: str = Field(primary_key=True)
    order_ref: str = Field(primary_key=True)
    order_id: str | None = None
    state: str | None = None
    currency: str | None = None
    version: int | None = None
    snapshot: dict | None = _json()
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TimelineEventRow(SQLModel, table=True):
    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_return_at", "return_id", "at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    # Idempotency: a replayed observation maps to the same source_key and is ignored.
    source_key: str = Field(unique=True)
    return_id: str  # searched via ix_timeline_return_at
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    system: str  # returnline, shopify, rebound, erp, wms, operator...
    kind: str  # observed, decision, action, hold, exception, operator
    summary: str  # plain words for people
    data: dict | None = _json()


class ActionRow(SQLModel, table=True):
    """The outbox: one row per effect that must happen exactly once in an external system."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_ready", "status", "next_attempt_at"),
        Index("ix_actions_kind_status", "kind", "status"),
    )

    key: str = Field(primary_key=True)  # the idempotency key sent to the external system
    return_id: str = Field(index=True)
    kind: str
    system: str
    payload: dict | None = _json()
    depends_on: list | None = _json()
    batchable: bool = False
    # planned -> ready -> in_flight -> succeeded | failed (will retry) | dead (gave up) | cancelled
    status: str = Field(default="ready")
    attempts: int = 0
    next_attempt_at: datetime | None = _ts()
    lease_owner: str | None = None
    lease_expires_at: datetime | None = _ts()
    outcome_unknown: bool = False  # the last attempt may have applied: look up before resending
    external_id: str | None = None
    result: dict | None = _json()
    last_error: str | None = _text()
    last_error_code: str | None = None
    last_call: dict | None = _json()
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class HoldRow(SQLModel, table=True):
    __tablename__ = "holds"
    __table_args__ = (Index("ix_holds_open", "decision", "opened_at"),)

    key: str = Field(primary_key=True)
    return_id: str = Field(index=True)
    kind: str  # refund_approval, unknown_reason...
    amount_minor: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = None
    reason: str = ""
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decision: str | None = None  # None while open; approved | rejected | released
    decided_at: datetime | None = _ts()
    decided_by: str | None = None
    note: str | None = _text()


class ExceptionRow(SQLModel, table=True):
    __tablename__ = "exceptions"
    __table_args__ = (
        Index("ix_exceptions_owner_open", "owner", "resolved_at"),
        Index("ix_exceptions_type_open", "type", "resolved_at"),
    )

    key: str = Field(primary_key=True)
    return_id: str = Field(index=True)
    type: str
    owner: str
    message: str = ""
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime | None = _ts()
    resolved_at: datetime | None = _ts()
    resolution: str | None = _text()  # auto: <why> | the operator's note
    resolved_by: str | None = None


class ReasonCodeRow(SQLModel, table=True):
    __tablename__ = "reason_codes"

    code: str = Field(primary_key=True)
    label: str = ""
    implies_defect: bool = False


class ReasonMappingRow(SQLModel, table=True):
    __tablename__ = "reason_mappings"

    platform: str = Field(primary_key=True)  # "*" for every platform
    raw: str = Field(primary_key=True)  # normalised raw text (casefolded, spaces collapsed)
    code: str = Field(foreign_key="reason_codes.code")
    created_by: str = "config"
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DispositionMappingRow(SQLModel, table=True):
    __tablename__ = "disposition_mappings"

    condition: str = Field(primary_key=True)
    disposition: str


class WarehouseRow(SQLModel, table=True):
    __tablename__ = "warehouses"

    warehouse_id: str = Field(primary_key=True)
    name: str = ""


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"

    location_id: str = Field(primary_key=True)
    warehouse_id: str = Field(foreign_key="warehouses.warehouse_id", index=True)
    sellable: bool = True
    active: bool = True
    commerce_location_id: str | None = None


class BundleComponentRow(SQLModel, table=True):
    __tablename__ = "bundle_components"

    bundle_sku: str = Field(primary_key=True)
    component_sku: str = Field(primary_key=True)
    qty: int = 1
    weight: int = 1


class SyncCursorRow(SQLModel, table=True):
    __tablename__ = "sync_cursors"

    source: str = Field(primary_key=True)  # e.g. "returngo:poll", "shipbob:poll", "csv:drop"
    cursor: str | None = _text()
    updated_at: datetime | None = _ts()


class ConnectorHealthRow(SQLModel, table=True):
    __tablename__ = "connector_health"

    system: str = Field(primary_key=True)
    last_ok_at: datetime | None = _ts()
    last_error_at: datetime | None = _ts()
    last_error: str | None = _text()
    consecutive_failures: int = 0
    last_poll_at: datetime | None = _ts()


class RateBudgetRow(SQLModel, table=True):
    """A rate-limit budget that must survive restarts and be shared between jobs."""

    __tablename__ = "rate_budgets"

    system: str = Field(primary_key=True)
    window: str = Field(primary_key=True)  # "day:2026-11-21", "bucket"...
    used: int = 0
    limit: int = 0
    state: dict | None = _json()
    updated_at: datetime | None = _ts()


class AuditLogRow(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(index=True)
    role: str | None = None
    operation: str  # approve, reject, reclassify, retry, resolve, pause...
    target: str = ""
    allowed: bool = True
    before: dict | None = _json()
    after: dict | None = _json()
    note: str | None = _text()


class WebhookEventRow(SQLModel, table=True):
    """Raw webhook deliveries, stored before answering 2xx, deduplicated."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("platform", "dedupe_key", name="uq_webhook_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    dedupe_key: str
    event_type: str = ""
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    headers: dict | None = _json()
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    processed_at: datetime | None = _ts(index=True)
    error: str | None = _text()


class ImportedFileRow(SQLModel, table=True):
    __tablename__ = "imported_files"

    name: str = Field(primary_key=True)
    sha256: str = Field(primary_key=True)
    imported_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    good_rows: int = 0
    bad_rows: int = 0


class PendingGradingRow(SQLModel, table=True):
    """A warehouse verdict whose return Returnline has not seen yet: kept, matched later."""

    __tablename__ = "pending_gradings"

    source_key: str = Field(primary_key=True)
    rma: str = Field(index=True)
    sku: str
    grading: dict | None = _json()
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
