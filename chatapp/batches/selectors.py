"""Read queries: a user's jobs (nobody else's), a job's progress, its rows a page or a
chunk at a time, and the parts the worker has to move."""

import datetime as dt
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import Min, Q, QuerySet

from .models import BatchJob, BatchPart, BatchRow

RESULTS_PER_PAGE = 50
JOBS_SHOWN = 100

_API_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")
_ACTIVE = (
    BatchPart.Status.IN_PROGRESS,
    BatchPart.Status.CANCELING,
    BatchPart.Status.ENDED,
    BatchPart.Status.PENDING,
)


def batch_jobs_of_user(*, user) -> QuerySet[BatchJob]:
    """The user's latest jobs, newest first."""
    return BatchJob.objects.filter(user=user).order_by("-created_at", "-id")[:JOBS_SHOWN]


def batch_job_of_user(*, user, job_id: int) -> BatchJob | None:
    """The user's own job, or None (another user's job is as good as missing)."""
    return BatchJob.objects.filter(user=user, pk=job_id).first()


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.000001'))}"


def batch_job_progress(*, job: BatchJob) -> dict:
    """What the job page shows live (two queries): the API's counts of the requests by
    state, summed over the job's parts, how many results are in, the cost so far."""
    job.refresh_from_db()
    parts = list(
        BatchPart.objects.filter(job=job).values(*_API_COUNTS, "imported", "batch_id", "error")
    )
    api = {name: sum(part[name] for part in parts) for name in _API_COUNTS}
    # Processed: what the API has finished, or (for a part never sent: canceled first, or
    # refused) what has a result.
    processed = sum(
        max(sum(part[name] for name in _API_COUNTS if name != "processing"), part["imported"])
        for part in parts
    )
    notice = "" if job.finished else next((part["error"] for part in parts if part["error"]), "")
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.finished,
        "can_cancel": job.can_cancel,
        "rows": job.row_count,
        "requests": job.request_count,
        "reused": job.reused,
        "parts": len(parts),
        "parts_sent": sum(1 for part in parts if part["batch_id"]),
        "api": api,
        "processed": min(processed, job.request_count),
        "imported": sum(part["imported"] for part in parts),
        "results": {
            "succeeded": job.succeeded,
            "errored": job.errored,
            "canceled": job.canceled,
            "expired": job.expired,
        },
        "cost": _money(job.cost),
        "reserved_cost": _money(job.reserved_cost),
        "unpriced": job.unpriced,
        "error": job.error,
        # A call that failed and will be tried again (the API down, a rate limit).
        "notice": notice,
    }


def batch_rows_page(*, job: BatchJob, number: int) -> Page:
    """One page of the job's rows, in the file's order, with their requests' results and
    ledger rows (one query, and one count)."""
    rows = (
        BatchRow.objects.filter(job=job)
        .select_related("request", "request__usage_record")
        .order_by("number")
    )
    return Paginator(rows, RESULTS_PER_PAGE).get_page(number)


def batch_rows_after(*, job: BatchJob, after: int, limit: int) -> list[BatchRow]:
    """The rows after row number `after`, at most `limit` of them: the downloads read a
    job a chunk at a time (by the row number's index, never by an offset)."""
    return list(
        BatchRow.objects.filter(job=job, number__gt=after)
        .select_related("request", "request__usage_record")
        .order_by("number")[:limit]
    )


# --- the worker -------------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status__in=_ACTIVE, next_attempt_at__lte=now) | Q(
        status=BatchPart.Status.SUBMITTING, lease_until__lt=now
    )


def parts_due(*, now: dt.datetime, limit: int) -> list[BatchPart]:
    """The parts to move on now, the longest waiting first."""
    return list(
        BatchPart.objects.filter(_due(now))
        .select_related("job")
        .order_by("next_attempt_at", "id")[:limit]
    )


def next_due() -> dt.datetime | None:
    """When the next part will be due, if any is waiting."""
    found = BatchPart.objects.aggregate(
        waiting=Min("next_attempt_at", filter=Q(status__in=_ACTIVE)),
        leased=Min("lease_until", filter=Q(status=BatchPart.Status.SUBMITTING)),
    )
    times = [time for time in found.values() if time is not None]
    return min(times) if times else None
