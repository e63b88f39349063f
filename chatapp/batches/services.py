"""What happens to a batch job, from the upload to the last imported result. The pages call
`batch_job_create`, `batch_job_cancel` and `batch_job_resubmit`; the worker
(`worker.py`) calls the rest, one part at a time.

A job is checked whole before anything is stored or sent: the file's rows (every row's
problem is told at once), the model's window, the API's size limits (a larger job is split
into several batches), then the budget, against the job's worst case at the batch price.
Its requests' ledger rows are written with it, reserved; each is settled once, when its
result is imported. Importing is keyed by the part's batch id and the request's custom_id
and takes only requests without a result, under a row lock, so a worker stopped at any
moment and started again records no result twice."""

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from chatapp.errors import AppError
from chatapp.llm import batches as api
from chatapp.llm import catalogue
from chatapp.llm.count import input_tokens_counted
from chatapp.llm.stream import ReplyRequest, UpstreamError
from chatapp.usage.models import UsageRecord
from chatapp.usage.services import Settlement, UsageRefused, usage_reserve_batch, usage_settle_many

from .models import BatchJob, BatchPart, BatchRequest, BatchRow
from .params import JobSettings, custom_id_problem, fingerprint
from .parsing import FileRefused, Row, RowError, read_rows

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
# The row errors a refused upload lists (all are counted).
ERRORS_SHOWN = 100
# Rows whose size alone could overflow the model's window are counted exactly
# (count_tokens, a round trip each) up to this many per upload; any more are refused.
EXACT_COUNTS = 20
# Rows written to the database per statement.
WRITE_CHUNK = 1000
# A submission's lease: longer than the create call may take (llm.batches).
SUBMIT_LEASE = dt.timedelta(seconds=api.CREATE_TIMEOUT_SECONDS + 60)
# A part found past its lease without an id is looked for among the batches created from
# this long before its submission began (the API's clock and ours may differ).
CLOCK_MARGIN = dt.timedelta(minutes=5)
# The body of a batch beside its requests: `{"requests": [` … `]}` and the commas.
BODY_OVERHEAD = 64


class BatchRefused(AppError):
    """A job that cannot be sent as it is; `row_errors` are the first rows' problems."""

    def __init__(self, code: str, message: str, *, row_errors=(), row_error_count: int = 0):
        super().__init__(code, message)
        self.row_errors = list(row_errors)
        self.row_error_count = row_error_count

    @property
    def more_errors(self) -> int:
        """Rows with a problem beyond those listed."""
        return max(self.row_error_count - len(self.row_errors), 0)


def batch_models() -> list[catalogue.ModelInfo]:
    """The models a job may use: those offered whose capabilities include `batch`."""
    return [model for model in catalogue.offered() if model.supports("batch")]


# --- creating a job --------------------------------------------------------------------------

# A job's rows, read afresh from their start on each call (the file is read twice: once to
# check it, once to store it).
RowSource = Callable[[], Iterable[Row | RowError]]


@dataclass
class _Plan:
    """What checking the rows found: the requests to send, in the order of their first
    row, with their bounds and parts."""

    rows: int = 0
    request_of: dict[bytes, int] = field(default_factory=dict)  # fingerprint -> index
    bounds: list[int] = field(default_factory=list)
    part_of: list[int] = field(default_factory=list)
    parts: list[list[int]] = field(default_factory=list)  # [requests, bytes] per part
    given_ids: set[str] = field(default_factory=set)

    def add_request(self, key: bytes, bound: int, size: int) -> None:
        current = self.parts[-1] if self.parts else None
        if (
            current is None
            or current[0] + 1 > settings.BATCH_MAX_REQUESTS
            or current[1] + size + 1 + BODY_OVERHEAD > settings.BATCH_MAX_BYTES
        ):
            current = [0, 0]
            self.parts.append(current)
        current[0] += 1
        current[1] += size + 1
        self.request_of[key] = len(self.bounds)
        self.bounds.append(bound)
        self.part_of.append(len(self.parts) - 1)


class _Errors:
    def __init__(self):
        self.shown: list[str] = []
        self.count = 0

    def add(self, number: int, line: int, message: str) -> None:
        self.count += 1
        if len(self.shown) < ERRORS_SHOWN:
            self.shown.append(str(RowError(number, line, message)))


def _plan(source: RowSource, job: JobSettings, model: catalogue.ModelInfo) -> _Plan:
    plan, errors = _Plan(), _Errors()
    first_row_of: dict[str, int] = {}
    counted = 0
    window = model.max_input_tokens
    max_mb = settings.BATCH_MAX_BYTES / 1_000_000
    for item in source():
        if isinstance(item, RowError):
            plan.rows += 1
            errors.add(item.number, item.line, item.message)
            continue
        row = item
        plan.rows += 1
        if plan.rows > settings.BATCH_MAX_ROWS:
            raise BatchRefused(
                "too_many_rows",
                f"The file has more than {settings.BATCH_MAX_ROWS:,} rows, the most one job "
                "may have. Split it into several files.",
            )
        problems = []
        if row.custom_id:
            problem = custom_id_problem(row.custom_id)
            if problem:
                problems.append(problem)
            elif row.custom_id in first_row_of:
                problems.append(
                    f"custom_id {row.custom_id!r} is also row {first_row_of[row.custom_id]}'s"
                )
            else:
                first_row_of[row.custom_id] = row.number
        if not row.prompt.strip():
            problems.append("the prompt is empty")
        system = job.system if row.system is None else row.system
        if not problems:
            key = fingerprint(prompt=row.prompt, system=system)
            if key in plan.request_of:
                continue  # the same request as an earlier row: checked already
            custom_id = f"r{len(plan.bounds) + 1}"
            size = job.request_bytes(custom_id=custom_id, prompt=row.prompt, system=system)
            bound = job.input_tokens_at_most(prompt=row.prompt, system=system)
            if size + BODY_OVERHEAD > settings.BATCH_MAX_BYTES:
                problems.append(
                    f"the request is {size / 1_000_000:,.1f} MB, over the API's "
                    f"{max_mb:,.0f} MB for a whole batch"
                )
            elif window and bound > window:
                counted += 1
                tokens = None
                if counted <= EXACT_COUNTS:
                    tokens = input_tokens_counted(
                        ReplyRequest(
                            model=job.model,
                            max_tokens=job.max_tokens,
                            messages=[{"role": "user", "content": row.prompt}],
                            system=system,
                        )
                    )
                    if tokens is not None and tokens <= window:
                        bound = tokens
                if counted > EXACT_COUNTS:
                    problems.append(
                        f"the prompt may be over {model.label}'s context window of "
                        f"{window:,} tokens (it is {bound:,} bytes), and only "
                        f"{EXACT_COUNTS} such prompts are counted per upload: shorten it"
                    )
                elif tokens is not None and tokens > window:
                    problems.append(
                        f"the prompt is {tokens:,} tokens, over {model.label}'s context "
                        f"window of {window:,}"
                    )
            if not problems:
                plan.add_request(key, bound, size)
        if problems:
            errors.add(row.number, row.line, "; ".join(problems))
    plan.given_ids = set(first_row_of)
    if errors.count:
        noun = "row" if errors.count == 1 else "rows"
        raise BatchRefused(
            "invalid_rows",
            f"{errors.count:,} {noun} of {plan.rows:,} cannot be sent, so nothing was sent. "
            "Correct the file and upload it again.",
            row_errors=errors.shown,
            row_error_count=errors.count,
        )
    if not plan.bounds:
        raise BatchRefused("empty", "The file has no rows.")
    return plan


def _generated_id(number: int, taken: set[str]) -> str:
    custom_id, suffix = f"row-{number}", 1
    while custom_id in taken:
        suffix += 1
        custom_id = f"row-{number}-{suffix}"
    return custom_id


def _store(
    *,
    user,
    name: str,
    job_settings: JobSettings,
    source: RowSource,
    plan: _Plan,
    resubmitted_from: BatchJob | None = None,
) -> BatchJob:
    now = timezone.now()
    with transaction.atomic():
        try:
            reservation = usage_reserve_batch(
                user=user,
                model=job_settings.model,
                max_tokens=job_settings.max_tokens,
                input_tokens_at_most=plan.bounds,
            )
        except UsageRefused as refused:
            raise BatchRefused(refused.code, refused.message) from refused
        job = BatchJob.objects.create(
            user=user,
            name=name[:255],
            model=job_settings.model,
            system=job_settings.system,
            max_tokens=job_settings.max_tokens,
            cache_system=job_settings.cache_system,
            output_schema=(
                json.dumps(job_settings.output_schema) if job_settings.output_schema else ""
            ),
            row_count=plan.rows,
            request_count=len(plan.bounds),
            reserved_cost=reservation.total,
            resubmitted_from=resubmitted_from,
        )
        parts = BatchPart.objects.bulk_create(
            BatchPart(job=job, number=n, requests=count, bytes=size, next_attempt_at=now)
            for n, (count, size) in enumerate(plan.parts, start=1)
        )
        request_pks = [0] * len(plan.bounds)
        new_requests: list[BatchRequest] = []
        new_rows: list[tuple[int, BatchRow]] = []

        def flush():
            if new_requests:
                for request, record_id in zip(
                    new_requests, reservation.write(len(new_requests)), strict=True
                ):
                    request.usage_record_id = record_id
                BatchRequest.objects.bulk_create(new_requests)
                for request in new_requests:
                    request_pks[int(request.custom_id[1:]) - 1] = request.pk
                new_requests.clear()
            for index, row in new_rows:
                row.request_id = request_pks[index]
            BatchRow.objects.bulk_create(row for _, row in new_rows)
            new_rows.clear()

        sent = 0
        for item in source():
            if isinstance(item, RowError):  # the file changed since it was checked
                raise BatchRefused("invalid_rows", str(item))
            system = job_settings.system if item.system is None else item.system
            index = plan.request_of[fingerprint(prompt=item.prompt, system=system)]
            first = index == sent
            if first:
                new_requests.append(
                    BatchRequest(
                        job=job,
                        part=parts[plan.part_of[index]],
                        custom_id=f"r{index + 1}",
                        prompt=item.prompt,
                        system=system,
                        input_tokens_at_most=plan.bounds[index],
                    )
                )
                sent += 1
            custom_id = item.custom_id or _generated_id(item.number, plan.given_ids)
            new_rows.append(
                (index, BatchRow(job=job, number=item.number, custom_id=custom_id, first=first))
            )
            if len(new_rows) >= WRITE_CHUNK:
                flush()
        flush()
    logger.info(
        "batch job %s stored: %s rows, %s requests in %s parts, $%s reserved",
        job.pk,
        plan.rows,
        len(plan.bounds),
        len(parts),
        reservation.total,
    )
    return job


def _checked_model(model_id: str) -> catalogue.ModelInfo:
    model = catalogue.get(model_id)
    if model is None or not model.offered or not model.supports("batch"):
        raise BatchRefused("model_unavailable", f"{model_id} cannot take batch jobs.")
    return model


def batch_job_create(*, user, upload, job_settings: JobSettings) -> BatchJob:
    """Checks an uploaded file of prompts and stores it as a job for the worker to send.
    BatchRefused, and nothing stored, when any row or the budget refuses it."""
    model = _checked_model(job_settings.model)
    if upload.size > settings.BATCH_MAX_UPLOAD_BYTES:
        raise BatchRefused(
            "file_too_large",
            f"The file is {upload.size / 1_000_000:,.1f} MB; a job's file may be at most "
            f"{settings.BATCH_MAX_UPLOAD_BYTES / 1_000_000:,.0f} MB. Split it into several "
            "files.",
        )

    def source():
        return read_rows(upload.file, name=upload.name, max_field_bytes=settings.BATCH_MAX_BYTES)

    try:
        plan = _plan(source, job_settings, model)
        return _store(
            user=user, name=upload.name, job_settings=job_settings, source=source, plan=plan
        )
    except FileRefused as refused:
        raise BatchRefused(refused.code, refused.message) from refused


def batch_job_resubmit(*, job: BatchJob) -> BatchJob:
    """A new job of the same settings with the job's rows that got no answer (errored,
    expired or canceled), each with its own custom_id."""
    failed = (
        BatchRow.objects.filter(job=job)
        .exclude(request__result__in=["", BatchRequest.Result.SUCCEEDED])
        .select_related("request")
        .order_by("number")
    )

    def source() -> Iterator[Row]:
        for number, row in enumerate(failed.iterator(chunk_size=WRITE_CHUNK), start=1):
            yield Row(
                number=number,
                line=row.number,
                prompt=row.request.prompt,
                custom_id=row.custom_id,
                system=row.request.system,
            )

    job_settings = _job_settings(job)
    plan = _plan(source, job_settings, _checked_model(job.model))
    return _store(
        user=job.user,
        name=job.name,
        job_settings=job_settings,
        source=source,
        plan=plan,
        resubmitted_from=job,
    )


def batch_job_cancel(*, job: BatchJob) -> bool:
    """Asks for the job to stop: its parts not sent are not sent, the worker cancels those
    running at once. Results already in are kept. False if it had ended already."""
    now = timezone.now()
    with transaction.atomic():
        locked = BatchJob.objects.select_for_update().get(pk=job.pk)
        if not locked.can_cancel:
            return False
        locked.status = BatchJob.Status.CANCELING
        locked.cancel_requested_at = now
        locked.save(update_fields=["status", "cancel_requested_at"])
        BatchPart.objects.filter(
            job=locked, status__in=[BatchPart.Status.PENDING, BatchPart.Status.IN_PROGRESS]
        ).update(next_attempt_at=now)
    job.status, job.cancel_requested_at = locked.status, locked.cancel_requested_at
    return True


# --- the worker's steps --------------------------------------------------------------------


def _backoff(attempts: int) -> dt.timedelta:
    seconds = settings.BATCH_POLL_SECONDS * 2 ** min(attempts, 16)
    return dt.timedelta(seconds=min(seconds, settings.BATCH_POLL_MAX_SECONDS))


def _job_settings(job: BatchJob) -> JobSettings:
    return JobSettings(
        model=job.model,
        max_tokens=job.max_tokens,
        system=job.system,
        cache_system=job.cache_system,
        output_schema=job.schema,
    )


def _part_requests(part: BatchPart) -> list[dict]:
    job_settings = _job_settings(part.job)
    rows = (
        BatchRequest.objects.filter(part=part)
        .order_by("id")
        .values_list("custom_id", "prompt", "system")
    )
    return [
        {"custom_id": custom_id, "params": job_settings.params(prompt=prompt, system=system)}
        for custom_id, prompt, system in rows.iterator(chunk_size=WRITE_CHUNK)
    ]


def batch_part_submit(*, part_id: int) -> None:
    """Sends a pending part (once: it is claimed first), or closes it unsent when its job
    was canceled."""
    now = timezone.now()
    claimed = BatchPart.objects.filter(
        pk=part_id, status=BatchPart.Status.PENDING, next_attempt_at__lte=now
    ).update(status=BatchPart.Status.SUBMITTING, lease_until=now + SUBMIT_LEASE)
    if not claimed:
        return
    part = BatchPart.objects.select_related("job").get(pk=part_id)
    if part.job.cancel_requested_at is not None:
        batch_part_close_unsent(
            part=part,
            result={"type": "canceled"},
            status=BatchPart.Status.CANCELED,
            reason="Canceled before it was sent.",
        )
        return
    BatchPart.objects.filter(pk=part_id).update(submit_started_at=now)
    try:
        batch = api.batch_create(_part_requests(part))
    except UpstreamError as exc:
        _part_attempt_failed(part, exc, sending=True)
        return
    _part_submitted(part, batch)


def _part_submitted(part: BatchPart, batch: dict) -> None:
    now = timezone.now()
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=part.job_id)
        part.batch_id = batch["id"]
        part.submitted_at = now
        part.expires_at = batch.get("expires_at")
        part.lease_until = None
        part.attempts = 0
        part.error = ""
        part.poll_interval = settings.BATCH_POLL_SECONDS
        _counts_from(part, batch)
        part.next_attempt_at = now if job.cancel_requested_at else now + _poll_delay(part)
        part.save()
        if job.submitted_at is None:
            job.submitted_at = now
        if job.status == BatchJob.Status.QUEUED:
            job.status = BatchJob.Status.RUNNING
        job.save(update_fields=["submitted_at", "status"])
    logger.info("batch job %s part %s sent as %s", part.job_id, part.number, part.batch_id)


def _poll_delay(part: BatchPart) -> dt.timedelta:
    return dt.timedelta(seconds=part.poll_interval or settings.BATCH_POLL_SECONDS)


def _counts_from(part: BatchPart, batch: dict) -> None:
    counts = batch.get("request_counts") or {}
    for name in ("processing", "succeeded", "errored", "canceled", "expired"):
        setattr(part, name, counts.get(name) or 0)
    status = batch.get("processing_status")
    if status == "ended":
        part.status = BatchPart.Status.ENDED
        part.ended_at = batch.get("ended_at") or timezone.now()
    elif status == "canceling":
        part.status = BatchPart.Status.CANCELING
    else:
        part.status = BatchPart.Status.IN_PROGRESS


def _part_attempt_failed(part: BatchPart, exc: UpstreamError, *, sending: bool) -> None:
    """A failed call: tried again later (backing off) when it may pass. A refused
    submission, or a batch the API no longer has (deleted, or its results archived),
    closes the part: its requests without a result are errored with the API's reason."""
    gone = not sending and exc.code == "upstream_not_found"
    if (sending and exc.code not in api.RETRYABLE) or gone:
        logger.warning("batch job %s part %s refused: %s", part.job_id, part.number, exc.message)
        reason = exc.message
        if gone:
            reason = f"The API no longer has this batch or its results ({exc.message})."
        batch_part_close_unsent(
            part=part,
            result=_errored(exc.code, reason),
            status=BatchPart.Status.FAILED,
            reason=reason,
        )
        return
    attempts = part.attempts + 1
    logger.warning(
        "batch job %s part %s: %s (attempt %s, trying again later)",
        part.job_id,
        part.number,
        exc.message,
        attempts,
    )
    changes = {
        "attempts": attempts,
        "error": exc.message,
        "next_attempt_at": timezone.now() + _backoff(attempts),
    }
    if sending:
        changes.update(status=BatchPart.Status.PENDING, lease_until=None)
    BatchPart.objects.filter(pk=part.pk).update(**changes)


def batch_part_recover(*, part_id: int) -> None:
    """A part left `submitting` past its lease (its worker stopped mid-submission): the
    batch may have been created without its id being saved. It is looked for among the
    API's batches created since (same number of requests, not one of ours); found, it is
    adopted; not found, the part is sent again."""
    now = timezone.now()
    claimed = BatchPart.objects.filter(
        pk=part_id, status=BatchPart.Status.SUBMITTING, lease_until__lt=now
    ).update(lease_until=now + SUBMIT_LEASE)
    if not claimed:
        return
    part = BatchPart.objects.select_related("job").get(pk=part_id)
    since = (part.submit_started_at or part.job.created_at) - CLOCK_MARGIN
    try:
        created = api.batches_created_since(since)
    except UpstreamError as exc:
        BatchPart.objects.filter(pk=part_id).update(
            lease_until=now + _backoff(part.attempts + 1), attempts=part.attempts + 1
        )
        logger.warning("batch part %s: its batch could not be looked for: %s", part_id, exc)
        return
    ours = set(
        BatchPart.objects.filter(batch_id__in=[b["id"] for b in created]).values_list(
            "batch_id", flat=True
        )
    )
    candidates = [
        batch
        for batch in created
        if batch["id"] not in ours
        and sum((batch.get("request_counts") or {}).values()) == part.requests
    ]
    if candidates:
        found = min(candidates, key=lambda batch: batch["created_at"])
        logger.warning("batch part %s: adopting %s, created before a restart", part_id, found["id"])
        _part_submitted(part, found)
        return
    BatchPart.objects.filter(pk=part_id).update(
        status=BatchPart.Status.PENDING, lease_until=None, next_attempt_at=now
    )


def batch_part_poll(*, part: BatchPart) -> None:
    """The batch's status and counts; a running batch is polled less and less often."""
    try:
        batch = api.batch_retrieve(part.batch_id)
    except UpstreamError as exc:
        _part_attempt_failed(part, exc, sending=False)
        return
    _counts_from(part, batch)
    part.attempts = 0
    part.error = ""
    now = timezone.now()
    if part.status == BatchPart.Status.ENDED:
        part.next_attempt_at = now  # its results next
    else:
        part.next_attempt_at = now + _poll_delay(part)
        part.poll_interval = min(
            (part.poll_interval or settings.BATCH_POLL_SECONDS) * 2,
            settings.BATCH_POLL_MAX_SECONDS,
        )
    part.save(
        update_fields=[
            "status",
            "processing",
            "succeeded",
            "errored",
            "canceled",
            "expired",
            "ended_at",
            "attempts",
            "error",
            "next_attempt_at",
            "poll_interval",
        ]
    )


def batch_part_cancel(*, part: BatchPart) -> None:
    """Asks the API to cancel a running part of a canceled job; then it is polled soon."""
    try:
        batch = api.batch_cancel(part.batch_id)
    except UpstreamError as exc:
        _part_attempt_failed(part, exc, sending=False)
        return
    part.cancel_sent_at = timezone.now()
    _counts_from(part, batch)
    part.poll_interval = settings.BATCH_POLL_SECONDS
    part.next_attempt_at = (
        part.cancel_sent_at
        if part.status == BatchPart.Status.ENDED
        else part.cancel_sent_at + _poll_delay(part)
    )
    part.save()


def batch_part_retry_later(*, part: BatchPart, error: UpstreamError) -> None:
    _part_attempt_failed(part, error, sending=False)


def batch_part_put_off(*, part: BatchPart) -> None:
    """A part whose step failed unexpectedly (a bug, logged) waits the longest poll
    interval before it is tried again, instead of failing every turn."""
    BatchPart.objects.filter(pk=part.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=settings.BATCH_POLL_MAX_SECONDS)
    )


# --- importing results ----------------------------------------------------------------------

_RESULT_STATUS = {
    BatchRequest.Result.SUCCEEDED: UsageRecord.Status.COMPLETE,
    BatchRequest.Result.ERRORED: UsageRecord.Status.ERROR,
    BatchRequest.Result.EXPIRED: UsageRecord.Status.ERROR,
    BatchRequest.Result.CANCELED: UsageRecord.Status.STOPPED,
}
_IMPORTED_FIELDS = [
    "result",
    "output",
    "stop_reason",
    "error_type",
    "error_message",
    "message",
    "imported_at",
]


def _apply_result(request: BatchRequest, result: dict, now) -> dict:
    """Fills the request from the API's result object; returns the usage it is billed for."""
    kind = result.get("type")
    request.imported_at = now
    if kind == "succeeded":
        message = result.get("message") or {}
        request.result = BatchRequest.Result.SUCCEEDED
        request.message = message
        request.output = "".join(
            block.get("text") or ""
            for block in message.get("content") or []
            if block.get("type") == "text"
        )
        request.stop_reason = message.get("stop_reason") or ""
        return message.get("usage") or {}
    if kind == "errored":
        # An ErrorResponse: {"type": "error", "error": {"type", "message"}}.
        error = (result.get("error") or {}).get("error") or {}
        request.result = BatchRequest.Result.ERRORED
        request.error_type = (error.get("type") or "error")[:60]
        request.error_message = error.get("message") or ""
    elif kind == "expired":
        request.result = BatchRequest.Result.EXPIRED
        request.error_message = result.get("reason") or (
            "Expired: the API did not reach it within 24 hours of the batch's creation."
        )
    else:
        request.result = BatchRequest.Result.CANCELED
        request.error_message = result.get("reason") or "Canceled before it was processed."
    return {}


def _save_results(requests: list[BatchRequest]) -> None:
    """One UPDATE per request, sent in one go (executemany: psycopg pipelines them). The
    ORM's bulk_update builds a CASE over every row for every field, which took three
    quarters of an import's time (docs/deployment.md has the figures)."""
    meta = BatchRequest._meta
    fields = [meta.get_field(name) for name in _IMPORTED_FIELDS]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    statement = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
    )
    rows = [
        [field.get_db_prep_save(getattr(request, field.attname), connection) for field in fields]
        + [request.pk]
        for request in requests
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)


def batch_results_import(*, part: BatchPart, results: list[dict]) -> int:
    """Imports a chunk of a part's results in one transaction: each request without a
    result gets its own, and its ledger row is settled at its exact batch cost; a result
    imported already (a restart reads the stream again from its start) is skipped. Returns
    how many were new."""
    by_custom_id = {line["custom_id"]: line.get("result") or {} for line in results}
    now = timezone.now()
    with transaction.atomic():
        requests = list(
            BatchRequest.objects.select_for_update(of=("self",))
            .filter(part=part, custom_id__in=list(by_custom_id), result="")
            .select_related("usage_record__price")
        )
        if not requests:
            return 0
        settlements, kinds = [], Counter()
        for request in requests:
            usage = _apply_result(request, by_custom_id[request.custom_id], now)
            kinds[request.result] += 1
            record = request.usage_record
            if record is not None and record.status == UsageRecord.Status.RESERVED:
                settlements.append(
                    Settlement(
                        record=record,
                        usage=usage,
                        status=_RESULT_STATUS[request.result],
                        served_model=(request.message or {}).get("model") or "",
                        # The batch's id: with the custom_id, what the API knows the call by.
                        request_id=part.batch_id or "",
                    )
                )
        usage_settle_many(settlements)
        _save_results(requests)
        cost = sum((s.record.cost for s in settlements if s.record.cost is not None), ZERO)
        unpriced = sum(1 for s in settlements if s.record.cost is None)
        BatchPart.objects.filter(pk=part.pk).update(imported=F("imported") + len(requests))
        BatchJob.objects.filter(pk=part.job_id).update(
            cost=F("cost") + cost,
            unpriced=F("unpriced") + unpriced,
            **{kind: F(kind) + count for kind, count in kinds.items()},
        )
    return len(requests)


def _errored(error_type: str, message: str) -> dict:
    """An `errored` result as the API gives it, for a request the API never answered."""
    return {"type": "errored", "error": {"error": {"type": error_type, "message": message}}}


def batch_part_close_unsent(
    *, part: BatchPart, result: dict, status: str, reason: str = ""
) -> None:
    """Gives every request of a part that will not be sent (or got no result) the same
    result, through the import (at no cost), and closes the part."""
    pending = BatchRequest.objects.filter(part=part, result="").values_list("custom_id", flat=True)
    while True:
        chunk = list(pending[:WRITE_CHUNK])
        if not chunk:
            break
        batch_results_import(
            part=part, results=[{"custom_id": custom_id, "result": result} for custom_id in chunk]
        )
    BatchPart.objects.filter(pk=part.pk).update(
        status=status, error=reason, lease_until=None, imported_at=timezone.now()
    )
    _job_refresh(part.job_id)


def batch_part_imported(*, part: BatchPart) -> None:
    """The part's results are all read: a request the API returned nothing for is errored
    (it cannot be left waiting), and the part is done."""
    if BatchRequest.objects.filter(part=part, result="").exists():
        logger.warning("batch %s returned no result for some requests", part.batch_id)
        batch_part_close_unsent(
            part=part,
            result=_errored("missing_result", "The API returned no result for this request."),
            status=BatchPart.Status.IMPORTED,
        )
        return
    BatchPart.objects.filter(pk=part.pk).update(
        status=BatchPart.Status.IMPORTED, imported_at=timezone.now()
    )
    _job_refresh(part.job_id)


def _job_refresh(job_id: int) -> None:
    """A job whose parts are all done has ended (failed, if the API refused them all)."""
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().get(pk=job_id)
        statuses = list(job.parts.values_list("status", "error"))
        if any(status not in BatchPart.DONE for status, _ in statuses):
            return
        if job.finished:
            return
        if all(status == BatchPart.Status.FAILED for status, _ in statuses):
            job.status = BatchJob.Status.FAILED
            job.error = next((error for _, error in statuses if error), "")
        else:
            job.status = BatchJob.Status.ENDED
        job.ended_at = timezone.now()
        job.save(update_fields=["status", "error", "ended_at"])
    logger.info("batch job %s %s", job_id, job.status)
