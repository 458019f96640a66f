"""The record of processing (GDPR Art. 30(1)) as an XLSX workbook, for the privacy team.

Three sheets: the controller (Art. 30(1)(a)), the processing activities (one
row per purpose, the same columns as the CSV), and the security measures
(Art. 30(1)(g)). The workbook's timestamps are the statement's effective date,
so the same declaration always writes the same content. Writes to a path or a
binary stream; never reads anything.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from covenant.declaration import Loaded
from covenant.notice.facts import Facts
from covenant.notice.ropa import COLUMNS, controller, rows

WIDE = 48
NARROW = 24


def to_xlsx(loaded: Loaded, out: Path | BinaryIO) -> None:
    facts = Facts(loaded)
    book = Workbook()
    first = book.active
    assert first is not None
    _controller_sheet(first, facts)
    _activities_sheet(book.create_sheet("Processing activities"), loaded)
    _security_sheet(book.create_sheet("Security measures"), facts)
    moment = dt.datetime.combine(loaded.declaration.organization.effective_date, dt.time())
    book.properties.created = moment
    book.properties.modified = moment
    book.properties.title = (
        f"Record of processing activities: {facts.declaration.organization.controller}"
    )
    book.properties.creator = "Covenant"
    book.save(out)


def _header(sheet: Worksheet, titles: list[str]) -> None:
    sheet.append(titles)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def _controller_sheet(sheet: Worksheet, facts: Facts) -> None:
    sheet.title = "Controller"
    _header(sheet, ["Art. 30(1)(a)", "Value"])
    for label, value in controller(facts).lines:
        sheet.append([label, value])
    sheet.column_dimensions["A"].width = NARROW
    sheet.column_dimensions["B"].width = WIDE * 2


def _activities_sheet(sheet: Worksheet, loaded: Loaded) -> None:
    _header(sheet, [title for _, title in COLUMNS])
    for row in rows(loaded):
        sheet.append([row[key] for key, _ in COLUMNS])
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for i, (key, _) in enumerate(COLUMNS):
        sheet.column_dimensions[get_column_letter(i + 1)].width = (
            NARROW if key in ("controller", "activity") else WIDE
        )


def _security_sheet(sheet: Worksheet, facts: Facts) -> None:
    _header(sheet, ["Art. 30(1)(g): technical and organisational security measures"])
    for measure in facts.declaration.security.measures or ["Not described"]:
        sheet.append([measure])
    sheet.column_dimensions["A"].width = WIDE * 2
