"""Reading an uploaded file of prompts, one row at a time (a file may hold 100,000 rows or
more: it is never read whole into memory).

A CSV needs a header with a `prompt` column; `custom_id` and `system` are optional, other
columns are ignored. A JSONL file has one object per line with the same keys. Either must
be UTF-8 (a byte-order mark is allowed). What cannot be read at all refuses the file
(FileRefused); what is wrong with one row is that row's RowError, and reading goes on, so
that every row's problem is told at once."""

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from chatapp.errors import AppError

COLUMNS = ("prompt", "custom_id", "system")


@dataclass(frozen=True)
class Row:
    number: int  # 1 for the first row (after a CSV's header)
    line: int  # where it ends in the file, for the messages
    prompt: str
    custom_id: str = ""  # empty: none given
    system: str | None = None  # None: the job's


@dataclass(frozen=True)
class RowError:
    number: int
    line: int
    message: str

    def __str__(self) -> str:
        return f"Row {self.number} (line {self.line}): {self.message}"


class FileRefused(AppError):
    """A file that cannot be read at all; the job it was for is refused with its code."""


def file_format(name: str, head: bytes) -> str:
    """ "jsonl" or "csv": by the name's extension, else by the first character."""
    lowered = name.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    return "jsonl" if head.lstrip(codecs.BOM_UTF8 + b" \t\r\n").startswith(b"{") else "csv"


def read_rows(binary, *, name: str, max_field_bytes: int) -> Iterator[Row | RowError]:
    """The file's rows from its start. `binary` is a file opened for reading bytes, left
    open (and at its end) afterwards."""
    binary.seek(0)
    kind = file_format(name, binary.read(64))
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
    rows = _csv_rows(text, max_field_bytes) if kind == "csv" else _jsonl_rows(text)
    number = 0
    try:
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise FileRefused(
                    "not_utf8",
                    f"The file is not UTF-8 text (after row {number}). Save it as UTF-8 "
                    "(in a spreadsheet: CSV UTF-8) and upload it again.",
                ) from None
            number = row.number
            yield row
    finally:
        text.detach()  # leaves the upload open: it may be read again
    if number == 0:
        raise FileRefused("empty", "The file has no rows.")


def _csv_rows(text, max_field_bytes: int) -> Iterator[Row | RowError]:
    if csv.field_size_limit() < max_field_bytes:
        csv.field_size_limit(max_field_bytes)
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FileRefused("bad_csv", f"The CSV's header could not be read: {exc}.") from None
    if not header:
        raise FileRefused("empty", "The file is empty.")
    names = [column.strip().lower() for column in header]
    if "prompt" not in names:
        shown = ", ".join(repr(column) for column in header[:10])
        raise FileRefused(
            "missing_column",
            f"The CSV has no `prompt` column (its header is {shown}). The first line must "
            "name the columns: prompt, and optionally custom_id and system.",
        )
    where = {column: names.index(column) for column in COLUMNS if column in names}
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(
                "bad_csv", f"The CSV could not be read at line {reader.line_num}: {exc}."
            ) from None
        if not record or (len(record) > 1 and not any(record)):
            continue  # an empty line, or a spreadsheet's row of empty cells
        number += 1

        def cell(column, record=record):
            index = where.get(column)
            return record[index] if index is not None and index < len(record) else None

        system = cell("system")
        yield Row(
            number=number,
            line=reader.line_num,
            prompt=cell("prompt") or "",
            custom_id=(cell("custom_id") or "").strip(),
            system=system if system else None,
        )


def _jsonl_rows(text) -> Iterator[Row | RowError]:
    number = 0
    for line_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        number += 1
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(number, line_number, f"not valid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield RowError(number, line_number, 'not a JSON object ({"prompt": "…"})')
            continue
        problems = [
            f"`{key}` must be a string"
            for key in COLUMNS
            if data.get(key) is not None and not isinstance(data[key], str)
        ]
        if problems:
            yield RowError(number, line_number, "; ".join(problems))
            continue
        yield Row(
            number=number,
            line=line_number,
            prompt=data.get("prompt") or "",
            custom_id=(data.get("custom_id") or "").strip(),
            system=data.get("system") or None,
        )
