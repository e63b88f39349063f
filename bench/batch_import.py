"""Batch job benchmark: jobs of N rows (10,000 by default) through the whole road, on the
fake API run as a process of its own (so that its memory is not counted here): the upload
checked and stored, the part sent, polled to its end, its results streamed and imported.
It prints each phase's peak memory, as Python allocations (tracemalloc: the most the phase
held above what was allocated when it began) and as the process's resident size, beside
the size of the results file: the import must stay bounded by its chunk, not grow with the
job. A benchmark, not a test: run it on a database of its own (it migrates it and adds a
user per run). The figures are in docs/deployment.md.

    export DATABASE_URL=postgres://root@127.0.0.1:5432/chat_batch_bench
    .venv/bin/python bench/batch_import.py                  # 10,000 rows
    .venv/bin/python bench/batch_import.py --rows 2000,10000,20000 --chunk 500
    .venv/bin/python bench/batch_import.py --no-trace        # times without tracemalloc
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files.uploadedfile import UploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from chatapp.batches import worker  # noqa: E402
from chatapp.batches.models import BatchPart  # noqa: E402
from chatapp.batches.params import JobSettings  # noqa: E402
from chatapp.batches.services import batch_job_create  # noqa: E402
from chatapp.llm import batches as api  # noqa: E402
from chatapp.usage.models import UsagePolicy, UsageRecord  # noqa: E402

MB = 1024 * 1024
PROMPT = (
    "Ticket {n}: I was charged twice for my subscription this month and the second charge "
    "came with an invoice number I do not recognise. Please tell me which team handles "
    "this, and label the ticket."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb() -> float:
    """The resident size now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Phase:
    """Times a phase and keeps its peak of Python allocations and of resident size."""

    def __init__(self, name: str, results: list):
        self.name, self.results = name, results

    def __enter__(self):
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        self.before = tracemalloc.get_traced_memory()[0]
        self.start_rss, self.started = rss_mb(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        _, peak = tracemalloc.get_traced_memory()
        # What the phase itself held at most, above what was already allocated.
        held = (peak - self.before) / MB
        self.results.append(
            (self.name, time.perf_counter() - self.started, held, self.start_rss, rss_mb())
        )


def start_fake() -> tuple[subprocess.Popen, str]:
    port = free_port()
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatapp.fake_anthropic",
            "--port",
            str(port),
            "--batch-speed",
            "inf",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return fake, f"http://127.0.0.1:{port}"
        if time.monotonic() > deadline or fake.poll() is not None:
            raise SystemExit("the fake API did not start")
        time.sleep(0.1)


def write_csv(rows: int) -> Path:
    path = Path(tempfile.mkstemp(suffix=".csv")[1])
    with path.open("w", encoding="utf-8") as out:
        out.write("custom_id,prompt\n")
        for n in range(1, rows + 1):
            out.write(f"ticket-{n},{PROMPT.format(n=n)}\n")
    return path


def results_bytes(batch_id: str) -> int:
    """The size of the results file, read as a stream and thrown away."""
    import json

    return sum(len(json.dumps(line)) + 1 for line in api.batch_results(batch_id))


def run(rows: int, user) -> list:
    phases: list = []
    path = write_csv(rows)
    try:
        with path.open("rb") as data:
            upload = UploadedFile(data, name="tickets.csv", size=path.stat().st_size)
            with Phase("check and store the upload", phases):
                job = batch_job_create(
                    user=user,
                    upload=upload,
                    job_settings=JobSettings(
                        model="claude-haiku-4-5", max_tokens=200, system="Label the ticket."
                    ),
                )
    finally:
        path.unlink()
    part = BatchPart.objects.get(job=job)
    with Phase("send the batch (the SDK holds the body)", phases):
        worker.step(part)
    part.refresh_from_db()
    while part.status != BatchPart.Status.ENDED:
        time.sleep(0.05)
        worker.step(part)
        part.refresh_from_db()
    size = results_bytes(part.batch_id)
    with Phase(f"stream and import the results (chunks of {settings.BATCH_IMPORT_CHUNK})", phases):
        worker.import_part(part)
    job.refresh_from_db()
    assert job.status == "ended" and job.succeeded == rows, (job.status, job.succeeded)
    settled = UsageRecord.objects.filter(
        pk__in=job.batch_requests.values("usage_record_id"), status="complete"
    ).count()
    assert settled == rows, settled
    print(f"\n{rows:,} rows: results file {size / MB:.1f} MB, {settled:,} ledger rows settled")
    print(f"  {'phase':<52} {'seconds':>8} {'peak MB':>8} {'RSS MB':>15}")
    for name, seconds, peak, rss_before, rss_after in phases:
        print(f"  {name:<52} {seconds:8.1f} {peak:8.1f} {rss_before:6.0f} -> {rss_after:<6.0f}")
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000", help="rows per job, comma-separated")
    parser.add_argument("--chunk", type=int, default=settings.BATCH_IMPORT_CHUNK)
    parser.add_argument(
        "--no-trace", action="store_true", help="time only (tracemalloc slows Python down)"
    )
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    fake, base_url = start_fake()
    settings.ANTHROPIC_BASE_URL, settings.ANTHROPIC_API_KEY = base_url, "bench-key"
    settings.BATCH_IMPORT_CHUNK = args.chunk
    settings.BATCH_POLL_SECONDS = settings.BATCH_POLL_MAX_SECONDS = 0.05
    policy = UsagePolicy.current()
    policy.default_monthly_budget_usd = None
    policy.save()
    user = get_user_model().objects.create_user(f"batch-bench-{time.time_ns()}")
    if not args.no_trace:
        tracemalloc.start()
    try:
        for rows in (int(n) for n in args.rows.split(",")):
            run(rows, user)
    finally:
        fake.terminate()
        fake.wait()
    print(f"\npeak RSS of the process: {rss_peak_mb():.0f} MB")


def rss_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
