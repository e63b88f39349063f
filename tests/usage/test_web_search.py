"""Web searches are billed at their price per 1,000 on top of the tokens: the reservation
holds as many as a call may make, the ledger records how many it made (and its web
fetches, which cost only tokens) at their exact cost, the daily roll-up adds them up, the
report shows them, and a price row dated later prices them for the calls after it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from chatapp.usage import report
from chatapp.usage.models import ModelPrice, UsageDaily, UsagePolicy, UsageRecord, UserBudget
from chatapp.usage.pricing import SERVER_TOOL_FIELDS, TokenUsage, cost_of, most_it_can_cost
from chatapp.usage.services import (
    UsageRefused,
    month_to_date,
    price_for,
    usage_reserve,
    usage_settle,
)

from .test_report import REPORT, conversation_of, csv_rows, reply_in, spend

SONNET = "claude-sonnet-5"  # seeded: $3 in, $15 out, $3.75 / $6 cache writes, $0.30 reads


@pytest.fixture(autouse=True)
def no_rate_limit(db):
    policy = UsagePolicy.current()
    policy.requests_per_minute = 0
    policy.save()


def reserve(user, **kwargs) -> UsageRecord:
    with transaction.atomic():
        return usage_reserve(user=user, model=SONNET, **kwargs)


def settle(record: UsageRecord, *, searches: int = 0, fetches: int = 0, **tokens) -> UsageRecord:
    with transaction.atomic():
        return usage_settle(
            record=record,
            usage={
                "input_tokens": 0,
                "output_tokens": 0,
                **tokens,
                "server_tool_use": {"web_search_requests": searches, "web_fetch_requests": fetches},
            },
            status=UsageRecord.Status.COMPLETE,
        )


def test_prices_already_there_got_the_apis_search_price(db):
    """The seeded rows predate the column: the migration gave them $10 per 1,000."""
    assert {price.web_search_per_1k for price in ModelPrice.objects.all()} == {Decimal("10")}


# --- the reservation --------------------------------------------------------------------


def test_the_reservation_holds_the_searches_worst_case(owner):
    record = reserve(owner, max_tokens=100, input_tokens_at_most=10, web_searches_at_most=5)
    # 10 input tokens at the 1-hour write rate ($6), 100 output at $15, 5 searches at 1 cent.
    assert record.reserved_cost == Decimal("0.00156") + Decimal("0.05")
    assert record.reserved_cost == most_it_can_cost(
        input_tokens_at_most=10,
        max_tokens=100,
        web_searches_at_most=5,
        prices=price_for(SONNET).prices,
    )
    assert month_to_date(user=owner).cost == record.reserved_cost  # held until settled


def test_without_web_searches_at_most_nothing_is_held_for_searches(owner):
    record = reserve(owner, max_tokens=100, input_tokens_at_most=10)
    assert record.reserved_cost == Decimal("0.00156")


def test_a_budget_just_too_small_for_the_searches_refuses(owner):
    # $0.05 holds five searches and nothing else: one output token more does not fit.
    UserBudget.objects.create(user=owner, monthly_limit_usd=Decimal("0.05"))
    with pytest.raises(UsageRefused) as refused:
        reserve(owner, max_tokens=1, input_tokens_at_most=0, web_searches_at_most=5)
    assert refused.value.code == "budget_exceeded"
    assert "could cost up to $0.0500" in refused.value.message
    assert not UsageRecord.objects.exists()

    # The same call with one search fewer, or no searches, fits.
    fits = reserve(owner, max_tokens=1, input_tokens_at_most=0, web_searches_at_most=4)
    assert fits.reserved_cost == Decimal("0.040015")


# --- settling ---------------------------------------------------------------------------


def test_settling_records_the_searches_and_fetches_and_prices_the_searches(owner):
    record = reserve(owner, max_tokens=1000, input_tokens_at_most=5000, web_searches_at_most=5)
    settle(record, searches=3, fetches=2, input_tokens=4200, output_tokens=310)

    record.refresh_from_db()
    assert (record.web_search_requests, record.web_fetch_requests) == (3, 2)
    # 4200 * 3 + 310 * 15 per million, and 3 searches at $10 per 1,000; fetches: nothing.
    assert record.cost == Decimal("0.01725") + Decimal("0.03") == Decimal("0.04725")
    assert record.cost == cost_of(
        TokenUsage(input_tokens=4200, output_tokens=310, web_search_requests=3),
        record.price.prices,
    )
    assert record.cost <= record.reserved_cost
    assert month_to_date(user=owner).cost == record.cost  # the page's spend counts them


def test_a_batch_calls_searches_are_not_halved(owner):
    record = reserve(owner, max_tokens=1000, input_tokens_at_most=5000)
    UsageRecord.objects.filter(pk=record.pk).update(is_batch=True)
    record.is_batch = True
    settle(record, searches=2, input_tokens=2000, output_tokens=1000)
    record.refresh_from_db()
    assert record.cost == Decimal("0.0105") + Decimal("0.02")  # (0.006 + 0.015) / 2 + 2 cents


def test_a_call_without_searches_or_without_a_server_tool_block_costs_only_tokens(owner):
    record = reserve(owner, max_tokens=100, input_tokens_at_most=100)
    with transaction.atomic():
        usage_settle(
            record=record,
            usage={"input_tokens": 11, "output_tokens": 6},
            status=UsageRecord.Status.COMPLETE,
        )
    record.refresh_from_db()
    assert (record.web_search_requests, record.web_fetch_requests) == (0, 0)
    assert record.cost == Decimal("0.000123")


def test_the_daily_roll_up_sums_searches_fetches_and_their_cost(owner, stranger):
    calls = [(owner, 3, 1), (owner, 0, 4), (owner, 5, 0), (stranger, 2, 2)]
    for user, searches, fetches in calls:
        record = reserve(user, max_tokens=100, input_tokens_at_most=100, web_searches_at_most=5)
        settle(record, searches=searches, fetches=fetches, input_tokens=100, output_tokens=20)

    mine = UsageDaily.objects.get(user=owner, model=SONNET)
    assert (mine.requests, mine.web_search_requests, mine.web_fetch_requests) == (3, 8, 5)
    # Each call: 100 * 3 + 20 * 15 = 600 per million; and 8 searches at a cent.
    assert mine.cost == 3 * Decimal("0.0006") + Decimal("0.08")
    for name in (*SERVER_TOOL_FIELDS, "cost"):
        assert (
            UsageDaily.objects.aggregate(total=Sum(name))["total"]
            == (UsageRecord.objects.aggregate(total=Sum(name))["total"])
        ), name


# --- a price change, versioned by effective_from ----------------------------------------


def test_a_later_price_row_prices_the_searches_of_the_calls_after_it(owner):
    seeded = price_for(SONNET)
    before = reserve(owner, max_tokens=100, input_tokens_at_most=100, web_searches_at_most=2)
    today = timezone.localdate()
    dearer = ModelPrice.objects.create(
        model=SONNET,
        effective_from=today,
        input_per_mtok=seeded.input_per_mtok,
        output_per_mtok=seeded.output_per_mtok,
        cache_write_5m_per_mtok=seeded.cache_write_5m_per_mtok,
        cache_write_1h_per_mtok=seeded.cache_write_1h_per_mtok,
        cache_read_per_mtok=seeded.cache_read_per_mtok,
        web_search_per_1k=Decimal("25"),
    )
    assert price_for(SONNET) == dearer
    assert price_for(SONNET, timezone.now() - dt.timedelta(days=1)) == seeded

    after = reserve(owner, max_tokens=100, input_tokens_at_most=100, web_searches_at_most=2)
    assert after.price == dearer
    assert after.reserved_cost - before.reserved_cost == Decimal("0.03")  # 2 * (2.5 - 1) cents
    for record in (before, after):
        settle(record, searches=2, output_tokens=10)
        record.refresh_from_db()
    # A call reserved before the change keeps the row it was reserved at.
    assert before.price == seeded and before.cost == Decimal("0.00015") + Decimal("0.02")
    assert after.price == dearer and after.cost == Decimal("0.00015") + Decimal("0.05")


def test_the_admin_edits_the_search_price_as_a_new_dated_row(client, staff, owner):
    used = spend(owner, web_searches=1).price
    client.force_login(staff)
    fields = {
        "model": used.model,
        "input_per_mtok": used.input_per_mtok,
        "output_per_mtok": used.output_per_mtok,
        "cache_write_5m_per_mtok": used.cache_write_5m_per_mtok,
        "cache_write_1h_per_mtok": used.cache_write_1h_per_mtok,
        "cache_read_per_mtok": used.cache_read_per_mtok,
        "batch_multiplier": used.batch_multiplier,
    }
    # The used row cannot change its search price...
    change = reverse("admin:usage_modelprice_change", args=[used.pk])
    response = client.post(
        change, {**fields, "effective_from": used.effective_from, "web_search_per_1k": "12"}
    )
    assert response.status_code == 200 and "cannot be changed" in response.content.decode()
    used.refresh_from_db()
    assert used.web_search_per_1k == Decimal("10")
    # ...a new row dated today does, for the calls from today on.
    add = reverse("admin:usage_modelprice_add")
    form = client.get(add).context["adminform"].form
    assert form["web_search_per_1k"].initial == Decimal("10.00")  # the API's price, by default
    response = client.post(
        add, {**fields, "effective_from": timezone.localdate(), "web_search_per_1k": "12"}
    )
    assert response.status_code == 302
    assert spend(owner, web_searches=1).cost == spend(owner).cost + Decimal("0.012")

    listing = client.get(reverse("admin:usage_modelprice_changelist"))
    assert "web search $/1,000 searches" in listing.content.decode().lower()
    shown = {(p.effective_from, p.web_search_per_1k) for p in listing.context["cl"].result_list}
    assert (timezone.localdate(), Decimal("12")) in shown


# --- the report -------------------------------------------------------------------------


OLD_SUM_COLUMNS = [
    "requests",
    "input tokens",
    "output tokens",
    "cache write 5m tokens",
    "cache write 1h tokens",
    "cache read tokens",
    "cost",
    "calls without a price",
]


def test_the_report_shows_web_searches_per_row_and_in_the_totals(client, staff, owner, stranger):
    chat = conversation_of(owner)
    first = spend(owner, conversation=chat, message=reply_in(chat), web_searches=3, web_fetches=1)
    second = spend(owner, conversation=chat, message=reply_in(chat), web_searches=2)
    spend(stranger, model="claude-haiku-4-5")
    client.force_login(staff)

    response = client.get(REPORT)
    summary, table = response.context["summary"], response.context["table"]
    assert summary.totals.web_search_requests == 5
    assert ("web searches", "5") in [(label, cell.text) for label, cell in summary.total_items]
    assert "Web searches" in response.content.decode()  # the totals panel's label
    # The cost counts the searches: $10 per 1,000 on top of the tokens.
    tokens_only = [
        cost_of(TokenUsage(input_tokens=1200, output_tokens=345), record.price.prices)
        for record in (first, second)
    ]
    assert first.cost + second.cost == sum(tokens_only) + Decimal("0.05")
    by_model = {line.model: line.sums for line in summary.by_model}
    assert by_model[SONNET].web_search_requests == 5
    assert by_model[SONNET].cost == first.cost + second.cost
    assert sum(sums.web_search_requests for _, sums in summary.by_day) == 5

    assert table.columns == ["user", *OLD_SUM_COLUMNS, "web searches"]
    rows = {row[0].text: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert rows["owner"]["web searches"].text == "5"
    assert Decimal(rows["owner"]["cost"].value) == first.cost + second.cost
    assert rows["stranger"]["web searches"].text == "0"

    conversations = client.get(REPORT, {"user": owner.pk}).context["table"]
    assert conversations.columns == ["conversation", "id", *OLD_SUM_COLUMNS, "web searches"]
    assert conversations.rows[0][-1].value == "5"

    calls = client.get(REPORT, {"user": owner.pk, "conversation": chat.pk}).context
    assert calls["table"].columns[-2:] == ["request id", "web searches"]
    assert [row[-1].value for row in calls["table"].rows] == ["3", "2"]
    assert calls["summary"].totals.web_search_requests == 5
    assert calls["summary"].totals.web_fetch_requests == 1


def test_the_csv_appends_web_searches_after_its_columns(client, staff, owner):
    chat = conversation_of(owner)
    record = spend(owner, conversation=chat, message=reply_in(chat), web_searches=4)
    client.force_login(staff)

    rows = csv_rows(client.get(REPORT, {"format": "csv"}))
    assert rows[0] == ["user", *OLD_SUM_COLUMNS, "web searches"]
    line = dict(zip(rows[0], rows[1], strict=True))
    assert line["web searches"] == "4" and Decimal(line["cost"]) == record.cost

    rows = csv_rows(client.get(REPORT, {"user": owner.pk, "format": "csv"}))
    assert rows[0] == ["conversation", "id", *OLD_SUM_COLUMNS, "web searches"]
    assert rows[1][-1] == "4"

    rows = csv_rows(
        client.get(REPORT, {"user": owner.pk, "conversation": chat.pk, "format": "csv"})
    )
    assert rows[0] == [
        "time",
        "message",
        "purpose",
        "model",
        "status",
        *OLD_SUM_COLUMNS[1:6],
        "cost",
        "time to first token ms",
        "duration ms",
        "request id",
        "web searches",
    ]
    assert rows[1][-1] == "4" and Decimal(rows[1][rows[0].index("cost")]) == record.cost


def test_the_ledger_lists_each_calls_web_searches(client, staff, owner):
    spend(owner, web_searches=6)
    client.force_login(staff)
    response = client.get(reverse("admin:usage_usagerecord_changelist"))
    assert "web search requests" in response.content.decode().lower()
    assert report.SUM_COLUMNS[-1] == "web searches"
