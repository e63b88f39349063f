"""Safe restarts: `manage.py batch_worker` killed (SIGKILL, no chance to tidy up) in the
middle of importing a batch's results, then started again, records exactly one ledger row
per result; and a worker stopped by SIGTERM stops between steps."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from chatapp.batches.models import BatchJob, BatchPart, BatchRequest
from chatapp.usage.models import UsageDaily, UsageRecord
from tests.live import wait_for_its_sessions_to_end

from .conftest import csv_bytes, post_job, prompts

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def start_worker(fake, **extra) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_MAX_RETRIES": "0",
        "BATCH_POLL_SECONDS": "0.05",
        "BATCH_POLL_MAX_SECONDS": "0.2",
        "BATCH_WORKER_IDLE_SECONDS": "0.05",
        "BATCH_IMPORT_CHUNK": "10",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "batch_worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_until(condition, timeout: float, process: subprocess.Popen, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the worker exited: {process.stderr.read().decode()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(step)


def imported() -> int:
    return BatchPart.objects.aggregate(n=Sum("imported"))["n"] or 0


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_and_started_again_records_each_result_once(
    client, owner, fake_api, no_budget
):
    fake_api.set_batch_speed(None)  # answered at once: the import is what takes time
    client.force_login(owner)
    assert post_job(client, csv_bytes(prompts(ROWS))).status_code == 302
    job = BatchJob.objects.get()

    first = start_worker(fake_api)
    try:
        wait_until(lambda: 0 < imported() < ROWS // 2, timeout=60, process=first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    wait_for_its_sessions_to_end()

    # Killed mid-import: what is in is whole (each chunk is one transaction), the rest waits.
    done = imported()
    assert 0 < done < ROWS
    settled = UsageRecord.objects.exclude(status="reserved").count()
    assert settled == done == BatchRequest.objects.exclude(result="").count()
    job.refresh_from_db()
    assert job.status == "running" and job.succeeded == done

    second = start_worker(fake_api)
    try:
        wait_until(lambda: BatchJob.objects.filter(status="ended").exists(), 120, second, 0.05)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0  # stops cleanly between steps
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    wait_for_its_sessions_to_end()

    job.refresh_from_db()
    assert job.succeeded == ROWS and job.imported == ROWS
    assert len(fake_api.batches) == 1  # sent once
    records = UsageRecord.objects.all()
    assert records.count() == ROWS  # exactly one ledger row per result
    assert not records.filter(status="reserved").exists()
    assert BatchRequest.objects.filter(result="succeeded").count() == ROWS
    assert BatchPart.objects.get().imported == ROWS
    daily = UsageDaily.objects.aggregate(requests=Sum("requests"), cost=Sum("cost"))
    assert daily["requests"] == ROWS
    assert daily["cost"] == records.aggregate(total=Sum("cost"))["total"] == job.cost
