"""Files of prompts made in memory, and the road a person takes to send them: the upload
form's POST, exactly as the page sends it."""

import csv
import io
import json

import pytest
from asgiref.sync import async_to_sync
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chatapp.usage.models import UsagePolicy

LIST = reverse("batches:list")
HAIKU = "claude-haiku-4-5"


@pytest.fixture(autouse=True)
def batch_settings(settings):
    settings.BATCH_POLL_SECONDS = 0.05
    settings.BATCH_POLL_MAX_SECONDS = 0.2
    settings.BATCH_WORKER_IDLE_SECONDS = 0.05
    return settings


@pytest.fixture
def no_budget(db):
    """The site's policy without a monthly limit (the default) and without a rate limit."""
    policy = UsagePolicy.current()
    policy.default_monthly_budget_usd = None
    policy.requests_per_minute = 0
    policy.save()
    return policy


def csv_bytes(rows: list[dict], columns=None) -> bytes:
    columns = columns or list(rows[0])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def jsonl_bytes(rows: list) -> bytes:
    return "".join(
        (row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows
    ).encode()


def prompts(n: int, **extra) -> list[dict]:
    return [
        {"prompt": f"Classify ticket {i}: my invoice is wrong", **extra} for i in range(1, n + 1)
    ]


def post_job(client, data: bytes, *, name="tickets.csv", **fields):
    """POST /batches/ with the form's fields (`file`, `model`, `system`, `max_tokens`, ...)."""
    form = {"model": HAIKU, "system": "", "max_tokens": "200", **fields}
    form["file"] = SimpleUploadedFile(name, data, content_type="text/csv")
    return client.post(LIST, form)


def streamed(response) -> str:
    """A streamed download's text, read as an ASGI server reads it (asynchronously)."""
    assert response.streaming and response.is_async

    async def read():
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)().decode()
