"""Batch costs in the usage ledger, the budget and the admin's report: a job over the
budget is refused before anything is stored or sent; batch calls do not count against the
per-minute limit of replies; the report shows batch costs beside chat, told apart."""

from decimal import Decimal

from django.db import transaction
from django.urls import reverse

from chatapp.batches.models import BatchJob, BatchPart
from chatapp.batches.services import batch_part_imported, batch_results_import
from chatapp.usage.models import UsagePolicy, UsageRecord, UserBudget
from chatapp.usage.services import usage_reserve, usage_settle

from .conftest import HAIKU, csv_bytes, post_job, prompts
from .test_import import succeeded

REPORT = reverse("admin:usage_usagerecord_report")


def chat_call(user, *, output_tokens=300) -> UsageRecord:
    with transaction.atomic():
        record = usage_reserve(user=user, model=HAIKU, max_tokens=1000, input_tokens_at_most=500)
    return usage_settle(
        record=record,
        usage={"input_tokens": 400, "output_tokens": output_tokens},
        status="complete",
        served_model=HAIKU,
    )


def test_a_job_over_the_budget_is_refused_before_anything_is_stored(client, owner, fake_api):
    UserBudget.objects.create(user=owner, monthly_limit_usd=Decimal("0.05"))
    client.force_login(owner)
    # 100 rows x 1,000 output tokens at Haiku's batch price ($2.50/MTok out): $0.25 at most.
    response = post_job(client, csv_bytes(prompts(100)), max_tokens="1000")
    assert response.status_code == 400
    html = response.content.decode()
    assert "This job could cost up to $0.25" in html and "of your $0.05 monthly budget" in html
    assert BatchJob.objects.count() == 0 and UsageRecord.objects.count() == 0
    assert fake_api.requests == []

    # Fewer rows fit: and the whole job's worst case is then held.
    assert post_job(client, csv_bytes(prompts(10)), max_tokens="1000").status_code == 302
    held = UsageRecord.objects.filter(status="reserved")
    assert held.count() == 10
    # The next job sees this one's hold: 10 more rows would pass $0.05.
    response = post_job(client, csv_bytes(prompts(15)), max_tokens="1000")
    assert response.status_code == 400 and "you have used $0.02" in response.content.decode()


def test_a_batch_job_leaves_the_per_minute_limit_to_replies(client, owner):
    policy = UsagePolicy.current()
    policy.requests_per_minute = 5
    policy.default_monthly_budget_usd = None
    policy.save()
    client.force_login(owner)
    assert post_job(client, csv_bytes(prompts(30))).status_code == 302
    chat_call(owner)  # not refused: the 30 batch calls are not replies


def test_the_report_tells_batch_costs_from_chat(client, owner, staff):
    policy = UsagePolicy.current()
    policy.requests_per_minute = 0
    policy.save()
    chat = chat_call(owner)
    client.force_login(owner)
    assert post_job(client, csv_bytes(prompts(3))).status_code == 302
    part = BatchPart.objects.get()
    BatchPart.objects.filter(pk=part.pk).update(batch_id="msgbatch_r", status="ended")
    part.refresh_from_db()
    batch_results_import(
        part=part,
        results=[succeeded(f"r{i}", "ok", input_tokens=400, output_tokens=300) for i in (1, 2, 3)],
    )
    batch_part_imported(part=part)
    batch_costs = [r.cost for r in UsageRecord.objects.filter(purpose="batch")]
    # The same tokens as the chat call, at half its price.
    assert batch_costs == [chat.cost / 2] * 3

    client.force_login(staff)
    response = client.get(REPORT)
    summary = response.context["summary"]
    assert summary.totals.cost == chat.cost + sum(batch_costs)
    assert (summary.totals.requests, summary.totals.batch_requests) == (4, 3)
    assert summary.totals.batch_cost == sum(batch_costs)
    kinds = {label: (requests, cell.value) for label, requests, cell in summary.by_kind}
    assert kinds == {
        "Chat: replies and titles": (1, f"{chat.cost:f}"),
        "Batch jobs, at the batch price": (3, f"{sum(batch_costs):f}"),
    }
    html = response.content.decode()
    assert "Chat and batch jobs" in html and "Batch jobs, at the batch price" in html

    # A user's calls, one by one: each batch result says it is one.
    ledger = client.get(REPORT, {"user": owner.pk, "conversation": "none"}).context["table"]
    purposes = [row[ledger.columns.index("purpose")].text for row in ledger.rows]
    assert sorted(purposes) == ["batch", "batch", "batch", "chat"]
    admin_list = client.get(reverse("admin:usage_usagerecord_changelist"), {"is_batch__exact": "1"})
    assert admin_list.context["cl"].result_count == 3
