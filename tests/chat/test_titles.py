"""A new conversation's title, written by the small model after its first reply: costed
in the ledger, announced to every tab, never over the user's own title, and silent when
it fails."""

import logging
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from chatapp.chat import titles
from chatapp.chat.live import hub
from chatapp.chat.models import Conversation
from chatapp.usage.models import UsagePolicy, UsageRecord, UserBudget

from .helpers import converse, receive_until, user_message


@pytest.fixture
def titles_on(settings, fake_api):
    settings.CHAT_TITLES = True
    return fake_api


def title_scenario(text="Lisbon Food Tips", **extra):
    return {"kind": "reply", "text": text, "match": "Write a title", **extra}


async def test_the_first_reply_is_followed_by_a_title_in_every_tab(titles_on, sockets, owner):
    fake_api = titles_on
    fake_api.enqueue({"kind": "reply", "text": "Eat pastéis de nata."}, title_scenario())
    tab = await sockets(owner)
    other_tab = await sockets(owner)
    frames, _ = await converse(tab, "Where should I eat in Lisbon? Long question here")
    conversation_id = frames[-1]["conversation_id"]
    await hub.wait_idle()

    for socket in (tab, other_tab):
        renamed = [
            f for f in await receive_until(socket, "conversation") if f["type"] == "conversation"
        ]
        while renamed[-1]["title"] != "Lisbon Food Tips":
            renamed = await receive_until(socket, "conversation")
        assert renamed[-1]["conversation_id"] == conversation_id
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.title == "Lisbon Food Tips" and not conversation.title_set_by_user

    title_request = fake_api.requests[-1]["body"]
    assert title_request["model"] == titles.title_model() == "claude-haiku-4-5"
    assert "stream" not in title_request or title_request["stream"] is False
    assert "pastéis de nata" in title_request["messages"][0]["content"]
    record = await UsageRecord.objects.aget(purpose="title")
    assert record.status == "complete" and record.cost is not None and record.cost > 0
    assert record.conversation_id == conversation_id and record.user_id == owner.pk
    assert record.model.startswith("claude-haiku-4-5")


async def test_a_title_the_user_set_is_never_replaced(titles_on, sockets, owner, client):
    fake_api = titles_on
    fake_api.enqueue({"kind": "reply", "tokens": 60, "token_delay": 0.01}, title_scenario())
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Plans for the weekend"))
    frames = await receive_until(tab, "content_block_delta")
    conversation_id = frames[-1]["conversation_id"]
    conversation = await Conversation.objects.aget(pk=conversation_id)
    conversation.title, conversation.title_set_by_user = "My weekend", True
    await conversation.asave()
    await receive_until(tab, "message_stop")
    await hub.wait_idle()
    assert (await Conversation.objects.aget(pk=conversation_id)).title == "My weekend"
    assert [r["body"]["messages"][0]["content"][0]["text"] for r in fake_api.requests] == [
        "Plans for the weekend"
    ]  # no title call at all
    assert not await UsageRecord.objects.filter(purpose="title").aexists()


async def test_no_title_call_when_the_policy_cannot_cover_it(titles_on, sockets, owner):
    fake_api = titles_on
    await UsagePolicy.objects.aupdate_or_create(
        pk=1, defaults={"max_tokens_cap": 8192, "requests_per_minute": 1}
    )
    from chatapp.usage.services import usage_settings_changed

    usage_settings_changed()
    fake_api.enqueue({"kind": "reply", "text": "Sure."}, title_scenario())
    tab = await sockets(owner)
    frames, _ = await converse(tab, "First words stay")
    await hub.wait_idle()
    conversation = await Conversation.objects.aget(pk=frames[-1]["conversation_id"])
    assert conversation.title == "First words stay"
    assert len(fake_api.requests) == 1
    assert await UsageRecord.objects.acount() == 1


async def test_no_title_call_when_the_budget_cannot_cover_it(titles_on, sockets, owner, caplog):
    fake_api = titles_on
    # $0.07 a month: the reply's worst case fits; what it really costs leaves less than
    # the title's worst case.
    await UserBudget.objects.acreate(user=owner, monthly_limit_usd=Decimal("0.07"))
    costly = {"input_tokens": 10, "output_tokens": 4650}
    fake_api.enqueue({"kind": "reply", "text": "Sure.", "usage": costly}, title_scenario())
    tab = await sockets(owner)
    with caplog.at_level(logging.INFO, logger="chatapp.chat.titles"):
        frames, reply = await converse(tab, "First words stay")
        await hub.wait_idle()
    assert reply.status == "complete" and "budget_exceeded" in caplog.text
    conversation = await Conversation.objects.aget(pk=frames[-1]["conversation_id"])
    assert conversation.title == "First words stay"
    assert len(fake_api.requests) == 1  # no title call
    assert not await UsageRecord.objects.filter(purpose="title").aexists()
    assert await tab.receive_nothing(timeout=0.2)  # no error frame, no conversation frame


@pytest.mark.parametrize("retry", ["regenerate", "send"])
async def test_a_first_reply_that_failed_is_titled_after_the_first_that_completes(
    titles_on, sockets, owner, retry
):
    fake_api = titles_on
    fake_api.enqueue(
        {"kind": "http_error", "status": 529},
        {"kind": "reply", "text": "Eat pastéis de nata."},
        title_scenario(),
    )
    tab = await sockets(owner)
    frames, failed = await converse(tab, "Where should I eat in Lisbon?")
    assert failed.status == "error"
    conversation_id = frames[-1]["conversation_id"]
    if retry == "regenerate":
        await tab.send_json_to(
            {
                "type": "regenerate",
                "conversation_id": conversation_id,
                "message_id": failed.pk,
                "client_id": str(uuid.uuid4()),
            }
        )
        await receive_until(tab, "message_stop")
    else:
        await converse(tab, "Any cafés?", conversation_id)
    await hub.wait_idle()
    renamed = await receive_until(tab, "conversation")
    while renamed[-1]["title"] != "Lisbon Food Tips":
        renamed = await receive_until(tab, "conversation")
    assert renamed[-1]["conversation_id"] == conversation_id
    assert (await Conversation.objects.aget(pk=conversation_id)).title == "Lisbon Food Tips"
    title_request = fake_api.requests[-1]["body"]
    assert "pastéis de nata" in title_request["messages"][0]["content"]
    assert await UsageRecord.objects.filter(purpose="title").acount() == 1


async def test_only_the_first_complete_reply_is_titled(titles_on, sockets, owner):
    fake_api = titles_on
    fake_api.enqueue(
        {"kind": "reply", "text": "One."}, title_scenario(), {"kind": "reply", "text": "Two."}
    )
    tab = await sockets(owner)
    frames, _ = await converse(tab, "First question")
    await hub.wait_idle()
    await converse(tab, "Second question", frames[-1]["conversation_id"])
    await hub.wait_idle()
    assert len(fake_api.requests) == 3  # reply, title, reply: no second title
    assert await UsageRecord.objects.filter(purpose="title").acount() == 1


async def test_a_failed_title_call_keeps_the_first_words_quietly(titles_on, sockets, owner, caplog):
    fake_api = titles_on
    fake_api.enqueue(
        {"kind": "reply", "text": "Sure."},
        {"kind": "http_error", "status": 529, "match": "Write a title"},
    )
    tab = await sockets(owner)
    with caplog.at_level(logging.WARNING, logger="chatapp.chat.titles"):
        frames, _ = await converse(tab, "Keep these words")
        await hub.wait_idle()
    conversation = await Conversation.objects.aget(pk=frames[-1]["conversation_id"])
    assert conversation.title == "Keep these words"
    assert "title call" in caplog.text and "upstream_overloaded" in caplog.text
    assert await tab.receive_nothing(timeout=0.2)  # no error frame for the user
    record = await UsageRecord.objects.aget(purpose="title")
    assert record.status == "error" and record.settled_at is not None


def test_the_title_is_cleaned_of_quotes_and_the_full_stop():
    assert titles.clean_title('  "Trip to\nLisbon."  ') == "Trip to Lisbon"
    assert titles.clean_title("\u201cRome\u201d") == "Rome"
    assert len(titles.clean_title("x" * 500)) == 200


async def test_a_rename_reaches_every_tab_as_a_conversation_frame(sockets, owner):
    """The settings view announces the change through the channel layer."""
    from asgiref.sync import sync_to_async
    from django.test import Client

    conversation = await Conversation.objects.acreate(
        owner=owner, model="claude-sonnet-5", max_tokens=10
    )
    tab = await sockets(owner)
    client = Client()
    await sync_to_async(client.force_login)(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    response = await sync_to_async(client.post)(url, {"title": "Renamed", "pinned": "true"})
    assert response.status_code == 200
    frame = await tab.receive_json_from(timeout=5)
    assert frame["type"] == "conversation" and frame["conversation_id"] == conversation.pk
    assert frame["title"] == "Renamed" and frame["pinned"] is True
