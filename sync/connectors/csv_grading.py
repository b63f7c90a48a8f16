"""Warehouse grading from CSV files (what most 3PLs drop on SFTP), and the drop folder.

`parse_grading_csv` turns one file into good rows (GradedLine) and bad rows (row number +
reason); one bad row never blocks the good ones. `DropFolder` finds new files, skips any the
caller says were already imported (by name + sha256), and, once the caller has recorded an
import, writes `<file>.rejects.csv` next to the original and moves the file into `done/`.
Nothing here touches the database: the engine records results and opens the exceptions.

Columns are mapped by config; the defaults accept the header names common in 3PL files
(Landmark "Return RMA Number"/"Item Quantity", Amazon FBA "order-id"/"detailed-disposition",
35up "item_sku"/"returned_qty", Swap "Product SKU"/"Returned quantity", ...). Reference C4.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules.model import Condition
from sync.connectors.base import GradedLine

FIELDS = ("rma", "order", "sku", "quantity", "condition", "received_at", "location", "unit")
REQUIRED = ("rma", "sku", "quantity", "condition")

DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "rma": ("rma", "rma number", "return rma number", "return rma", "rma id", "return reference",
            "return ref", "reference id", "return id", "return number", "returns reference"),
    "order": ("order", "order number", "order id", "order no", "order reference",
              "shipment reference", "store order id", "original order"),
    "sku": ("sku", "product sku", "item sku", "seller sku", "merchant sku", "item code",
            "product code", "article number"),
    "quantity": ("quantity", "qty", "item quantity", "returned quantity", "returned qty",
                 "return quantity", "quantity received", "received quantity", "units"),
    "condition": ("condition", "grade", "grading", "disposition", "detailed disposition",
                  "item condition", "return condition", "qc result", "inspection result"),
    "received_at": ("received at", "received", "received date", "date received", "receipt date",
                    "return date", "processed at", "graded at", "inspection date"),
    "location": ("location", "bin", "fulfillment center id", "fulfillment center", "fc",
                 "warehouse", "warehouse location", "site"),
    "unit": ("license plate number", "lpn", "serial", "serial number", "unit id", "item id"),
}

DEFAULT_CONDITIONS: dict[str, Condition] = {
    **{v: Condition.SELLABLE for v in ("sellable", "good", "a", "grade a", "new", "as new",
                                       "resellable", "resaleable", "restock", "restockable",
                                       "quality approved", "ok", "pass", "unopened")},
    **{v: Condition.DAMAGED for v in ("damaged", "b", "c", "grade b", "grade c", "damage",
                                      "warehouse damaged", "carrier damaged", "customer damaged",
                                      "distributor damaged", "quarantine", "dispose", "fail",
                                      "write off", "unsellable")},
    **{v: Condition.FAULTY for v in ("faulty", "defective", "broken", "not working")},
    **{v: Condition.USED for v in ("used", "worn", "opened", "signs of use")},
    **{v: Condition.MISSING for v in ("missing", "not received", "empty box", "item missing")},
    **{v: Condition.WRONG_ITEM for v in ("wrong item", "wrong", "incorrect item",
                                         "wrong product", "not our item")},
}


@dataclass(frozen=True)
class RejectedRow:
    row: int  # 1-based, header = row 1, as a spreadsheet shows it
    reason: str
    values: dict[str, str]


@dataclass
class CsvImport:
    name: str
    sha256: str
    gradings: list[GradedLine] = field(default_factory=list)
    rejects: list[RejectedRow] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    error: str | None = None  # the whole file is unreadable (no usable header)
    path: Path | None = None

    @property
    def import_key(self) -> str:
        return f"{self.name}:{self.sha256}"


@dataclass
class CsvGradingConfig:
    warehouse: str  # Returnline warehouse id the files come from
    columns: dict[str, str | Iterable[str]] = field(default_factory=dict)  # field -> header(s)
    conditions: dict[str, Condition] = field(default_factory=dict)  # added to the defaults
    default_location: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
                                     "%d/%m/%Y %H:%M", "%d/%m/%Y")  # ASSUMED: UK day-first
    delimiter: str | None = None  # None: sniff among , ; tab |

    def aliases(self) -> dict[str, tuple[str, ...]]:
        out = dict(DEFAULT_ALIASES)
        for name, headers in self.columns.items():
            if name not in FIELDS:
                raise ValueError(f"unknown grading column {name!r}; known: {', '.join(FIELDS)}")
            given = (headers,) if isinstance(headers, str) else tuple(headers)
            out[name] = tuple(_norm(h) for h in given)
        return out

    def condition_map(self) -> dict[str, Condition]:
        return {**DEFAULT_CONDITIONS, **{_norm(k): Condition(v) for k, v in
                                         self.conditions.items()}}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[_\-.]+", " ", text.strip().lower())).strip()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # Excel exports on Windows


def _delimiter(text: str, configured: str | None) -> str:
    if configured:
        return configured
    first = text.split("\n", 1)[0]
    return max([",", ";", "\t", "|"], key=first.count)


def parse_grading_csv(data: bytes, name: str, config: CsvGradingConfig, *, now: datetime,
                      known_sku: Callable[[str], bool] | Collection[str] | None = None
                      ) -> CsvImport:
    """Parse one file. `now` stands in for a missing received-at time (the import's time)."""
    result = CsvImport(name=name, sha256=sha256_of(data))
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, config.delimiter))
    try:
        header = next(reader)
    except StopIteration:
        result.error = "empty file"
        return result
    except csv.Error as exc:
        result.error = f"unreadable CSV header: {exc}"
        return result
    result.header = header
    index = _map_columns(header, config.aliases())
    missing = [f for f in REQUIRED if f not in index]
    if missing:
        result.error = ("no column for " + ", ".join(missing) + " in header: "
                        + ", ".join(header))
        return result
    conditions = config.condition_map()
    is_known = _sku_check(known_sku)
    seen: dict[tuple[str, ...], int] = {}
    row_no = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_no += 1
            result.rejects.append(RejectedRow(row_no, f"unreadable row: {exc}", {}))
            continue
        row_no += 1
        if not any(c.strip() for c in cells):
            continue  # blank line
        values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}
        got = {f: (cells[i].strip() if i < len(cells) else "") for f, i in index.items()}
        reason = _check_row(got, conditions, is_known, config)
        if reason is None:
            dup_key = tuple(_norm(got.get(f, "")) for f in FIELDS)
            if dup_key in seen:
                reason = f"duplicate of row {seen[dup_key]}"
            else:
                seen[dup_key] = row_no
        if reason is not None:
            result.rejects.append(RejectedRow(row_no, reason, values))
            continue
        graded_at = _parse_time(got.get("received_at", ""), config.date_formats) or now
        result.gradings.append(GradedLine(
            rma=got["rma"], sku=got["sku"], qty=_parse_qty(got["quantity"]) or 0,
            condition=conditions[_norm(got["condition"])], warehouse=config.warehouse,
            graded_at=graded_at, source=f"csv:{name}",
            source_ref=f"csv:{result.sha256[:16]}:row{row_no}",
            order_ref=got.get("order") or None,
            location=got.get("location") or config.default_location,
            notes=f"{name} row {row_no}"))
    return result


def _map_columns(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, int]:
    normed = [_norm(h) for h in header]
    index: dict[str, int] = {}
    for name, names in aliases.items():
        for alias in names:
            if alias in normed and normed.index(alias) not in index.values():
                index[name] = normed.index(alias)
                break
    return index


def _sku_check(known: Callable[[str], bool] | Collection[str] | None) -> Callable[[str], bool]:
    if known is None:
        return lambda _sku: True
    if callable(known):
        return known
    return known.__contains__


def _check_row(got: dict[str, str], conditions: dict[str, Condition],
               is_known: Callable[[str], bool], config: CsvGradingConfig) -> str | None:
    if not got.get("rma"):
        return "missing RMA"
    if not got.get("sku"):
        return "missing SKU"
    if _parse_qty(got.get("quantity", "")) is None:
        return f"malformed quantity {got.get('quantity', '')!r}"
    if _norm(got.get("condition", "")) not in conditions:
        return f"unknown condition {got.get('condition', '')!r}"
    if got.get("received_at") and _parse_time(got["received_at"], config.date_formats) is None:
        return f"malformed received_at {got['received_at']!r}"
    if not is_known(got["sku"]):
        return f"unknown SKU {got['sku']!r}"
    return None


def _parse_qty(text: str) -> int | None:
    text = text.strip()
    m = re.fullmatch(r"\+?(\d+)(?:\.0+)?", text)
    if not m:
        return None
    qty = int(m.group(1))
    return qty if qty > 0 else None


def _parse_time(text: str, formats: tuple[str, ...]) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"\d{9,11}", text):  # UNIX seconds (35up-style files)
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in formats:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def import_file(path: Path, config: CsvGradingConfig, *, now: datetime,
                known_sku: Callable[[str], bool] | Collection[str] | None = None) -> CsvImport:
    """`returnline import grading FILE`: parse a file by hand (the caller records it)."""
    result = parse_grading_csv(path.read_bytes(), path.name, config, now=now, known_sku=known_sku)
    result.path = path
    return result


def write_rejects(result: CsvImport, target: Path) -> Path | None:
    """`<file>.rejects.csv`: row, reason, then the row's original columns."""
    if not result.rejects and result.error is None:
        return None
    columns = list(result.header)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "reason", *columns])
        if result.error is not None:
            writer.writerow(["", result.error, *([""] * len(columns))])
        for rej in result.rejects:
            writer.writerow([rej.row, rej.reason, *(rej.values.get(c, "") for c in columns)])
    os.replace(tmp, target)
    return target


class DropFolder:
    """A watched folder of 3PL grading files; each new file is imported once (name + sha256).

    Two steps so a crash never loses a file: `pending()` parses without side effects, the
    engine records each import (and its exceptions) in one transaction, then `complete()`
    writes the rejects file and moves the original into `done/`. A file whose (name, sha256)
    the engine already recorded is moved along without being parsed again.
    """

    IGNORED_SUFFIXES = (".rejects.csv", ".tmp", ".part", ".filepart", ".partial")

    def __init__(self, folder: Path | str, config: CsvGradingConfig, *,
                 already_imported: Callable[[str, str], bool],
                 known_sku: Callable[[str], bool] | Collection[str] | None = None,
                 pattern: str = "*.csv", done_dir: str = "done") -> None:
        self.folder = Path(folder)
        self.config = config
        self.already_imported = already_imported
        self.known_sku = known_sku
        self.pattern = pattern
        self.done = self.folder / done_dir

    def candidates(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob(self.pattern)
                      if p.is_file() and not p.name.startswith(".")
                      and not p.name.lower().endswith(self.IGNORED_SUFFIXES))

    def pending(self, now: datetime) -> list[CsvImport]:
        out = []
        for path in self.candidates():
            data = path.read_bytes()
            digest = sha256_of(data)
            if self.already_imported(path.name, digest):
                self._move_done(path, digest)  # recorded before a crash; finish the move
                continue
            result = parse_grading_csv(data, path.name, self.config, now=now,
                                       known_sku=self.known_sku)
            result.path = path
            out.append(result)
        return out

    def complete(self, result: CsvImport) -> Path:
        """After the engine recorded `result`: rejects file beside the original, move to done/."""
        assert result.path is not None
        write_rejects(result, result.path.with_name(result.path.name + ".rejects.csv"))
        return self._move_done(result.path, result.sha256)

    def scan(self, now: datetime, record: Callable[[CsvImport], Any]) -> list[CsvImport]:
        """pending -> record (the caller's transaction) -> complete, file by file."""
        done = []
        for result in self.pending(now):
            record(result)
            self.complete(result)
            done.append(result)
        return done

    def _move_done(self, path: Path, digest: str) -> Path:
        self.done.mkdir(parents=True, exist_ok=True)
        target = self.done / path.name
        if target.exists():  # same name sent again with other content: keep both
            target = self.done / f"{path.stem}.{digest[:12]}{path.suffix}"
        os.replace(path, target)
        return target
