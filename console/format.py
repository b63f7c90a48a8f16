"""Plain-words formatting for cells: money from minor units, ages, times."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.money import Money, MoneyError


def money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return "-"
    if not currency:
        return str(minor)
    try:
        return str(Money(int(minor), currency))
    except MoneyError:
        return f"{currency} {minor}"


def age(delta: timedelta | None) -> str:
    """"3d 4h", "2h 05m", "12m"."""
    if delta is None:
        return "-"
    secs = int(delta.total_seconds())
    sign = "-" if secs < 0 else ""
    secs = abs(secs)
    days, rem = divmod(secs, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m"


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


def clock(at: datetime | None) -> str:
    return at.strftime("%H:%M:%S") if at else "-"


def short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def middle(text: str | None, width: int) -> str:
    """Cut from the middle, keeping the distinctive tail of long ids:
    "rebound:1007:…000000088812"."""
    text = text or ""
    if len(text) <= width:
        return text
    head = -(-(width - 1) * 5 // 8)  # the head names the platform and order: keep more of it
    tail = width - 1 - head
    return text[:head] + "…" + text[-tail:]
