"""Importing results into the ledger, keyed by the batch's id and the custom_id: each
request's ledger row is settled once, at its exact batch price, however many times a chunk
is imported; the job's counts and cost follow; a reused row costs nothing."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from chatapp.batches.models import BatchJob, BatchPart, BatchRequest
from chatapp.batches.services import batch_part_imported, batch_results_import
from chatapp.usage.models import ModelPrice, UsageDaily, UsageRecord
from chatapp.usage.pricing import TokenUsage, cost_of
from chatapp.usage.services import month_to_date

from .conftest import HAIKU, csv_bytes, post_job

pytestmark = pytest.mark.usefixtures("no_budget")


def succeeded(custom_id: str, text: str, *, input_tokens=100, output_tokens=20, **usage) -> dict:
    """A result line as the API's results file has it."""
    return {
        "custom_id": custom_id,
        "result": {
            "type": "succeeded",
            "message": {
                "id": f"msg_{custom_id}",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5-20251001",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, **usage},
            },
        },
    }


@pytest.fixture
def job(client, owner):
    client.force_login(owner)
    rows = [{"prompt": f"Question {i}"} for i in range(1, 5)] + [{"prompt": "Question 1"}]
    assert post_job(client, csv_bytes(rows), system="Be brief.").status_code == 302
    job = BatchJob.objects.get()
    BatchPart.objects.update(batch_id="msgbatch_test1", status="ended")
    return job


def test_each_result_settles_its_own_ledger_row_at_the_batch_price(job, owner):
    part = BatchPart.objects.get()
    cache = {
        "cache_creation_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 3000},
    }
    results = [
        succeeded("r1", "Answer one", **cache),
        succeeded("r2", "Answer two", cache_read_input_tokens=3000),
        {
            "custom_id": "r3",
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
                },
            },
        },
        {"custom_id": "r4", "result": {"type": "expired"}},
    ]
    assert batch_results_import(part=part, results=results) == 4
    batch_part_imported(part=part)

    prices = ModelPrice.objects.get(model=HAIKU).prices
    one = BatchRequest.objects.select_related("usage_record").get(custom_id="r1")
    assert one.result == "succeeded" and one.output == "Answer one"
    assert one.message["model"] == "claude-haiku-4-5-20251001"
    record = one.usage_record
    expected = cost_of(
        TokenUsage(input_tokens=100, output_tokens=20, cache_write_1h_tokens=3000),
        prices,
        batch=True,
    )
    assert record.cost == expected
    # Half the normal price: $1/MTok in, $5 out, 1-hour writes at $2, all halved.
    assert expected == (Decimal(100) * 1 + 20 * 5 + 3000 * 2) / 1_000_000 / 2
    assert (record.status, record.purpose, record.is_batch) == ("complete", "batch", True)
    assert record.request_id == "msgbatch_test1" and record.model == "claude-haiku-4-5-20251001"

    errored = BatchRequest.objects.select_related("usage_record").get(custom_id="r3")
    assert errored.reason == "invalid request error: max_tokens: too big"
    assert (errored.usage_record.status, errored.usage_record.cost) == ("error", 0)
    expired = BatchRequest.objects.select_related("usage_record").get(custom_id="r4")
    assert expired.result == "expired" and "24 hours" in expired.reason
    assert expired.usage_record.status == "error"

    job.refresh_from_db()
    assert (job.succeeded, job.errored, job.expired, job.canceled) == (2, 1, 1, 0)
    assert job.status == "ended" and job.ended_at is not None
    settled = UsageRecord.objects.aggregate(total=Sum("cost"))["total"]
    assert job.cost == settled and UsageRecord.objects.count() == 4
    assert not UsageRecord.objects.filter(status="reserved").exists()
    # The budget now holds the exact cost, nothing reserved any more.
    assert month_to_date(user=owner).cost == settled
    # By the model that answered (the snapshot) or was asked for (no answer, no model).
    daily = UsageDaily.objects.filter(user=owner).aggregate(
        requests=Sum("requests"),
        batch=Sum("batch_requests"),
        cost=Sum("cost"),
        bc=Sum("batch_cost"),
    )
    assert (daily["requests"], daily["batch"]) == (4, 4)
    assert daily["bc"] == daily["cost"] == settled


def test_a_stop_reason_longer_than_any_known_is_kept_whole(job):
    part = BatchPart.objects.get()
    later = "a_stop_reason_from_a_later_version_of_the_api_sixty_chars_ab"
    result = succeeded("r1", "Answer")
    result["result"]["message"]["stop_reason"] = later
    assert batch_results_import(part=part, results=[result]) == 1
    assert BatchRequest.objects.get(custom_id="r1").stop_reason == later


def test_a_chunk_imported_twice_records_nothing_twice(job):
    part = BatchPart.objects.get()
    chunk = [succeeded("r1", "A"), succeeded("r2", "B")]
    assert batch_results_import(part=part, results=chunk) == 2
    before = list(UsageRecord.objects.order_by("id").values("id", "status", "cost", "settled_at"))
    # The worker started again reads the stream from its start: the same lines again.
    assert batch_results_import(part=part, results=[*chunk, succeeded("r3", "C")]) == 1
    after = {r["id"]: r for r in UsageRecord.objects.values("id", "status", "cost", "settled_at")}
    for row in before:
        if row["status"] != "reserved":
            assert after[row["id"]] == row
    job.refresh_from_db()
    part.refresh_from_db()
    assert job.succeeded == 3 and part.imported == 3
    assert UsageDaily.objects.aggregate(n=Sum("requests"))["n"] == 3


def test_a_reused_row_shares_its_requests_result_at_no_cost(job):
    part = BatchPart.objects.get()
    batch_results_import(
        part=part, results=[succeeded(f"r{i}", f"Answer {i}") for i in range(1, 5)]
    )
    rows = {row.number: row for row in job.batch_rows.select_related("request")}
    assert rows[5].request_id == rows[1].request_id and not rows[5].first
    assert rows[5].request.output == "Answer 1"
    assert UsageRecord.objects.count() == 4  # 5 rows, 4 requests, 4 ledger rows


def test_a_result_for_another_part_or_an_unknown_id_is_ignored(job):
    part = BatchPart.objects.get()
    assert batch_results_import(part=part, results=[succeeded("r99", "?")]) == 0
    assert not UsageRecord.objects.exclude(status="reserved").exists()


def test_requests_the_api_returned_nothing_for_are_errored_at_no_cost(job):
    part = BatchPart.objects.get()
    batch_results_import(part=part, results=[succeeded("r1", "A")])
    batch_part_imported(part=part)
    missing = BatchRequest.objects.exclude(custom_id="r1")
    assert {r.result for r in missing} == {"errored"}
    assert {r.error_type for r in missing} == {"missing_result"}
    job.refresh_from_db()
    assert job.status == "ended" and (job.succeeded, job.errored) == (1, 3)
    assert not UsageRecord.objects.filter(status="reserved").exists()
