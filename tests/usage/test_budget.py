"""Every reply is recorded once in the ledger at its exact cost; budgets and the rate
limit refuse a reply before any upstream call, and concurrent replies cannot overspend."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.urls import reverse

from chatapp.chat.models import Conversation, Message
from chatapp.chat.services import ChatError, message_accept
from chatapp.usage.models import ModelPrice, UpstreamRateLimit, UsagePolicy, UsageRecord, UserBudget
from chatapp.usage.pricing import TokenUsage, cost_of
from chatapp.usage.services import month_to_date

from ..chat.helpers import converse, receive_until, user_message

CACHED_USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 40000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
}


def sonnet_price() -> ModelPrice:
    return ModelPrice.objects.get(model="claude-sonnet-5")


async def test_a_reply_is_recorded_once_at_its_exact_cost(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": "Cached answer.", "usage": CACHED_USAGE})
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Question")

    record = await UsageRecord.objects.select_related("price").aget(message_id=reply.pk)
    assert await UsageRecord.objects.acount() == 1
    tokens = TokenUsage(
        input_tokens=1200,
        output_tokens=reply.output_tokens,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=2000,
        cache_read_input_tokens=40000,
    )
    # Hand-computed at $3 in / $15 out / $3.75 5-min write / $6 1-hour write / $0.30 read:
    expected = (
        Decimal(1200 * 3 + reply.output_tokens * 15 + 1000 * Decimal("3.75") + 2000 * 6)
        + 40000 * Decimal("0.30")
    ) / 1_000_000
    assert record.cost == expected == cost_of(tokens, record.price.prices)
    assert record.status == "complete" and record.user_id == owner.pk
    assert record.conversation_id == reply.conversation_id
    assert record.request_id == reply.request_id != ""
    assert record.time_to_first_token_ms == reply.time_to_first_token_ms
    stop = frames[-1]
    assert Decimal(stop["message"]["cost"]) == expected and stop["message"]["priced"] is True
    month = await sync_to_async(month_to_date)(user=owner)
    assert month.cost == expected
    assert month.tokens == tokens.total_input_tokens + reply.output_tokens


async def test_thinking_tokens_are_billed_as_output_tokens(fake_api, sockets, owner):
    """The API counts thinking in output_tokens (output_tokens_details says how much of
    it): billed once, at the output price, never added again nor left out."""
    usage = {
        "input_tokens": 20,
        "output_tokens": 120,
        "output_tokens_details": {"thinking_tokens": 67},
    }
    fake_api.enqueue({"kind": "reply", "text": "Four.", "thinking": "Two and two.", "usage": usage})
    tab = await sockets(owner)
    frames, reply = await converse(tab, "2+2?", thinking=True)
    assert [b["type"] for b in reply.content] == ["thinking", "text"]
    assert (reply.input_tokens, reply.output_tokens) == (20, 120)
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert (record.input_tokens, record.output_tokens) == (20, 120)
    assert record.cost == Decimal(20 * 3 + 120 * 15) / 1_000_000  # $3 in, $15 out
    assert Decimal(frames[-1]["message"]["cost"]) == record.cost


async def test_stopped_and_failed_replies_are_recorded_too(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "http_error", "status": 529})
    tab = await sockets(owner)
    _, failed = await converse(tab)
    fake_api.enqueue({"kind": "reply", "tokens": 500, "token_delay": 0.01})
    await tab.send_json_to(user_message("Long one", failed.conversation_id))
    await receive_until(tab, "content_block_delta")
    await tab.send_json_to({"type": "stop", "conversation_id": failed.conversation_id})
    stopped_id = (await receive_until(tab, "message_stop"))[-1]["message_id"]

    failed_record = await UsageRecord.objects.aget(message_id=failed.pk)
    assert failed_record.status == "error" and failed_record.cost == 0
    stopped_record = await UsageRecord.objects.aget(message_id=stopped_id)
    assert stopped_record.status == "stopped"
    assert stopped_record.input_tokens > 0  # from message_start: billed though stopped
    assert stopped_record.cost > 0


async def test_a_model_without_a_price_is_flagged_never_costed_at_zero(fake_api, sockets, owner):
    await ModelPrice.objects.filter(model="claude-sonnet-5").adelete()
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.cost is None and record.price_id is None
    assert frames[-1]["message"]["cost"] is None and frames[-1]["message"]["priced"] is False
    assert (await sync_to_async(month_to_date)(user=owner)).unpriced_calls == 1


async def test_with_a_budget_an_unpriced_model_is_refused(fake_api, sockets, owner):
    await ModelPrice.objects.filter(model="claude-sonnet-5").adelete()
    await UserBudget.objects.acreate(user=owner, monthly_limit_usd=Decimal("5"))
    tab = await sockets(owner)
    await tab.send_json_to(user_message())
    error = await tab.receive_json_from()
    assert error["code"] == "no_price" and "claude-sonnet-5" in error["message"]
    assert fake_api.requests == []


async def test_over_budget_is_refused_before_any_upstream_call(fake_api, sockets, owner):
    await UserBudget.objects.acreate(user=owner, monthly_limit_usd=Decimal("0.05"))
    tab = await sockets(owner)
    sent = user_message("Expensive question")
    await tab.send_json_to(sent)
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == "budget_exceeded"
    assert error["client_id"] == sent["client_id"]
    assert "$0.05 monthly budget" in error["message"]
    assert fake_api.requests == []
    assert await Message.objects.acount() == 0 and await Conversation.objects.acount() == 0
    assert await UsageRecord.objects.acount() == 0


async def test_the_site_wide_default_budget_applies_without_a_user_budget(fake_api, sockets, owner):
    await UsagePolicy.objects.aupdate_or_create(
        pk=1,
        defaults={
            "max_tokens_cap": 8192,
            "requests_per_minute": 0,
            "default_monthly_budget_usd": Decimal("0.01"),
        },
    )
    tab = await sockets(owner)
    await tab.send_json_to(user_message())
    assert (await tab.receive_json_from())["code"] == "budget_exceeded"


async def test_rate_limit_refuses_with_a_clear_error(fake_api, sockets, owner):
    await UsagePolicy.objects.aupdate_or_create(
        pk=1, defaults={"max_tokens_cap": 8192, "requests_per_minute": 2}
    )
    tab = await sockets(owner)
    frames, _ = await converse(tab, "one")
    await converse(tab, "two", frames[-1]["conversation_id"])
    await tab.send_json_to(user_message("three", frames[-1]["conversation_id"]))
    error = await tab.receive_json_from()
    assert error["code"] == "rate_limited" and "2 replies a minute" in error["message"]
    assert len(fake_api.requests) == 2
    assert [m.text async for m in Message.objects.filter(role="user")] == ["one", "two"]


async def test_max_tokens_is_capped_by_the_policy(fake_api, sockets, owner):
    await UsagePolicy.objects.aupdate_or_create(
        pk=1, defaults={"max_tokens_cap": 100, "requests_per_minute": 0}
    )
    tab = await sockets(owner)
    await converse(tab)
    assert fake_api.requests[-1]["body"]["max_tokens"] == 100


async def test_the_latest_upstream_rate_limit_headers_are_kept(fake_api, sockets, owner):
    tab = await sockets(owner)
    await converse(tab)
    kept = await UpstreamRateLimit.objects.aget()
    assert kept.headers["anthropic-ratelimit-requests-limit"]
    assert "anthropic-ratelimit-tokens-remaining" in kept.headers
    assert kept.observed_at is not None


def test_the_chat_page_shows_month_to_date_spend(client, owner):
    UserBudget.objects.create(user=owner, monthly_limit_usd=Decimal("20"))
    client.force_login(owner)
    response = client.get(reverse("chat:index"))
    month = response.context["chat_data"]["month_to_date"]
    assert month == {"tokens": 0, "cost": "0.000000", "limit": "20.00", "unpriced_calls": 0}
    assert b'id="month-usage"' in response.content


@pytest.mark.postgres
@pytest.mark.parametrize("first_call", [False, True], ids=["budget row", "first call"])
def test_concurrent_replies_cannot_push_a_user_over_budget(transactional_db, owner, first_call):
    """Eight sends at once against a budget that holds three worst cases: exactly three
    are accepted, whatever the interleaving (reserve before the call, settle after). Also
    when they are the user's first calls, racing to create the row that serialises them."""
    if first_call:
        policy = UsagePolicy.current()
        policy.default_monthly_budget_usd = Decimal("0.20")
        policy.save()
    else:
        UserBudget.objects.create(user=owner, monthly_limit_usd=Decimal("0.20"))

    def send(i: int):
        try:
            return message_accept(
                user=owner, conversation_id=None, text=f"question {i}", client_id=uuid.uuid4()
            )
        except ChatError as refused:
            return refused.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(send, range(8)))
    accepted = [o for o in outcomes if not isinstance(o, str)]
    assert len(accepted) == 3
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["budget_exceeded"] * 5
    held = sum(r.reserved_cost for r in UsageRecord.objects.all())
    assert held <= Decimal("0.20")
    assert Message.objects.filter(role="user").count() == 3
    assert UserBudget.objects.filter(user=owner).count() == 1


async def test_deleting_a_conversation_mid_reply_still_records_what_it_cost(
    fake_api, sockets, owner
):
    fake_api.enqueue({"kind": "reply", "tokens": 40, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Soon gone"))
    frames = await receive_until(tab, "content_block_delta")
    await Conversation.objects.filter(pk=frames[0]["conversation_id"]).adelete()
    await receive_until(tab, "message_stop")

    record = await UsageRecord.objects.aget()
    assert record.status == "complete" and record.output_tokens == 40
    assert record.conversation_id is None and record.message_id is None
    assert record.cost > 0 and record.user_id == owner.pk


@pytest.mark.postgres
def test_concurrent_settlements_add_up_in_the_daily_roll_up(transactional_db, owner):
    """Replies of one user and model ending at the same moment: the first creates the
    day's row, the others add to it; none is lost, whatever the interleaving."""
    from chatapp.usage.models import UsageDaily
    from chatapp.usage.services import usage_reserve, usage_settle

    def reserve():
        with transaction.atomic():
            return usage_reserve(
                user=owner, model="claude-sonnet-5", max_tokens=100, input_tokens_at_most=10
            )

    records = [reserve() for _ in range(8)]

    def settle(record):
        try:
            with transaction.atomic():
                usage_settle(
                    record=record,
                    usage={"input_tokens": 10, "output_tokens": 7},
                    status=UsageRecord.Status.COMPLETE,
                )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(settle, records))
    day = UsageDaily.objects.get(user=owner, model="claude-sonnet-5")
    assert (day.requests, day.input_tokens, day.output_tokens) == (8, 80, 56)
    assert day.cost == sum(r.cost for r in UsageRecord.objects.all())
