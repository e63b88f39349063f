"""The batch worker's loop (`manage.py batch_worker`): each turn it takes the parts that
are due and moves each one step (send, cancel, poll, import); with nothing due it sleeps
until the next part is due, at most BATCH_WORKER_IDLE_SECONDS, so that new jobs and
cancels are seen soon. Every step is safe to stop at any moment and to run again: the
state is in the database, never in this process."""

import datetime as dt
import gc
import logging
import threading
from itertools import islice

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from chatapp.llm import batches as api
from chatapp.llm.stream import UpstreamError

from . import selectors, services
from .models import BatchPart

logger = logging.getLogger(__name__)

# Parts moved per turn at most (the others wait for the next turn).
PARTS_PER_TURN = 20


def import_part(part: BatchPart) -> int:
    """Reads the part's results as they stream in, a chunk at a time, each chunk imported
    in its own transaction; returns how many were new. A failure mid-stream leaves what was
    imported, and the next attempt skips it."""
    results = api.batch_results(part.batch_id)
    imported = 0
    try:
        while chunk := list(islice(results, settings.BATCH_IMPORT_CHUNK)):
            imported += services.batch_results_import(part=part, results=chunk)
            # A chunk's model instances refer to each other (a request and its ledger row):
            # freed now, not at the next full collection, so memory stays one chunk's.
            del chunk
            gc.collect()
    except UpstreamError as exc:
        services.batch_part_retry_later(part=part, error=exc)
        return imported
    finally:
        results.close()
    services.batch_part_imported(part=part)
    logger.info("batch %s imported (%s new results)", part.batch_id, imported)
    return imported


def step(part: BatchPart) -> None:
    """Moves one due part on by one step."""
    status = part.status
    if status == BatchPart.Status.PENDING:
        services.batch_part_submit(part_id=part.pk)
    elif status == BatchPart.Status.SUBMITTING:
        services.batch_part_recover(part_id=part.pk)
    elif status in (BatchPart.Status.IN_PROGRESS, BatchPart.Status.CANCELING):
        if part.job.cancel_requested_at and part.cancel_sent_at is None:
            services.batch_part_cancel(part=part)
        else:
            services.batch_part_poll(part=part)
    elif status == BatchPart.Status.ENDED:
        import_part(part)


def turn() -> dt.datetime | None:
    """One turn over the due parts; returns when the next part will be due (None: none
    is waiting)."""
    for part in selectors.parts_due(now=timezone.now(), limit=PARTS_PER_TURN):
        try:
            step(part)
        except Exception:  # one part's bug must not stop the others' work
            logger.exception("batch part %s: step failed", part.pk)
            services.batch_part_put_off(part=part)
    return selectors.next_due()


def run(stop: threading.Event | None = None) -> None:
    """Turns until `stop` is set (or forever)."""
    stop = stop or threading.Event()
    logger.info("batch worker started")
    while not stop.is_set():
        close_old_connections()
        try:
            due = turn()
        except Exception:  # the database gone for a moment: try again after a pause
            logger.exception("batch worker turn failed")
            due = None
        idle = settings.BATCH_WORKER_IDLE_SECONDS
        if due is not None:
            idle = min(idle, max((due - timezone.now()).total_seconds(), 0))
        stop.wait(idle)
    logger.info("batch worker stopped")


def run_until(condition, *, timeout: float) -> bool:
    """Turns until `condition()` holds or `timeout` seconds have passed (tests, benchmarks):
    whether it held."""
    deadline = timezone.now() + dt.timedelta(seconds=timeout)
    while timezone.now() < deadline:
        due = turn()
        if condition():
            return True
        wait = 0.02
        if due is not None:
            wait = min(max((due - timezone.now()).total_seconds(), 0.0), 0.2)
        threading.Event().wait(wait)
    return condition()
