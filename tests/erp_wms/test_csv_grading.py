"""CSV grading files and the drop folder: good rows in, bad rows out with reasons, once."""

from __future__ import annotations

import csv
from pathlib import Path

from rules.model import Condition
from sync.connectors.csv_grading import (
    CsvGradingConfig,
    DropFolder,
    parse_grading_csv,
)
from sync.sandbox.csv_warehouse import CsvWarehouse

from .conftest import START

KNOWN = {"TEE-M", "TEE-L", "MUG"}
MIXED = (
    "Return RMA Number,Order Number,SKU,Item Quantity,Condition,Return Date,Location\r\n"
    "RMA-1,1001,TEE-M,1,GOOD,2026-11-02 08:00:00,uk-dc-sellable\r\n"       # 2 good
    "RMA-1,1001,TEE-M,1,Damaged,2026-11-02 08:00:00,uk-dc-quarantine\r\n"  # 3 good (split grade)
    "RMA-2,1002,MUG,two,GOOD,2026-11-02,uk-dc-sellable\r\n"                # 4 malformed qty
    "RMA-3,1003,GHOST-SKU,1,GOOD,2026-11-02,uk-dc-sellable\r\n"            # 5 unknown SKU
    ",1004,MUG,1,GOOD,2026-11-02,uk-dc-sellable\r\n"                       # 6 missing RMA
    "RMA-5,1005,TEE-L,1,Smells funny,2026-11-02,uk-dc-sellable\r\n"        # 7 unknown condition
    "RMA-1,1001,TEE-M,1,GOOD,2026-11-02 08:00:00,uk-dc-sellable\r\n"       # 8 duplicate of 2
    "RMA-6,1006,TEE-L,0,GOOD,2026-11-02,uk-dc-sellable\r\n"                # 9 zero qty
    "RMA-7,1007,MUG,2,defective,1793606400,\r\n"                           # 10 good, unix time
)


def config() -> CsvGradingConfig:
    return CsvGradingConfig(warehouse="uk-dc")


def test_good_rows_become_gradings_and_bad_rows_carry_row_and_reason():
    result = parse_grading_csv(MIXED.encode(), "day1.csv", config(), now=START, known_sku=KNOWN)
    assert result.error is None
    assert [(g.rma, g.order_ref, g.sku, g.qty, g.condition, g.location) for g in
            result.gradings] == [
        ("RMA-1", "1001", "TEE-M", 1, Condition.SELLABLE, "uk-dc-sellable"),
        ("RMA-1", "1001", "TEE-M", 1, Condition.DAMAGED, "uk-dc-quarantine"),
        ("RMA-7", "1007", "MUG", 2, Condition.FAULTY, None)]
    assert result.gradings[0].graded_at.isoformat() == "2026-11-02T08:00:00+00:00"
    assert result.gradings[2].graded_at.isoformat() == "2026-11-02T08:00:00+00:00"
    assert [(r.row, r.reason) for r in result.rejects] == [
        (4, "malformed quantity 'two'"), (5, "unknown SKU 'GHOST-SKU'"), (6, "missing RMA"),
        (7, "unknown condition 'Smells funny'"), (8, "duplicate of row 2"),
        (9, "malformed quantity '0'")]
    assert result.gradings[0].to_grading().source == "csv:day1.csv"


def test_configured_columns_conditions_and_semicolons():
    data = (b"retour;artikel;aantal;staat\nRMA-9;MUG;1;Nieuw\n")
    cfg = CsvGradingConfig(warehouse="nl-dc", columns={"rma": "retour", "sku": "artikel",
                                                       "quantity": "aantal",
                                                       "condition": "staat"},
                           conditions={"nieuw": Condition.SELLABLE})
    result = parse_grading_csv(data, "nl.csv", cfg, now=START)
    assert [(g.rma, g.sku, g.condition, g.graded_at) for g in result.gradings] == [
        ("RMA-9", "MUG", Condition.SELLABLE, START)]


def test_a_file_without_required_columns_is_refused_whole():
    result = parse_grading_csv(b"foo,bar\n1,2\n", "x.csv", config(), now=START)
    assert result.error is not None and "rma" in result.error and result.gradings == []


def test_drop_folder_imports_once_writes_rejects_and_moves_to_done(tmp_path: Path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "day1.csv").write_text(MIXED, encoding="utf-8")
    (drop / "upload.csv.part").write_text("half a file", encoding="utf-8")
    recorded: dict[str, object] = {}  # stands in for the engine's table of imports
    folder = DropFolder(drop, config(), known_sku=KNOWN,
                        already_imported=lambda name, sha: f"{name}:{sha}" in recorded)

    first = folder.scan(START, record=lambda imp: recorded.setdefault(imp.import_key, imp))
    assert len(first) == 1 and len(first[0].gradings) == 3 and len(first[0].rejects) == 6
    assert (drop / "done" / "day1.csv").exists() and not (drop / "day1.csv").exists()
    with (drop / "day1.csv.rejects.csv").open(newline="", encoding="utf-8") as fh:
        rejects = list(csv.DictReader(fh))
    assert [(r["row"], r["reason"], r["SKU"]) for r in rejects][:2] == [
        ("4", "malformed quantity 'two'", "MUG"), ("5", "unknown SKU 'GHOST-SKU'", "GHOST-SKU")]
    assert (drop / "upload.csv.part").exists()  # still uploading: untouched

    # the same file dropped again: recognised by name + sha256, nothing imported, moved aside
    (drop / "day1.csv").write_text(MIXED, encoding="utf-8")
    again = folder.scan(START, record=lambda imp: recorded.setdefault(imp.import_key, imp))
    assert again == [] and len(recorded) == 1
    assert not (drop / "day1.csv").exists()
    assert folder.candidates() == []


def test_crash_between_record_and_move_does_not_import_twice(tmp_path: Path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "day2.csv").write_text(MIXED, encoding="utf-8")
    recorded: set[str] = set()
    folder = DropFolder(drop, config(), known_sku=KNOWN,
                        already_imported=lambda name, sha: f"{name}:{sha}" in recorded)
    pending = folder.pending(START)
    recorded.add(pending[0].import_key)  # the engine committed, then the process died
    assert folder.pending(START) == []  # restart: recognised, only moved along
    assert (drop / "done" / "day2.csv").exists()


def test_sandbox_warehouse_files_feed_the_drop_folder(tmp_path: Path, clock):
    warehouse = CsvWarehouse(tmp_path / "sftp", clock)
    warehouse.create_return("R1", "RMA-1", "1001", [{"sku": "TEE-M", "qty": 2}], "uk-dc")
    warehouse.grade("R1", [{"sku": "TEE-M", "qty": 1, "condition": "sellable"},
                           {"sku": "TEE-M", "qty": 1, "condition": "faulty"}],
                    location="uk-dc-sellable")
    folder = DropFolder(tmp_path / "sftp", config(), already_imported=lambda n, s: False,
                        known_sku=KNOWN)
    [imp] = folder.scan(clock.now(), record=lambda imp: None)
    assert imp.rejects == []
    assert [(g.rma, g.sku, g.qty, g.condition) for g in imp.gradings] == [
        ("RMA-1", "TEE-M", 1, Condition.SELLABLE), ("RMA-1", "TEE-M", 1, Condition.FAULTY)]
    assert not (tmp_path / "sftp" / (warehouse.state["files"][0] + ".rejects.csv")).exists()
