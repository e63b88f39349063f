"""The batch pages: the contract's URLs, only ever the owner's jobs (another user's job is
a 404 for every URL, and nothing changes), the job page's rows a page at a time with each
input beside its output, the downloads, cancel and resubmit."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse

from chatapp.batches import worker
from chatapp.batches.models import BatchJob, BatchPart, BatchRequest
from chatapp.batches.selectors import RESULTS_PER_PAGE
from chatapp.batches.services import batch_part_imported, batch_results_import
from chatapp.usage.models import UsageRecord

from .conftest import LIST, csv_bytes, post_job, prompts, streamed
from .test_import import succeeded

pytestmark = pytest.mark.usefixtures("no_budget")

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["bug", "billing"]},
            "urgent": {"type": "boolean"},
            "prompt": {"type": "string"},
        },
    }
)


def make_job(client, rows, **fields) -> BatchJob:
    assert post_job(client, csv_bytes(rows), **fields).status_code == 302
    return BatchJob.objects.order_by("-id").first()


def import_all(job, results) -> None:
    for part in job.parts.all():
        BatchPart.objects.filter(pk=part.pk).update(batch_id=f"msgbatch_{part.pk}", status="ended")
        part.refresh_from_db()
        batch_results_import(part=part, results=results)
        batch_part_imported(part=part)
    job.refresh_from_db()


def urls(job) -> list[tuple[str, str]]:
    return [
        ("get", reverse("batches:job", args=[job.pk])),
        ("get", reverse("batches:progress", args=[job.pk])),
        ("get", f"/batches/{job.pk}/results.csv"),
        ("get", f"/batches/{job.pk}/results.jsonl"),
        ("post", f"/batches/{job.pk}/cancel/"),
        ("post", reverse("batches:resubmit", args=[job.pk])),
    ]


def test_the_list_page_has_the_form_and_only_the_users_own_jobs(client, owner, stranger):
    client.force_login(stranger)
    theirs = make_job(client, prompts(1), name="theirs.csv")
    client.force_login(owner)
    mine = make_job(client, prompts(2))
    page = client.get(LIST)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("file", "model", "system", "max_tokens"):
        assert f'name="{name}"' in html
    assert mine.get_absolute_url() in html and theirs.get_absolute_url() not in html


def test_another_users_job_is_a_404_at_every_url(client, owner, stranger):
    client.force_login(owner)
    job = make_job(client, prompts(2))
    client.force_login(stranger)
    for method, url in urls(job):
        assert getattr(client, method)(url).status_code == 404, url
    job.refresh_from_db()
    assert job.status == "queued" and job.cancel_requested_at is None
    assert BatchJob.objects.count() == 1


def test_every_page_needs_a_login(client, owner):
    client.force_login(owner)
    job = make_job(client, prompts(1))
    client.logout()
    for method, url in [("get", LIST), *urls(job)]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_job_page_shows_progress_and_a_page_of_rows(client, owner):
    client.force_login(owner)
    job = make_job(client, prompts(RESULTS_PER_PAGE + 5))
    page = client.get(job.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="processed-bar"' in html and f'max="{RESULTS_PER_PAGE + 5}"' in html
    assert html.count('class="mono"') == RESULTS_PER_PAGE
    assert "Classify ticket 1:" in html and f"Classify ticket {RESULTS_PER_PAGE + 1}:" not in html
    second = client.get(job.get_absolute_url(), {"page": 2}).content.decode()
    assert second.count('class="mono"') == 5
    assert f"Classify ticket {RESULTS_PER_PAGE + 5}:" in second
    assert f'action="/batches/{job.pk}/cancel/"' in html


def test_the_progress_endpoint(client, owner):
    client.force_login(owner)
    job = make_job(client, prompts(3) + prompts(1))
    progress = client.get(reverse("batches:progress", args=[job.pk])).json()
    assert progress["status"] == "queued" and progress["finished"] is False
    assert (progress["rows"], progress["requests"], progress["reused"]) == (4, 3, 1)
    assert progress["processed"] == progress["imported"] == 0 and progress["can_cancel"]
    import_all(job, [succeeded("r1", "one"), succeeded("r2", "two")])
    progress = client.get(reverse("batches:progress", args=[job.pk])).json()
    assert progress["status"] == "ended" and progress["finished"] is True
    assert progress["imported"] == 3 and progress["results"] == {
        "succeeded": 2,
        "errored": 1,
        "canceled": 0,
        "expired": 0,
    }
    assert Decimal(progress["cost"]) == job.cost.quantize(Decimal("0.000001")) > 0


def test_the_downloads_put_each_input_beside_its_output_and_schema_fields_in_columns(client, owner):
    client.force_login(owner)
    rows = [
        {"custom_id": "t-1", "prompt": "Charged twice"},
        {"custom_id": "t-2", "prompt": "App crashes"},
        {"custom_id": "t-3", "prompt": "Charged twice"},
        {"custom_id": "t-4", "prompt": "Other"},
    ]
    job = make_job(client, rows, output_schema=SCHEMA, system="Label tickets.")
    import_all(
        job,
        [
            succeeded("r1", '{"label": "billing", "urgent": true, "prompt": "x"}'),
            succeeded("r2", "not json"),
            {"custom_id": "r3", "result": {"type": "canceled"}},
        ],
    )
    response = client.get(f"/batches/{job.pk}/results.csv")
    assert response.status_code == 200 and response.streaming and response.is_async
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"tickets-results-{job.pk}.csv" in response["Content-Disposition"]
    text = streamed(response)
    assert text.startswith("\ufeff")
    table = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert list(table[0]) == [
        "row",
        "custom_id",
        "prompt",
        "system",
        "status",
        "output",
        "label",
        "urgent",
        "output.prompt",
        "stop_reason",
        "reason",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "reused",
    ]
    first, second, third, fourth = table
    assert (first["custom_id"], first["prompt"], first["system"]) == (
        "t-1",
        "Charged twice",
        "Label tickets.",
    )
    assert (first["label"], first["urgent"], first["output.prompt"]) == ("billing", "true", "x")
    assert first["status"] == "succeeded" and first["input_tokens"] == "100"
    record = UsageRecord.objects.get(pk=BatchRequest.objects.get(custom_id="r1").usage_record_id)
    assert first["cost_usd"] == format(record.cost.normalize(), "f") and first["reused"] == ""
    assert second["label"] == "" and second["output"] == "not json"
    assert (third["custom_id"], third["label"], third["cost_usd"], third["reused"]) == (
        "t-3",
        "billing",
        "0",
        "yes",
    )
    assert fourth["status"] == "canceled" and "Canceled" in fourth["reason"]

    response = client.get(f"/batches/{job.pk}/results.jsonl")
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    lines = [json.loads(line) for line in streamed(response).splitlines()]
    assert [line["row"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["input"] == {"prompt": "Charged twice", "system": "Label tickets."}
    assert lines[0]["data"] == {"label": "billing", "urgent": True, "prompt": "x"}
    assert lines[0]["usage"]["input_tokens"] == 100 and lines[0]["reused"] is False
    assert lines[1]["data"] is None and lines[2]["reused"] is True
    assert lines[3]["status"] == "canceled" and lines[3]["usage"] is None


def test_canceling_a_queued_job_sends_nothing_and_costs_nothing(client, owner):
    client.force_login(owner)
    job = make_job(client, prompts(3))
    response = client.post(f"/batches/{job.pk}/cancel/")
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == "canceling"
    worker.turn()  # no API call: the part was never sent
    job.refresh_from_db()
    assert job.status == "ended" and job.canceled == 3
    assert BatchPart.objects.get().status == "canceled"
    assert set(UsageRecord.objects.values_list("status", "cost")) == {("stopped", 0)}
    # An ended job cannot be canceled again.
    client.post(f"/batches/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "ended"


def test_failed_rows_are_sent_again_as_a_new_job_in_one_click(client, owner):
    client.force_login(owner)
    rows = [{"custom_id": f"t-{i}", "prompt": f"Ticket {i}"} for i in range(1, 6)]
    job = make_job(client, rows, system="Sort.", max_tokens="300")
    import_all(
        job,
        [
            succeeded("r1", "ok"),
            {"custom_id": "r2", "result": {"type": "expired"}},
            {"custom_id": "r3", "result": {"type": "canceled"}},
            succeeded("r5", "ok"),
        ],
    )
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Send the 3 failed requests again as a new job" in page
    response = client.post(reverse("batches:resubmit", args=[job.pk]))
    new = BatchJob.objects.exclude(pk=job.pk).get()
    assert response["Location"] == new.get_absolute_url()
    assert new.resubmitted_from == job and new.status == "queued"
    assert (new.model, new.system, new.max_tokens) == (job.model, "Sort.", 300)
    assert list(new.batch_rows.order_by("number").values_list("number", "custom_id")) == [
        (1, "t-2"),
        (2, "t-3"),
        (3, "t-4"),
    ]
    assert UsageRecord.objects.filter(status="reserved").count() == 3


def test_staff_read_jobs_in_the_admin(client, owner, staff):
    client.force_login(owner)
    job = make_job(client, prompts(2))
    client.force_login(staff)
    listing = client.get(reverse("admin:batches_batchjob_changelist"))
    assert listing.status_code == 200 and "tickets.csv" in listing.content.decode()
    page = client.get(reverse("admin:batches_batchjob_change", args=[job.pk]))
    assert page.status_code == 200 and "Pending" in page.content.decode()
    assert client.get(reverse("admin:batches_batchjob_add")).status_code == 403


def test_a_prompt_or_answer_that_looks_like_a_formula_stays_text_in_the_csv(client, owner):
    client.force_login(owner)
    job = make_job(client, [{"custom_id": "f-1", "prompt": '=HYPERLINK("https://evil.example")'}])
    import_all(job, [succeeded("r1", "+SUM(A1:A9)")])
    text = streamed(client.get(f"/batches/{job.pk}/results.csv"))
    (row,) = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert row["prompt"] == '\'=HYPERLINK("https://evil.example")'
    assert row["output"] == "'+SUM(A1:A9)"
