"""Requests follow the model's capabilities (llm.catalogue): thinking and effort only
where the model takes them, in the shape it takes, prompt caching on by default, and
max_tokens within the model's own limit. Checked on the requests the fake API received."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chatapp.chat.models import Conversation, Message
from chatapp.llm import catalogue
from chatapp.llm.models import ClaudeModel
from chatapp.usage.services import price_for

from ..chat.helpers import converse, user_message


def last_request(fake_api) -> dict:
    return fake_api.requests[-1]["body"]


async def test_thinking_and_effort_are_sent_as_the_model_takes_them(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": "Hm.", "thinking": "Let me see."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "Think", model="claude-sonnet-5", thinking=True, effort="high")
    body = last_request(fake_api)
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"effort": "high"}
    assert [b["type"] for b in reply.content] == ["thinking", "text"]
    assert reply.content[0]["signature"]


async def test_a_model_with_budgeted_thinking_gets_a_budget_below_max_tokens(
    fake_api, sockets, owner
):
    fake_api.enqueue({"kind": "reply", "text": "Ok."})
    tab = await sockets(owner)
    await converse(tab, "Think", model="claude-haiku-4-5", thinking=True)
    body = last_request(fake_api)
    assert body["thinking"]["type"] == "enabled"
    assert 1024 <= body["thinking"]["budget_tokens"] < body["max_tokens"]
    assert "output_config" not in body


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "claude-haiku-4-5", "effort": "high"}, "no effort setting"),
        ({"model": "claude-sonnet-5", "effort": "xhigh"}, "takes the effort levels"),
        ({"model": "claude-nonexistent-1"}, "Unknown model"),
    ],
)
async def test_what_the_model_cannot_take_is_refused_before_anything_is_stored(
    fake_api, sockets, owner, fields, message
):
    tab = await sockets(owner)
    sent = user_message("Hello", **fields)
    await tab.send_json_to(sent)
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == "invalid_field"
    assert message in error["message"] and error["client_id"] == sent["client_id"]
    assert not await Message.objects.aexists() and fake_api.requests == []


async def test_a_hidden_or_retired_model_is_not_offered(fake_api, sockets, owner):
    await ClaudeModel.objects.filter(pk="claude-opus-4-8").aupdate(visible=False)
    await ClaudeModel.objects.filter(pk="claude-haiku-4-5").aupdate(lifecycle="retired")
    tab = await sockets(owner)
    for model in ("claude-opus-4-8", "claude-haiku-4-5"):
        await tab.send_json_to(user_message("Hello", model=model))
        error = await tab.receive_json_from()
        assert error["code"] == "invalid_field"
    conversation = await Conversation.objects.acreate(
        owner=owner, model="claude-haiku-4-5", max_tokens=100
    )
    await tab.send_json_to(user_message("Hello", conversation.pk))
    error = await tab.receive_json_from()
    assert error["code"] == "model_unavailable" and "pick another model" in error["message"]
    assert fake_api.requests == []


async def test_prompt_caching_is_on_by_default_and_follows_the_settings(
    fake_api, sockets, owner, settings
):
    fake_api.enqueue({"kind": "reply", "text": "A."}, {"kind": "reply", "text": "B."})
    tab = await sockets(owner)
    await converse(tab, "One")
    assert last_request(fake_api)["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    settings.CHAT_PROMPT_CACHING = False
    await converse(tab, "Two")
    assert "cache_control" not in last_request(fake_api)


async def test_max_tokens_never_exceeds_the_models_own(fake_api, sockets, owner):
    await ClaudeModel.objects.filter(pk="claude-sonnet-5").aupdate(max_tokens=2000)
    fake_api.enqueue({"kind": "reply", "text": "A."})
    tab = await sockets(owner)
    await converse(tab, "One")
    assert last_request(fake_api)["max_tokens"] == 2000


def test_settings_refuse_thinking_or_effort_the_model_lacks(client, owner):
    conversation = Conversation.objects.create(
        owner=owner, model="claude-haiku-4-5", max_tokens=4096
    )
    client.force_login(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    refused = client.post(url, {"effort": "low"})
    assert refused.status_code == 400 and "no effort" in refused.json()["errors"]["effort"][0]
    small = client.post(url, {"thinking": "true", "max_tokens": "1000"})
    assert small.status_code == 400 and "above 1,024" in small.json()["errors"]["thinking"][0]
    assert client.post(url, {"thinking": "true"}).status_code == 200
    switched = client.post(url, {"model": "claude-sonnet-5", "effort": "max"})
    assert switched.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.thinking, conversation.effort) == (True, "max")


def test_a_snapshot_is_priced_by_its_alias(db):
    alias = price_for("claude-haiku-4-5")
    assert alias is not None
    assert price_for("claude-haiku-4-5-20251001") == alias
    assert price_for("claude-unknown-1-20260101") is None


async def test_the_second_turn_reads_the_first_from_the_cache(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": "Read it."}, {"kind": "reply", "text": "Yes."})
    tab = await sockets(owner)
    long_text = "A long document to discuss. " * 300  # over the minimum cacheable length
    frames, first = await converse(tab, long_text)
    assert first.cache_creation_input_tokens > 1024 and first.cache_read_input_tokens == 0
    _, second = await converse(tab, "And its gist?", frames[-1]["conversation_id"])
    assert second.cache_read_input_tokens >= first.cache_creation_input_tokens
    from chatapp.usage.models import UsageRecord

    record = await UsageRecord.objects.aget(message_id=second.pk)
    assert record.cache_read_input_tokens == second.cache_read_input_tokens
    assert record.input_tokens < second.cache_read_input_tokens  # only the remainder


async def test_thinking_is_passed_back_unchanged_on_the_next_turn(fake_api, sockets, owner):
    fake_api.enqueue(
        {"kind": "reply", "text": "Four.", "thinking": "Two and two."},
        {"kind": "reply", "text": "Eight."},
    )
    tab = await sockets(owner)
    frames, first = await converse(tab, "2+2?", model="claude-sonnet-5", thinking=True)
    await converse(tab, "Double it", frames[-1]["conversation_id"])
    sent_back = fake_api.requests[-1]["body"]["messages"][1]["content"]
    assert sent_back[0] == first.content[0]  # with its signature, as it came
    assert sent_back[0]["type"] == "thinking" and sent_back[0]["signature"]


async def test_a_choice_the_model_no_longer_takes_is_left_out_not_refused(fake_api, sockets, owner):
    conversation = await Conversation.objects.acreate(
        owner=owner, model="claude-haiku-4-5", max_tokens=4096, thinking=True, effort="high"
    )
    await ClaudeModel.objects.filter(pk="claude-haiku-4-5").aupdate(
        capabilities=_without_thinking()
    )
    fake_api.enqueue({"kind": "reply", "text": "Fine."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "Hello", conversation.pk)
    body = last_request(fake_api)
    assert reply.text == "Fine." and "thinking" not in body and "output_config" not in body


def _without_thinking() -> dict:
    from chatapp.llm.catalogue import SEED

    capabilities = dict(SEED[2].capabilities)
    capabilities["thinking"] = {"supported": False, "types": {}}
    return capabilities


async def test_thinking_a_model_does_not_take_is_refused_before_anything_is_stored(
    fake_api, sockets, owner
):
    await ClaudeModel.objects.filter(pk="claude-haiku-4-5").aupdate(
        capabilities=_without_thinking()
    )
    tab = await sockets(owner)
    sent = user_message("Hello", model="claude-haiku-4-5", thinking=True)
    await tab.send_json_to(sent)
    error = await tab.receive_json_from()
    assert error["code"] == "invalid_field" and "does not think" in error["message"]
    assert error["client_id"] == sent["client_id"]
    assert not await Conversation.objects.aexists() and not await Message.objects.aexists()
    assert fake_api.requests == []


async def test_redacted_thinking_is_passed_back_unchanged_on_the_next_turn(
    fake_api, sockets, owner
):
    fake_api.enqueue(
        {"kind": "reply", "text": "Four.", "thinking": "Two and two.", "redacted_thinking": True},
        {"kind": "reply", "text": "Eight."},
    )
    tab = await sockets(owner)
    frames, first = await converse(tab, "2+2?", model="claude-sonnet-5", thinking=True)
    redacted = [b for b in first.content if b["type"] == "redacted_thinking"]
    assert len(redacted) == 1 and redacted[0]["data"]
    _, second = await converse(tab, "Double it", frames[-1]["conversation_id"])
    assert second.status == "complete"  # the fake checks the data it made
    sent_back = fake_api.requests[-1]["body"]["messages"][1]["content"]
    assert redacted[0] in sent_back
    assert [b["type"] for b in sent_back] == [b["type"] for b in first.content]


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
async def test_budgeted_thinking_with_an_effort_reaches_the_api_exactly(fake_api, sockets, owner):
    """claude-opus-4-5 (after a sync; deprecated, so the SDK warns): thinking with a
    budget, and effort levels."""
    from chatapp.llm.sync import models_sync

    await sync_to_async(models_sync)()
    catalogue.forget()
    fake_api.enqueue({"kind": "reply", "text": "Hm.", "thinking": "Let me see."})
    tab = await sockets(owner)
    _, reply = await converse(
        tab, "Think", model="claude-opus-4-5-20251101", thinking=True, effort="medium"
    )
    body = last_request(fake_api)
    assert body["max_tokens"] == 4096
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["output_config"] == {"effort": "medium"}
    assert [b["type"] for b in reply.content] == ["thinking", "text"]


async def test_the_xhigh_effort_reaches_the_api_exactly(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": "Done."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "Hard", model="claude-opus-4-8", thinking=True, effort="xhigh")
    body = last_request(fake_api)
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"effort": "xhigh"}
    assert reply.status == "complete"


async def test_a_one_hour_cache_ttl_reaches_the_request(fake_api, sockets, owner, settings):
    settings.CHAT_CACHE_TTL = "1h"
    fake_api.enqueue({"kind": "reply", "text": "A."})
    tab = await sockets(owner)
    await converse(tab, "One")
    assert last_request(fake_api)["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
