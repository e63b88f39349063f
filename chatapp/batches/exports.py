"""A job's results as CSV and as JSON Lines, each input beside its output: one line per
row of the uploaded file, in its order. A structured-output job's fields get a CSV column
each. Both are produced a chunk of rows at a time, as an async iterator, so that the
server streams them (an ASGI server would read a plain iterator whole first)."""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

from asgiref.sync import sync_to_async

from chatapp.spreadsheet import safe_row

from . import selectors
from .models import BatchJob, BatchRow
from .params import cell_value, schema_fields, structured_values

EXPORT_CHUNK = 1000
FIXED_COLUMNS = ["row", "custom_id", "prompt", "system", "status", "output"]
TAIL_COLUMNS = ["stop_reason", "reason", "input_tokens", "output_tokens", "cost_usd", "reused"]


def _exact(amount: Decimal | None) -> str:
    return "" if amount is None else format(amount.normalize(), "f")


def field_columns(job: BatchJob) -> list[tuple[str, str]]:
    """(schema field, column name): a field named like a fixed column gets `output.`."""
    taken = set(FIXED_COLUMNS) | set(TAIL_COLUMNS)
    return [
        (name, f"output.{name}" if name in taken else name) for name in schema_fields(job.schema)
    ]


def csv_header(job: BatchJob) -> list[str]:
    return [*FIXED_COLUMNS, *(column for _, column in field_columns(job)), *TAIL_COLUMNS]


def _usage(row: BatchRow) -> dict | None:
    """What the row's answer used, on the first row of its request only: the others reused
    it at no cost; a request without an answer used nothing."""
    request, record = row.request, row.request.usage_record
    if not row.first or request.result != request.Result.SUCCEEDED or record is None:
        return None
    return {
        "input_tokens": record.input_tokens,
        "cache_creation_input_tokens": record.cache_creation_input_tokens,
        "cache_read_input_tokens": record.cache_read_input_tokens,
        "output_tokens": record.output_tokens,
    }


def _cost(row: BatchRow) -> str:
    """The row's exact cost in USD: its answer's, 0 for a reused answer or none at all,
    empty while it waits (or when the model has no price)."""
    request = row.request
    if not request.result:
        return ""
    if _usage(row) is None:
        return "0"
    return _exact(request.usage_record.cost)


def field_cells(job: BatchJob, request) -> list[str]:
    """A structured reply's fields, one cell each (empty when the reply is not JSON)."""
    values = structured_values(job.schema, request.output) or {}
    return [cell_value(values.get(name)) for name, _ in field_columns(job)]


def csv_row(job: BatchJob, row: BatchRow) -> list[str]:
    request = row.request
    usage = _usage(row)
    total_input = ""
    if usage:
        total_input = str(
            usage["input_tokens"]
            + usage["cache_creation_input_tokens"]
            + usage["cache_read_input_tokens"]
        )
    return [
        str(row.number),
        row.custom_id,
        request.prompt,
        request.system,
        request.result or "waiting",
        request.output,
        *field_cells(job, request),
        request.stop_reason,
        request.reason,
        total_input,
        str(usage["output_tokens"]) if usage else "",
        _cost(row),
        "" if row.first else "yes",
    ]


def jsonl_row(job: BatchJob, row: BatchRow) -> dict:
    request = row.request
    line = {
        "row": row.number,
        "custom_id": row.custom_id,
        "input": {"prompt": request.prompt, "system": request.system},
        "status": request.result or "waiting",
        "output": request.output,
    }
    if job.schema is not None:
        line["data"] = structured_values(job.schema, request.output)
    usage = _usage(row)
    line.update(
        stop_reason=request.stop_reason or None,
        reason=request.reason or None,
        usage=usage,
        cost_usd=_cost(row) or None,
        reused=not row.first,
    )
    return line


async def _chunks(job: BatchJob, render: Callable[[list[BatchRow]], str]) -> AsyncIterator[str]:
    rows_after = sync_to_async(selectors.batch_rows_after)
    after = 0
    while rows := await rows_after(job=job, after=after, limit=EXPORT_CHUNK):
        yield render(rows)
        after = rows[-1].number


async def csv_stream(job: BatchJob) -> AsyncIterator[str]:
    def render(rows):
        out = io.StringIO()
        csv.writer(out).writerows(safe_row(csv_row(job, row)) for row in rows)
        return out.getvalue()

    out = io.StringIO()
    csv.writer(out).writerow(safe_row(csv_header(job)))
    yield "\ufeff" + out.getvalue()  # a BOM: spreadsheets then read the file as UTF-8
    async for chunk in _chunks(job, render):
        yield chunk


async def jsonl_stream(job: BatchJob) -> AsyncIterator[str]:
    def render(rows):
        return "".join(json.dumps(jsonl_row(job, row), ensure_ascii=False) + "\n" for row in rows)

    async for chunk in _chunks(job, render):
        yield chunk
