"""Reading evidence exports: CSV (any delimiter, a BOM, quoted newlines, Excel's `sep=` line and Windows-1252),
XLSX (openpyxl, read-only), JSON (a list of objects, or one object) and NDJSON (one object a line).

`read_file(path, name=…, max_bytes=…)` answers a `Table`: the header (None for JSON, whose records name their
fields) and an iterator of (row number, record) pairs, streamed so a long file is never held whole (JSON aside). The
row number is the one the user sees: the spreadsheet's row (the header is row 1) or the line of an NDJSON file, or
the position in a JSON list (from 1). A record that cannot be read at all comes as a `Rejected` in its place.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govern.errors import InvalidInput
from govern.services.intake_mapping import Rejected
from govern.yamltext import load_json

FORMATS = ("csv", "xlsx", "json", "ndjson")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json",
              ".ndjson": "ndjson", ".jsonl": "ndjson"}
SNIFF_BYTES = 64 * 1024
DELIMITERS = ";,\t|"
csv.field_size_limit(16 * 1024 * 1024)


@dataclass
class Table:
    """An export being read: its header (None: JSON) and its records; `total` and `done()` measure the progress in
    `unit` (bytes of the file read, or records when the whole file was parsed at once)."""

    format: str
    header: list[str] | None
    rows: Iterator[tuple[int | None, Any]]
    total: int = 0
    unit: str = "rows"
    done: Any = None


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read through it (the progress of a streamed CSV or NDJSON)."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def _text_handle(path: Path, encoding: str, errors: str = "strict") -> tuple[io.TextIOWrapper, _Counting]:
    counting = _Counting(path.open("rb", buffering=0))
    return io.TextIOWrapper(io.BufferedReader(counting), encoding=encoding, newline="", errors=errors), counting


def format_of(name: str, declared: str | None = None) -> str:
    if declared:
        if declared not in FORMATS:
            raise InvalidInput(f"unknown format '{declared}' (one of {', '.join(FORMATS)})", {"format": declared})
        return declared
    suffix = Path(name or "").suffix.lower()
    if suffix not in EXTENSIONS:
        raise InvalidInput(f"cannot tell the format of '{name}': name it .csv, .xlsx, .json or .ndjson "
                           f"(or say the format)", {"file": "unknown format"})
    return EXTENSIONS[suffix]


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def import_too_large(size: int, max_bytes: int) -> str:
    return (f"the file is {_size(size)}; evidence imports are limited to {_size(max_bytes)} "
            "(GOVERN_MAX_IMPORT_BYTES): split it")


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidInput(import_too_large(size, max_bytes), {"file": "too large"})


def read_file(path: str | os.PathLike, *, name: str | None = None, format: str | None = None,
              max_bytes: int) -> Table:
    """The records of the export at `path` (its format from `format` or the file name)."""
    path = Path(path)
    size = path.stat().st_size
    check_size(size, max_bytes)
    kind = format_of(name or path.name, format)
    if kind == "xlsx":
        header, rows, total = _xlsx(path)
        return Table("xlsx", header, rows, total, "rows")
    if kind == "json":
        with path.open("rb") as fh:
            records = json_records(fh.read())
        return Table("json", None, iter(records), len(records), "rows")
    if kind == "ndjson":
        handle, counting = _text_handle(path, "utf-8-sig", errors="replace")
        return Table("ndjson", None, _ndjson(handle), size, "bytes", lambda: counting.count)
    header, rows, counting = _csv(path)
    return Table("csv", header, rows, size, "bytes", lambda: counting.count)


def json_records(data: bytes | str) -> list[tuple[int | None, Any]]:
    """A JSON document's records: a list of objects, {"rows": [...]}, or one object."""
    doc = load_json(data, "the JSON import")  # bounded: bad bytes, bad JSON or nesting too deep is InvalidInput
    if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        doc = doc["rows"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise InvalidInput("a JSON import is a list of records (objects), or one record", {"file": "not a list"})
    return list(enumerate(doc, start=1))


def _ndjson(handle) -> Iterator[tuple[int | None, Any]]:
    with handle as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield number, load_json(line, f"line {number}")
            except InvalidInput as exc:
                yield number, Rejected(exc.message)


def _encoding(sample: bytes) -> str:
    """UTF-8 (with or without a BOM) unless the sample is not UTF-8: then Windows-1252, as Excel writes CSV."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not merely a character cut by the sample's end
            return "cp1252"
    return "utf-8-sig"


def _csv(path: Path) -> tuple[list[str], Iterator[tuple[int | None, Any]], _Counting]:
    with path.open("rb") as fh:
        sample_bytes = fh.read(SNIFF_BYTES)
    encoding = _encoding(sample_bytes)
    sample = sample_bytes.decode(encoding, errors="replace")
    first_line, _, rest = sample.partition("\n")
    skip_first = False
    delimiter = None
    if first_line.strip().lower().startswith("sep=") and len(first_line.strip()) == 5:  # Excel's "sep=;" line
        delimiter, skip_first = first_line.strip()[4], True
        first_line = rest.partition("\n")[0]
    if delimiter is None:
        delimiter = _delimiter(sample, first_line)
    handle, counting = _text_handle(path, encoding)
    if skip_first:
        handle.readline()
    reader = csv.reader(handle, delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=False,
                        strict=False)
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        raise InvalidInput("the file is empty (no header row)", {"file": "empty"}) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise InvalidInput(f"cannot read the file as CSV: {exc}", {"file": "not CSV"}) from None
    header = [h.strip() for h in header]
    return header, _csv_rows(handle, reader, header, 1 + int(skip_first)), counting


def _delimiter(sample: str, first_line: str) -> str:
    """csv.Sniffer's delimiter when the header line holds it; else the candidate the header line holds most of."""
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and sniffed in first_line:
        return sniffed
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _csv_rows(handle, reader, header: list[str], header_row: int) -> Iterator[tuple[int | None, Any]]:
    width = len(header)
    number = header_row
    try:
        for cells in reader:
            number += 1
            if not "".join(cells).strip():  # a blank line (one C call, not a generator per row)
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield number, dict(zip(header, cells))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"row {number + 1}: the file is not UTF-8 text ({exc.reason}); save it as CSV UTF-8",
                           {"file": "encoding"}) from None
    except csv.Error as exc:
        raise InvalidInput(f"row {number + 1}: cannot read the CSV: {exc}", {"file": "not CSV"}) from None
    finally:
        handle.close()


def _xlsx(path: Path) -> tuple[list[str], Iterator[tuple[int | None, Any]], int]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InvalidInput(f"not an Excel workbook (.xlsx): {exc}", {"file": "not xlsx"}) from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    number = 0
    header: list[str] | None = None
    for cells in rows:
        number += 1
        if cells and any(c is not None and str(c).strip() for c in cells):
            header = [("" if c is None else str(c)).strip() for c in cells]
            break
    if header is None:
        book.close()
        raise InvalidInput("the workbook's first sheet is empty (no header row)", {"file": "empty"})

    def records() -> Iterator[tuple[int | None, Any]]:
        n = number
        try:
            for cells in rows:
                n += 1
                if not cells or not any(c is not None and str(c).strip() for c in cells):
                    continue
                yield n, {h: v for h, v in zip(header, cells) if h}
        finally:
            book.close()

    return header, records(), max(0, (sheet.max_row or 0) - number)

