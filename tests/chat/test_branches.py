"""Edit, regenerate and switch (docs/protocol.md): every version kept, the active branch
followed by every tab, and exactly that branch sent upstream."""

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from chatapp.chat.models import Conversation, Message
from chatapp.usage.models import UsagePolicy, UsageRecord, UserBudget

from .helpers import converse, receive_until, saved


def texts(messages: list[dict]) -> list[str]:
    return ["".join(b.get("text", "") for b in m["content"]) for m in messages]


def sent_upstream(fake_api) -> list[str]:
    """The turns of the last request the API received, as text."""
    body = fake_api.requests[-1]["body"]
    return ["".join(b.get("text", "") for b in m["content"]) for m in body["messages"]]


async def two_turns(fake_api, tab):
    fake_api.enqueue({"kind": "reply", "text": "Paris."}, {"kind": "reply", "text": "Lyon."})
    frames, first = await converse(tab, "Capital of France?")
    conversation_id = frames[-1]["conversation_id"]
    _, second = await converse(tab, "Second city?", conversation_id)
    return conversation_id, first, second


def edit(conversation_id, message_id, text, **extra):
    return {
        "type": "edit",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "text": text,
        "client_id": str(uuid.uuid4()),
        **extra,
    }


def regenerate(conversation_id, message_id):
    return {
        "type": "regenerate",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "client_id": str(uuid.uuid4()),
    }


async def test_editing_a_message_keeps_both_versions_and_sends_only_the_new_branch(
    fake_api, sockets, owner
):
    tab = await sockets(owner)
    conversation_id, first, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)

    fake_api.enqueue({"kind": "reply", "text": "Marseille."})
    sent = edit(conversation_id, question.pk, "Third city?")
    await tab.send_json_to(sent)
    frames = await receive_until(tab, "message_stop")
    branch = frames[0]
    assert branch["type"] == "branch" and branch["client_id"] == sent["client_id"]
    assert texts(branch["messages"]) == ["Capital of France?", "Paris.", "Third city?", ""]
    new_question = branch["messages"][2]
    assert new_question["sibling_ids"] == [question.pk, new_question["id"]]
    assert new_question["parent_id"] == first.pk
    # Upstream saw the new branch only: not the old question, not its reply.
    assert sent_upstream(fake_api) == ["Capital of France?", "Paris.", "Third city?"]
    reply = await saved(frames[-1]["message_id"])
    assert reply.text == "Marseille." and reply.parent_id == new_question["id"]
    # Nothing deleted, every reply still costed.
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 6
    assert await UsageRecord.objects.filter(conversation_id=conversation_id).acount() == 3
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.active_leaf_id == reply.pk


async def test_regenerating_adds_a_sibling_reply_and_switch_goes_back(fake_api, sockets, owner):
    tab = await sockets(owner)
    other_tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    await other_tab.send_json_to({"type": "open", "conversation_id": conversation_id})

    fake_api.enqueue({"kind": "reply", "text": "Marseille, by size."})
    await tab.send_json_to(regenerate(conversation_id, second.pk))
    frames = await receive_until(tab, "message_stop")
    new_reply = frames[-1]["message"]
    assert new_reply["sibling_ids"] == [second.pk, new_reply["id"]]
    assert sent_upstream(fake_api) == ["Capital of France?", "Paris.", "Second city?"]
    seen_elsewhere = await receive_until(other_tab, "message_stop")
    (branch,) = [f for f in seen_elsewhere if f["type"] == "branch"]
    assert branch["messages"][-1]["id"] == new_reply["id"]

    # Back to the first version: every tab follows; no reply starts.
    await tab.send_json_to(
        {"type": "switch", "conversation_id": conversation_id, "message_id": second.pk}
    )
    for socket in (tab, other_tab):
        (branch,) = await receive_until(socket, "branch")
        assert texts(branch["messages"]) == [
            "Capital of France?",
            "Paris.",
            "Second city?",
            "Lyon.",
        ]
        assert branch["active_leaf_id"] == second.pk and branch["client_id"] is None
        assert branch["messages"][-1]["sibling_ids"] == [second.pk, new_reply["id"]]
    assert await tab.receive_nothing(timeout=0.2)

    # The next send continues the branch shown.
    fake_api.enqueue({"kind": "reply", "text": "Toulouse."})
    await converse(tab, "And the fourth?", conversation_id)
    assert sent_upstream(fake_api) == [
        "Capital of France?",
        "Paris.",
        "Second city?",
        "Lyon.",
        "And the fourth?",
    ]


async def test_switching_to_an_earlier_message_follows_the_newest_versions(
    fake_api, sockets, owner
):
    tab = await sockets(owner)
    conversation_id, first, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)
    fake_api.enqueue({"kind": "reply", "text": "Nice."})
    await tab.send_json_to(edit(conversation_id, question.pk, "A sunny city?"))
    await receive_until(tab, "message_stop")
    await tab.send_json_to(
        {"type": "switch", "conversation_id": conversation_id, "message_id": first.pk}
    )
    (branch,) = await receive_until(tab, "branch")
    assert texts(branch["messages"])[-2:] == ["A sunny city?", "Nice."]


async def test_a_resent_edit_is_not_stored_twice(fake_api, sockets, owner):
    tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)
    fake_api.enqueue({"kind": "reply", "text": "Nice."})
    sent = edit(conversation_id, question.pk, "A sunny city?")
    await tab.send_json_to(sent)
    await receive_until(tab, "message_stop")
    await tab.send_json_to(sent)
    again = await receive_until(tab, "resync")
    assert again[0]["type"] == "branch" and again[0]["client_id"] == sent["client_id"]
    assert again[-1]["message"]["status"] == "complete"
    assert await Message.objects.filter(search_text="A sunny city?").acount() == 1
    assert len(fake_api.requests) == 3


async def test_a_resent_regenerate_makes_one_reply(fake_api, sockets, owner):
    tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    fake_api.enqueue({"kind": "reply", "text": "Marseille."}, {"kind": "reply", "text": "Nice."})
    sent = regenerate(conversation_id, second.pk)
    await tab.send_json_to(sent)
    first = await receive_until(tab, "message_stop")
    await tab.send_json_to(sent)
    again = await receive_until(tab, "resync")
    assert again[0]["type"] == "branch" and again[0]["client_id"] == sent["client_id"]
    assert again[-1]["message_id"] == first[-1]["message_id"]
    assert again[-1]["message"]["status"] == "complete"
    assert texts([again[-1]["message"]]) == ["Marseille."]
    assert await tab.receive_nothing(timeout=0.2)
    replies = [
        m.text async for m in Message.objects.filter(parent_id=second.parent_id).order_by("id")
    ]
    assert replies == ["Lyon.", "Marseille."]
    assert len(fake_api.requests) == 3
    assert await UsageRecord.objects.filter(conversation_id=conversation_id).acount() == 3


@pytest.mark.parametrize("action", ["edit", "regenerate"])
@pytest.mark.parametrize("limit", ["budget_exceeded", "rate_limited"])
async def test_an_edit_or_a_regenerate_over_a_limit_is_refused(
    fake_api, sockets, owner, action, limit
):
    tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)
    if limit == "budget_exceeded":
        await UserBudget.objects.aupdate_or_create(
            user=owner, defaults={"monthly_limit_usd": Decimal(0)}
        )
    else:  # the two replies of two_turns, in the last minute
        await UsagePolicy.objects.aupdate_or_create(
            pk=1, defaults={"max_tokens_cap": 8192, "requests_per_minute": 2}
        )
    fake_api.enqueue({"kind": "reply", "text": "Never sent."})
    sent = (
        edit(conversation_id, question.pk, "Third city?")
        if action == "edit"
        else regenerate(conversation_id, second.pk)
    )
    messages, records = await Message.objects.acount(), await UsageRecord.objects.acount()
    await tab.send_json_to(sent)
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == limit
    assert error["client_id"] == sent["client_id"]
    assert error["conversation_id"] == conversation_id
    assert await tab.receive_nothing(timeout=0.2)
    assert await Message.objects.acount() == messages
    assert await UsageRecord.objects.acount() == records
    assert len(fake_api.requests) == 2
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.active_leaf_id == second.pk


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("edit a reply", "invalid_field"),
        ("regenerate a question", "invalid_field"),
        ("an empty edit", "empty_text"),
        ("another user's message", "not_found"),
        ("a message of another conversation", "not_found"),
        ("a switch to a message of another conversation", "not_found"),
        ("an edit in another user's conversation", "not_found"),
        ("a switch in another user's conversation", "not_found"),
        ("an edit in one's own conversation of another user's message", "not_found"),
    ],
)
async def test_bad_branch_frames_are_refused_and_change_nothing(
    fake_api, sockets, owner, stranger, frame, code
):
    tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)
    fake_api.enqueue({"kind": "reply", "text": "Theirs."}, {"kind": "reply", "text": "Mine."})
    theirs_tab = await sockets(stranger)
    theirs_frames, theirs = await converse(theirs_tab, "Their question")
    theirs_id = theirs_frames[-1]["conversation_id"]
    their_question = await Message.objects.aget(children=theirs)
    _, elsewhere = await converse(tab, "Another chat")
    # The stranger's tab sends the last one: their own conversation, the owner's message.
    sender = theirs_tab if frame.endswith("of another user's message") else tab
    bad = {
        "edit a reply": edit(conversation_id, second.pk, "x"),
        "regenerate a question": regenerate(conversation_id, question.pk),
        "an empty edit": edit(conversation_id, question.pk, "   "),
        "another user's message": regenerate(theirs_frames[-1]["conversation_id"], theirs.pk),
        "a message of another conversation": regenerate(conversation_id, elsewhere.pk),
        "a switch to a message of another conversation": {
            "type": "switch",
            "conversation_id": conversation_id,
            "message_id": elsewhere.pk,
        },
        "an edit in another user's conversation": edit(theirs_id, their_question.pk, "Mine now"),
        "a switch in another user's conversation": {
            "type": "switch",
            "conversation_id": theirs_id,
            "message_id": their_question.pk,
        },
        "an edit in one's own conversation of another user's message": edit(
            theirs_id, question.pk, "Yours now"
        ),
    }[frame]
    before = await Message.objects.acount()
    requests = len(fake_api.requests)
    await sender.send_json_to(bad)
    error = await sender.receive_json_from()
    assert error["type"] == "error" and error["code"] == code
    assert error.get("client_id") == bad.get("client_id")
    assert await Message.objects.acount() == before
    assert len(fake_api.requests) == requests
    conversation = await Conversation.objects.aget(pk=conversation_id)
    assert conversation.active_leaf_id == second.pk
    their_conversation = await Conversation.objects.aget(pk=theirs_id)
    assert their_conversation.active_leaf_id == theirs.pk
    # Neither tab is shown anything of the other's conversation.
    assert await tab.receive_nothing(timeout=0.2)
    assert await theirs_tab.receive_nothing(timeout=0.1)


async def test_an_edit_while_a_reply_streams_is_busy(fake_api, sockets, owner):
    tab = await sockets(owner)
    conversation_id, _, second = await two_turns(fake_api, tab)
    question = await Message.objects.aget(children=second)
    fake_api.enqueue({"kind": "reply", "tokens": 400, "token_delay": 0.01})
    await tab.send_json_to(regenerate(conversation_id, second.pk))
    await receive_until(tab, "content_block_delta")
    await tab.send_json_to(edit(conversation_id, question.pk, "Too soon"))
    await tab.send_json_to(
        {"type": "switch", "conversation_id": conversation_id, "message_id": second.pk}
    )
    codes = []
    while len(codes) < 2:
        frame = await tab.receive_json_from()
        if frame["type"] == "error":
            codes.append(frame["code"])
    assert codes == ["busy", "busy"]
    await tab.send_json_to({"type": "stop", "conversation_id": conversation_id})
    await receive_until(tab, "message_stop")


async def test_the_conversations_settings_are_what_is_sent(fake_api, sockets, owner, async_client):
    tab = await sockets(owner)
    fake_api.enqueue({"kind": "reply", "text": "One."}, {"kind": "reply", "text": "Two."})
    frames, _ = await converse(tab, "Count", system="Be terse.")
    conversation_id = frames[-1]["conversation_id"]
    first = fake_api.requests[-1]["body"]
    assert first["model"] == "claude-sonnet-5" and first["system"] == "Be terse."

    # Each field sent alone, as the settings panel may (docs/protocol.md).
    await async_client.aforce_login(owner)
    url = reverse("chat:settings", args=[conversation_id])
    for change in (
        {"model": "claude-haiku-4-5"},
        {"system_prompt": "Be brief."},
        {"max_tokens": "321"},
        {"stop_sequences": "END\n###\n"},
    ):
        response = await async_client.post(url, change)
        assert response.status_code == 200, response.content
    await converse(tab, "Again", conversation_id)
    body = fake_api.requests[-1]["body"]
    assert body["model"] == "claude-haiku-4-5"
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 321
    assert body["stop_sequences"] == ["END", "###"]
    assert sent_upstream(fake_api) == ["Count", "One.", "Again"]
