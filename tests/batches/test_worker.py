"""The batch worker against the fake API over real HTTP (the SDK unpatched): a job sent,
polled and imported whole; its live progress; cancel while the API is at work; a job in
several batches; a submission cut short and found again; the API down for a while; results
reused at no second cost. Every result is in the ledger once, at the batch price."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from chatapp.batches import worker
from chatapp.batches.models import BatchJob, BatchPart, BatchRequest
from chatapp.batches.services import batch_part_recover
from chatapp.llm import batches as api
from chatapp.llm.client import sync_client
from chatapp.usage.models import ModelPrice, UsageDaily, UsageRecord
from chatapp.usage.pricing import TokenUsage, cost_of
from chatapp.usage.services import month_to_date

from .conftest import HAIKU, csv_bytes, post_job, prompts, streamed

pytestmark = pytest.mark.usefixtures("no_budget")


@pytest.fixture
def fake(fake_api):
    """The fake with every batch answered at once when next looked at (its default)."""
    fake_api.set_batch_speed(None)
    return fake_api


def ended(job) -> bool:
    job.refresh_from_db()
    return job.finished


def run_to_the_end(job, timeout=30.0) -> None:
    assert worker.run_until(lambda: ended(job), timeout=timeout), BatchPart.objects.values()


def make_job(client, rows, **fields) -> BatchJob:
    response = post_job(client, csv_bytes(rows, ["custom_id", "prompt", "system"]), **fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    return BatchJob.objects.order_by("-id").first()


def assert_one_settled_ledger_row_per_request(job) -> None:
    requests = BatchRequest.objects.filter(job=job)
    records = UsageRecord.objects.filter(pk__in=requests.values("usage_record_id"))
    assert records.count() == requests.count() == job.request_count
    assert not records.filter(status="reserved").exists()
    assert not records.filter(settled_at__isnull=True).exists()
    assert set(records.values_list("purpose", "is_batch")) == {("batch", True)}
    daily = UsageDaily.objects.filter(user=job.user).aggregate(
        requests=Sum("requests"), batch=Sum("batch_requests"), cost=Sum("batch_cost")
    )
    assert daily["requests"] == daily["batch"] == records.count()
    assert daily["cost"] == records.aggregate(total=Sum("cost"))["total"] == job.cost


def test_the_whole_flow_on_the_fake(client, owner, fake):
    fake.set_batch_scenarios(
        {
            "r3": {"kind": "http_error", "status": 529},
            "r4": {"kind": "expired"},
            "r1": {"kind": "reply", "text": "Billing.", "usage": {"input_tokens": 40}},
        }
    )
    client.force_login(owner)
    rows = [
        {"custom_id": "t-1", "prompt": "I was charged twice"},
        {"custom_id": "t-2", "prompt": "The app crashes"},
        {"custom_id": "t-3", "prompt": "Where is my parcel?"},
        {"custom_id": "t-4", "prompt": "Cancel my plan"},
        {"custom_id": "t-5", "prompt": "I was charged twice"},
    ]
    job = make_job(client, rows, system="Label the ticket.", cache_system="on")
    assert fake.batches == []  # nothing is sent by the page

    run_to_the_end(job)

    (sent,) = fake.batches
    part = BatchPart.objects.get()
    assert part.batch_id == sent["id"] and part.status == "imported"
    requests = fake.batch_requests(sent["id"])
    assert [r["custom_id"] for r in requests] == ["r1", "r2", "r3", "r4"]  # t-5 reuses r1
    assert requests[0]["params"]["system"] == [
        {
            "type": "text",
            "text": "Label the ticket.",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    assert requests[0]["params"]["messages"] == [{"role": "user", "content": "I was charged twice"}]

    assert job.status == "ended" and job.ended_at is not None
    assert (job.succeeded, job.errored, job.expired, job.canceled) == (2, 1, 1, 0)
    results = {r.custom_id: r for r in BatchRequest.objects.select_related("usage_record")}
    assert results["r1"].output == "Billing." and results["r1"].result == "succeeded"
    assert results["r3"].result == "errored" and "overloaded" in results["r3"].reason.lower()
    assert results["r4"].result == "expired"

    # Each result at the batch price, from the usage the API returned.
    price = ModelPrice.objects.get(model=HAIKU).prices
    for custom_id in ("r1", "r2"):
        message = results[custom_id].message
        record = results[custom_id].usage_record
        assert record.cost == cost_of(TokenUsage.from_api(message["usage"]), price, batch=True)
        assert record.status == "complete" and record.request_id == sent["id"]
    assert results["r3"].usage_record.cost == results["r4"].usage_record.cost == 0
    assert_one_settled_ledger_row_per_request(job)
    assert month_to_date(user=owner).cost == job.cost > 0

    # The page and the downloads: each input beside its output; t-5 reused t-1's answer.
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Billing." in page and "Send the 2 failed requests again" in page
    body = streamed(client.get(f"/batches/{job.pk}/results.jsonl"))
    lines = {json.loads(line)["custom_id"]: json.loads(line) for line in body.splitlines()}
    assert lines["t-5"]["output"] == "Billing." and lines["t-5"]["reused"] is True
    assert lines["t-5"]["cost_usd"] == "0" and lines["t-1"]["cost_usd"] != "0"
    assert lines["t-3"]["status"] == "errored" and lines["t-3"]["reason"]


def test_progress_moves_while_the_api_works(client, owner, fake):
    fake.set_batch_live_counts(True)
    fake.set_batch_speed(10)  # 10 requests a second: 20 take 2 s
    client.force_login(owner)
    job = make_job(client, prompts(20))
    url = reverse("batches:progress", args=[job.pk])
    seen = []

    def record_progress():
        progress = client.get(url).json()
        seen.append((progress["status"], progress["processed"], progress["imported"]))
        return progress["finished"]

    assert worker.run_until(record_progress, timeout=30)
    processed = [p for status, p, _ in seen if status == "running"]
    assert len(set(processed)) >= 3, seen  # it moved in steps, not at once
    assert seen[-1] == ("ended", 20, 20)
    part = BatchPart.objects.get()
    # Polled less and less often, up to the longest interval.
    assert part.poll_interval == pytest.approx(0.2)


def test_cancel_while_in_progress(client, owner, fake):
    fake.set_batch_live_counts(True)
    fake.set_batch_speed(2)
    client.force_login(owner)
    job = make_job(client, prompts(40))
    assert worker.run_until(
        lambda: BatchPart.objects.filter(status="in_progress", succeeded__gt=0).exists(),
        timeout=20,
    )
    response = client.post(f"/batches/{job.pk}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "canceling"

    run_to_the_end(job)
    part = BatchPart.objects.get()
    assert part.cancel_sent_at is not None and part.status == "imported"
    (sent,) = fake.batches
    assert sent["cancel_initiated_at"] is not None
    assert job.status == "ended" and job.canceled > 0 and job.succeeded > 0
    assert job.succeeded + job.canceled + job.errored == 40
    canceled = UsageRecord.objects.filter(
        pk__in=BatchRequest.objects.filter(result="canceled").values("usage_record_id")
    )
    assert set(canceled.values_list("status", "cost")) == {("stopped", Decimal(0))}
    assert_one_settled_ledger_row_per_request(job)


def test_a_job_larger_than_one_batch_goes_as_several(client, owner, fake, settings):
    settings.BATCH_MAX_REQUESTS = 3
    client.force_login(owner)
    job = make_job(client, prompts(7))
    run_to_the_end(job)
    assert sorted(len(fake.batch_requests(b["id"])) for b in fake.batches) == [1, 3, 3]
    assert job.succeeded == 7 and job.parts.filter(status="imported").count() == 3
    assert_one_settled_ledger_row_per_request(job)


def test_a_submission_cut_short_is_found_and_adopted_not_sent_twice(client, owner, fake):
    fake.set_batch_speed(0)
    client.force_login(owner)
    job = make_job(client, prompts(4))
    part = BatchPart.objects.get()
    # As if a worker had sent the batch and died before saving its id.
    started = timezone.now()
    from chatapp.batches.services import _part_requests

    created = api.batch_create(_part_requests(part))
    BatchPart.objects.filter(pk=part.pk).update(
        status="submitting", submit_started_at=started, lease_until=started - dt.timedelta(1)
    )
    batch_part_recover(part_id=part.pk)
    part.refresh_from_db()
    assert part.batch_id == created["id"] and part.status == "in_progress"
    fake.finish_batches()
    run_to_the_end(job)
    assert len(fake.batches) == 1 and job.succeeded == 4


def test_a_submission_cut_short_before_the_api_saw_it_is_sent_again(client, owner, fake):
    client.force_login(owner)
    job = make_job(client, prompts(2))
    past = timezone.now() - dt.timedelta(minutes=30)
    BatchPart.objects.update(status="submitting", submit_started_at=past, lease_until=past)
    run_to_the_end(job)
    assert len(fake.batches) == 1 and job.succeeded == 2


def test_the_api_down_for_a_while_delays_the_job_and_loses_nothing(client, owner, fake, settings):
    client.force_login(owner)
    job = make_job(client, prompts(3))
    real = settings.ANTHROPIC_BASE_URL
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    worker.turn()
    part = BatchPart.objects.get()
    assert part.status == "pending" and part.attempts == 1
    assert "could not be reached" in part.error and part.next_attempt_at > timezone.now()
    progress = client.get(reverse("batches:progress", args=[job.pk])).json()
    assert "could not be reached" in progress["notice"]
    settings.ANTHROPIC_BASE_URL = real
    run_to_the_end(job)
    assert job.succeeded == 3 and len(fake.batches) == 1
    assert BatchPart.objects.get().error == ""


def test_a_shared_system_prompt_is_written_to_the_cache_once_then_read(client, owner, fake):
    long_system = "You label support tickets. " + "Follow the style guide closely. " * 400
    client.force_login(owner)
    job = make_job(client, prompts(4), system=long_system, cache_system="on")
    run_to_the_end(job)
    requests = BatchRequest.objects.select_related("usage_record").order_by("id")
    records = [request.usage_record for request in requests]  # in the order they were sent
    first, *others = records
    assert first.cache_write_1h_tokens > 2000 and first.cache_read_input_tokens == 0
    for record in others:
        assert record.cache_read_input_tokens == first.cache_write_1h_tokens
        assert record.cache_write_1h_tokens == 0
    price = ModelPrice.objects.get(model=HAIKU).prices
    for record in records:
        tokens = TokenUsage(
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cache_write_1h_tokens=record.cache_write_1h_tokens,
            cache_read_input_tokens=record.cache_read_input_tokens,
        )
        assert record.cost == cost_of(tokens, price, batch=True)
    assert fake.cache_entries[0]["ttl"] == "1h"


def test_identical_rows_are_sent_once_and_cost_once(client, owner, fake):
    client.force_login(owner)
    rows = [{"prompt": "Same"}] * 5 + [{"prompt": "Other"}]
    job = make_job(client, rows)
    run_to_the_end(job)
    assert [r["custom_id"] for r in fake.batch_requests(fake.batches[0]["id"])] == ["r1", "r2"]
    assert (job.row_count, job.request_count, job.reused) == (6, 2, 4)
    assert UsageRecord.objects.count() == 2
    table = streamed(client.get(f"/batches/{job.pk}/results.csv"))
    assert table.count(",yes\r\n") == 4  # the reused rows, at cost 0
    assert_one_settled_ledger_row_per_request(job)


def test_structured_output_is_asked_for_and_its_fields_are_columns(client, owner, fake):
    schema = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["billing", "bug", "other"]},
            "details": {"type": "object", "properties": {"urgent": {"type": "boolean"}}},
        },
        "required": ["label", "details"],
    }
    client.force_login(owner)
    job = make_job(client, prompts(2), output_schema=json.dumps(schema))
    run_to_the_end(job)
    params = fake.batch_requests(fake.batches[0]["id"])[0]["params"]
    sent = params["output_config"]["format"]
    assert sent["type"] == "json_schema" and list(sent["schema"]["properties"]) == [
        "label",
        "details",
    ]
    # Every object closed, as structured outputs require (the fake refuses it otherwise).
    assert sent["schema"]["additionalProperties"] is False
    assert sent["schema"]["properties"]["details"]["additionalProperties"] is False
    assert job.succeeded == 2
    text = streamed(client.get(f"/batches/{job.pk}/results.csv")).lstrip("\ufeff")
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0])[5:8] == ["output", "label", "details"]
    for row in table:
        assert row["label"] in ("billing", "bug", "other")
        assert json.loads(row["details"]).keys() == {"urgent"}


def test_a_batch_the_api_no_longer_has_errors_its_requests_at_no_cost(client, owner, fake):
    fake.set_batch_speed(0)
    client.force_login(owner)
    job = make_job(client, prompts(3))
    assert worker.run_until(
        lambda: BatchPart.objects.filter(status="in_progress").exists(), timeout=10
    )
    part = BatchPart.objects.get()
    fake.finish_batches()
    sync_client().messages.batches.delete(part.batch_id)  # deleted at the API meanwhile
    run_to_the_end(job)
    part.refresh_from_db()
    assert job.status == "failed" and job.errored == 3 and part.status == "failed"
    assert "no longer has this batch" in job.error
    assert set(UsageRecord.objects.values_list("status", "cost")) == {("error", Decimal(0))}
