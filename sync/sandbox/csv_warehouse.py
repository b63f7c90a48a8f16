"""A 3PL that reports grading as CSV files dropped in a folder (the SFTP drop-folder path).

Driver (the replay's warehouse verbs when `"warehouse_feed": "csv"`):
  create_return(label, rma, order_number, lines, warehouse)  # what the 3PL expects to receive
  arrive(label)                                              # nothing to report yet
  grade(label, lines=[{"sku","qty","condition", optional "location"}]) -> Path of the file
Each grade writes one uniquely named file (`returns_<YYYYmmddHHMMSS>_<n>.csv`), written to a
temporary name first and renamed, as SFTP uploads should be, so a scan never reads half a file.
`write_rows` writes arbitrary rows (with any header) for tests of bad files.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

HEADER = ["RMA", "Order Number", "SKU", "Quantity", "Condition", "Received At", "Location"]
CONDITION_WORDS = {"sellable": "Sellable", "damaged": "Damaged", "faulty": "Defective",
                   "used": "Used", "missing": "Missing", "wrong_item": "Wrong item"}


class CsvWarehouse:
    name = "csv_warehouse"

    def __init__(self, folder: Path | str, clock) -> None:
        self.folder = Path(folder)
        self.clock = clock
        self.state: dict[str, Any] = {"returns": {}, "files": [], "seq": 0}

    def create_return(self, label: str, rma: str, order_number: str, lines: list[dict[str, Any]],
                      warehouse: str) -> str:
        self.state["returns"][label] = {"rma": rma, "order": str(order_number),
                                        "warehouse": warehouse, "lines": lines, "graded": []}
        return rma

    def arrive(self, label: str) -> None:
        """A CSV 3PL reports only when it has graded; arrival leaves no file."""

    def grade(self, label: str, lines: list[dict[str, Any]], *, location: str | None = None) -> Path:
        ret = self.state["returns"][label]
        when = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = []
        for line in lines:
            rows.append([ret["rma"], ret["order"], line["sku"], str(line.get("qty", 1)),
                         CONDITION_WORDS.get(line.get("condition", "sellable"),
                                             line.get("condition", "")),
                         when, line.get("location") or location or ""])
            ret["graded"].append({"sku": line["sku"], "qty": int(line.get("qty", 1)),
                                  "condition": line.get("condition", "sellable")})
        return self.write_rows(rows)

    def write_rows(self, rows: list[list[str]], header: list[str] | None = None,
                   name: str | None = None) -> Path:
        self.state["seq"] += 1
        name = name or f"returns_{self.clock.now().strftime('%Y%m%d%H%M%S')}_{self.state['seq']}.csv"
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(header or HEADER)
        writer.writerows(rows)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (name + ".part")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, self.folder / name)
        self.state["files"].append(name)
        return self.folder / name

    def external_view(self) -> dict[str, Any]:
        return {"returns": [{"label": label, **{k: v for k, v in r.items() if k != "lines"}}
                            for label, r in sorted(self.state["returns"].items())],
                "files": list(self.state["files"])}

    def dump_state(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.state))

    def load_state(self, state: dict[str, Any]) -> None:
        self.state = json.loads(json.dumps(state))
