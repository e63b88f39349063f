"""The conversation's input size without a round trip on every reply: known from the last
reply's usage, counted exactly (count_tokens) only near the model's window or the user's
remaining budget, or when the new turn carries files, and refused before any call when
over the window."""

import io
import json
from decimal import ROUND_CEILING, Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from chatapp.attachments.services import attachment_create
from chatapp.chat import services
from chatapp.chat.models import Message
from chatapp.llm.count import input_tokens_counted
from chatapp.llm.models import ClaudeModel
from chatapp.llm.stream import ReplyRequest
from chatapp.usage.models import MONEY_PLACES, UsageDaily, UsageRecord, UserBudget
from chatapp.usage.pricing import most_it_can_cost
from chatapp.usage.services import month_to_date, price_for

from ..chat.helpers import converse, user_message


def counting(monkeypatch) -> list:
    """Records each count_tokens the app makes (the real call still goes to the fake)."""
    calls = []

    def spy(request):
        calls.append(request)
        return input_tokens_counted(request)

    monkeypatch.setattr(services, "input_tokens_counted", spy)
    return calls


async def worst_case(input_tokens: int, max_tokens: int = 4096) -> Decimal:
    """What the reservation holds for a Sonnet 5 reply of `input_tokens` in."""
    price = await sync_to_async(price_for)("claude-sonnet-5")
    return most_it_can_cost(
        input_tokens_at_most=input_tokens, max_tokens=max_tokens, prices=price.prices
    ).quantize(MONEY_PLACES, rounding=ROUND_CEILING)


async def test_an_ordinary_reply_makes_no_count_and_reserves_the_known_size(
    fake_api, sockets, owner, monkeypatch
):
    calls = counting(monkeypatch)
    fake_api.enqueue({"kind": "reply", "text": "Paris."}, {"kind": "reply", "text": "Lyon."})
    tab = await sockets(owner)
    frames, first = await converse(tab, "Capital of France?")
    _, second = await converse(tab, "Second city?", frames[-1]["conversation_id"])
    assert calls == [] and fake_api.count_tokens_calls == 0
    question = await Message.objects.aget(children=second)
    known = sum(first.usage.values())
    size = known + len(json.dumps(question.content, ensure_ascii=False).encode())
    record = await UsageRecord.objects.aget(message_id=second.pk)
    price = await sync_to_async(price_for)("claude-sonnet-5")
    expected = most_it_can_cost(
        input_tokens_at_most=size, max_tokens=4096, prices=price.prices
    ).quantize(MONEY_PLACES, rounding=ROUND_CEILING)
    assert record.reserved_cost == expected


async def test_near_the_window_it_counts_and_refuses_before_any_call(
    fake_api, sockets, owner, monkeypatch
):
    calls = counting(monkeypatch)
    await ClaudeModel.objects.filter(pk="claude-sonnet-5").aupdate(max_input_tokens=50)
    tab = await sockets(owner)
    sent = user_message("many words " * 40)
    await tab.send_json_to(sent)
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == "context_too_long"
    assert "over Claude Sonnet 5's window of 50" in error["message"]
    assert "Start a new conversation" in error["message"]
    assert len(calls) == 1 and fake_api.count_tokens_calls == 1
    assert fake_api.requests == []  # counted, and nothing sent
    assert not await Message.objects.aexists()


async def test_near_the_window_but_within_it_the_reply_goes_on(
    fake_api, sockets, owner, monkeypatch
):
    calls = counting(monkeypatch)
    await ClaudeModel.objects.filter(pk="claude-sonnet-5").aupdate(max_input_tokens=2000)
    fake_api.enqueue({"kind": "reply", "text": "Fine."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "word " * 400)  # 2,000 bytes: near, but few tokens
    assert len(calls) == 1 and reply.text == "Fine."


def test_a_failed_count_keeps_the_bound(fake_api):
    request = ReplyRequest(
        model="claude-nonexistent-1",
        max_tokens=10,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert input_tokens_counted(request) is None


@pytest.fixture
def image(owner, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CHAT_USE_FILES_API = False
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "red").save(out, "PNG")
    upload = SimpleUploadedFile("red.png", out.getvalue(), content_type="image/png")
    return attachment_create(owner=owner, upload=upload)


@pytest.mark.parametrize("first_turn", [True, False], ids=["new conversation", "next turn"])
async def test_a_turn_with_a_file_is_counted_and_the_exact_size_reserved(
    fake_api, sockets, owner, image, monkeypatch, first_turn
):
    calls = counting(monkeypatch)
    tab = await sockets(owner)
    conversation_id = None
    if not first_turn:
        fake_api.enqueue({"kind": "reply", "text": "Hi."})
        frames, _ = await converse(tab, "Hello")
        conversation_id = frames[-1]["conversation_id"]
        assert fake_api.count_tokens_calls == 0
    fake_api.enqueue({"kind": "reply", "text": "Red."})
    _, reply = await converse(tab, "What colour?", conversation_id, attachments=[image.pk])
    assert reply.text == "Red." and len(calls) == 1 and fake_api.count_tokens_calls == 1
    exact = await sync_to_async(input_tokens_counted)(calls[0])
    assert exact < await sync_to_async(calls[0].input_tokens_at_most)()
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.reserved_cost == await worst_case(exact)


async def bound_of_a_first_turn(fake_api, sockets, owner, text: str) -> Decimal:
    """The worst case the bound of a new conversation opened with `text` holds (no
    budget: nothing counted)."""
    fake_api.enqueue({"kind": "reply", "text": "Sure."})
    tab = await sockets(owner)
    _, reply = await converse(tab, text)
    assert fake_api.count_tokens_calls == 0
    return (await UsageRecord.objects.aget(message_id=reply.pk)).reserved_cost


QUESTION = "Tell me about the " + "very " * 80 + "long history of Lisbon."


async def leave_in_budget(owner, remaining: Decimal) -> None:
    """A $1 monthly budget of which exactly `remaining` is left (budgets are whole cents;
    the spend before is made up to the difference)."""
    spent = (await sync_to_async(month_to_date)(user=owner)).cost
    await UsageDaily.objects.acreate(
        day=timezone.localdate(), user=owner, model="claude-earlier", cost=1 - remaining - spent
    )
    await UserBudget.objects.aupdate_or_create(
        user=owner, defaults={"monthly_limit_usd": Decimal("1.00")}
    )
    assert (await sync_to_async(month_to_date)(user=owner)).cost == 1 - remaining


async def test_a_bound_near_the_remaining_budget_is_counted_and_the_exact_size_reserved(
    fake_api, sockets, owner, monkeypatch
):
    bound = await bound_of_a_first_turn(fake_api, sockets, owner, QUESTION)
    # The same question again would take 95% of what is left.
    await leave_in_budget(owner, (bound / Decimal("0.95")).quantize(MONEY_PLACES))
    calls = counting(monkeypatch)
    fake_api.enqueue({"kind": "reply", "text": "Again."})
    tab = await sockets(owner)
    _, reply = await converse(tab, QUESTION)
    assert reply.text == "Again." and len(calls) == 1 and fake_api.count_tokens_calls == 1
    exact = await sync_to_async(input_tokens_counted)(calls[0])
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.reserved_cost == await worst_case(exact) < bound


async def test_a_bound_over_the_remaining_budget_that_fits_once_counted_goes_on(
    fake_api, sockets, owner, monkeypatch
):
    bound = await bound_of_a_first_turn(fake_api, sockets, owner, QUESTION)
    question = [{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]
    exact = await sync_to_async(input_tokens_counted)(
        ReplyRequest(model="claude-sonnet-5", max_tokens=4096, messages=question)
    )
    exact_cost = await worst_case(exact)
    assert exact_cost < bound
    await leave_in_budget(owner, ((bound + exact_cost) / 2).quantize(MONEY_PLACES))
    calls = counting(monkeypatch)
    fake_api.enqueue({"kind": "reply", "text": "Fits."})
    tab = await sockets(owner)
    _, reply = await converse(tab, QUESTION)
    assert reply.text == "Fits." and len(calls) == 1
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.reserved_cost == exact_cost


async def test_with_a_generous_budget_nothing_is_counted(fake_api, sockets, owner, monkeypatch):
    await UserBudget.objects.aupdate_or_create(
        user=owner, defaults={"monthly_limit_usd": Decimal("100")}
    )
    calls = counting(monkeypatch)
    fake_api.enqueue({"kind": "reply", "text": "One."}, {"kind": "reply", "text": "Two."})
    tab = await sockets(owner)
    frames, _ = await converse(tab, QUESTION)
    await converse(tab, "And Porto?", frames[-1]["conversation_id"])
    assert calls == [] and fake_api.count_tokens_calls == 0


async def test_a_failed_count_near_the_window_still_sends_the_reply_with_the_bound(
    fake_api, sockets, owner, monkeypatch
):
    calls = counting(monkeypatch)
    fake_api.fail_count_tokens(529)
    await ClaudeModel.objects.filter(pk="claude-sonnet-5").aupdate(max_input_tokens=2000)
    fake_api.enqueue({"kind": "reply", "text": "Still here."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "word " * 400)  # near the window: counted, and it fails
    assert reply.status == "complete" and reply.text == "Still here."
    assert len(calls) == 1 and fake_api.count_tokens_calls == 1
    bound = calls[0].input_tokens_at_most()
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.reserved_cost == await worst_case(bound)
