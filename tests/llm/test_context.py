"""The conversation's input size without a round trip on every reply: known from the last
reply's usage, counted exactly (count_tokens) only near the model's window, and refused
before any call when over it."""

import json
from decimal import ROUND_CEILING

from asgiref.sync import sync_to_async

from chatapp.chat import services
from chatapp.chat.models import Message
from chatapp.llm.count import input_tokens_counted
from chatapp.llm.models import ClaudeModel
from chatapp.llm.stream import ReplyRequest
from chatapp.usage.models import MONEY_PLACES, UsageRecord
from chatapp.usage.pricing import most_it_can_cost
from chatapp.usage.services import price_for

from ..chat.helpers import converse, user_message


def counting(monkeypatch) -> list:
    """Records each count_tokens the app makes (the real call still goes to the fake)."""
    calls = []

    def spy(request):
        calls.append(request)
        return input_tokens_counted(request)

    monkeypatch.setattr(services, "input_tokens_counted", spy)
    return calls


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
