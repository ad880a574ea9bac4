"""The links CSV as bytes: reading an upload, writing the export (interface §7). No I/O here.

Reading takes the rental system's own organisation export with a link column added (reference
current_rms.md §3, "CSV link columns"): UTF-8 with or without a BOM, comma or semicolon (a
spreadsheet in a locale whose decimal mark is a comma saves with semicolons), the id column
named ``Organisation ID``, ``Id`` or ``ID``, other columns ignored.

Writing is UTF-8 with a BOM (so spreadsheet software reads it as UTF-8) and CRLF (RFC 4180);
a cell a spreadsheet would run as a formula is prefixed with ``'`` (OWASP "CSV injection").
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Iterable, Iterator

#: Id column names accepted, in order of preference.
ID_COLUMNS = ("Organisation ID", "Id", "ID")
NAME_COLUMN = "Name"
#: Largest upload and most data rows (interface §7: more -> 413).
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
BOM = "\ufeff"
#: First characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvRefused(Exception):
    """Raised when the file as a whole cannot be read; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CsvRow:
    """One data row: ``number`` counts data rows from 1; cells are trimmed."""

    number: int
    organisation_id: str
    contact_id: str
    name: str = ""


def read_rows(data: bytes, link_column: str) -> list[CsvRow]:
    """The data rows of an upload; ``CsvRefused`` for a file that cannot be taken."""
    if len(data) > MAX_BYTES:
        raise CsvRefused(413, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvRefused(400, "the file is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    header = [cell.strip().lstrip(BOM) for cell in next(reader, [])]
    id_at, link_at, name_at = _columns(header, link_column)
    rows: list[CsvRow] = []
    number = 0
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line is no data row
        number += 1
        if number > MAX_ROWS:
            raise CsvRefused(413, f"the file has more than {MAX_ROWS} data rows")
        rows.append(CsvRow(number, _cell(cells, id_at), _cell(cells, link_at), _cell(cells, name_at)))
    return rows


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def _columns(header: list[str], link_column: str) -> tuple[int, int, int | None]:
    id_at = next((header.index(name) for name in ID_COLUMNS if name in header), None)
    if id_at is None:
        raise CsvRefused(400, "no id column: name it 'Organisation ID', 'Id' or 'ID'")
    if link_column not in header:
        raise CsvRefused(400, f"no '{link_column}' column")
    name_at = header.index(NAME_COLUMN) if NAME_COLUMN in header else None
    return id_at, header.index(link_column), name_at


def _cell(cells: list[str], at: int | None) -> str:
    if at is None or at >= len(cells):
        return ""
    value = cells[at].strip()
    # Our own export prefixes formula-like cells with ' ; a re-import must not see it.
    return value[1:] if value.startswith("'") and value[1:2] in FORMULA_STARTS else value


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_lines(link_column: str, rows: Iterable[tuple[int, str, str]]) -> Iterator[str]:
    """The export, a line at a time: a BOM and the header, then one line per organisation."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: list[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield BOM + line(["Organisation ID", NAME_COLUMN, link_column])
    for organisation_id, name, contact_id in rows:
        yield line([str(organisation_id), safe_cell(name), safe_cell(contact_id)])
