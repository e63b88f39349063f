"""Every stop reason ends in its own saved outcome; a paused turn is continued by itself;
a failed reply keeps the API's request id and error body for staff."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chatapp.usage.models import UsageRecord

from ..chat.helpers import converse

LONG_STOP_REASON = "a_stop_reason_from_a_later_version_of_the_api_sixty_chars_ab"


@pytest.mark.parametrize(
    ("scenario", "stop_reason"),
    [
        ({"kind": "reply", "text": "Done."}, "end_turn"),
        ({"kind": "reply", "tokens": 30, "stop_reason": "max_tokens"}, "max_tokens"),
        (
            {"kind": "reply", "text": "Cut", "stop_reason": "model_context_window_exceeded"},
            "model_context_window_exceeded",
        ),
        (
            {"kind": "reply", "text": "New", "stop_reason": "a_reason_from_the_future"},
            "a_reason_from_the_future",
        ),
        ({"kind": "recording", "name": "refusal_response"}, "refusal"),
        # Longer than any stop reason known today: kept whole, not a failed save.
        ({"kind": "reply", "text": "Long", "stop_reason": LONG_STOP_REASON}, LONG_STOP_REASON),
    ],
)
async def test_each_stop_reason_is_saved_and_shown(fake_api, sockets, owner, scenario, stop_reason):
    fake_api.enqueue(scenario)
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Go")
    assert reply.stop_reason == stop_reason
    assert reply.status == "complete"  # a stop reason is not an error
    assert frames[-1]["message"]["stop_reason"] == stop_reason
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.output_tokens == reply.output_tokens > 0  # billed, refusals too


async def test_a_stop_sequence_is_named(fake_api, sockets, owner):
    from chatapp.chat.models import Conversation

    fake_api.enqueue({"kind": "reply", "text": "one"}, {"kind": "reply", "text": "a b END c"})
    tab = await sockets(owner)
    frames, _ = await converse(tab, "Go")
    conversation_id = frames[-1]["conversation_id"]
    await Conversation.objects.filter(pk=conversation_id).aupdate(stop_sequences=["END"])
    frames, reply = await converse(tab, "Again", conversation_id)
    assert (reply.stop_reason, reply.stop_sequence) == ("stop_sequence", "END")
    assert frames[-1]["message"]["stop_sequence"] == "END"


async def test_a_paused_turn_is_continued_into_the_same_reply(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": "Searching first.", "stop_reason": "pause_turn"})
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Research this")
    assert reply.stop_reason == "end_turn"  # the fake finishes a continued turn
    first_block, continued = reply.content
    assert first_block["text"] == "Searching first." and continued["text"]
    _, second = (r["body"] for r in fake_api.requests)
    assert second["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Searching first."}],
    }
    # One reply on the page, its blocks in order, and every call's usage in its cost.
    assert [f["type"] for f in frames].count("message_start") == 1
    starts = [f["index"] for f in frames if f["type"] == "content_block_start"]
    assert starts == [0, 1]
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.output_tokens == reply.output_tokens
    shown = "".join(f["delta"]["text"] for f in frames if f["type"] == "content_block_delta")
    assert shown == reply.text


async def test_a_turn_paused_twice_is_sent_back_once_whole(fake_api, sockets, owner):
    fake_api.enqueue(
        {"kind": "reply", "text": "part one.", "stop_reason": "pause_turn"},
        {"kind": "reply", "text": "part two.", "stop_reason": "pause_turn"},
        {"kind": "reply", "text": "done."},
    )
    tab = await sockets(owner)
    _, reply = await converse(tab, "Research this")
    assert reply.text == "part one.part two.done."
    third = fake_api.requests[2]["body"]["messages"]
    assert [turn["role"] for turn in third] == ["user", "assistant"]
    assert [block["text"] for block in third[-1]["content"]] == ["part one.", "part two."]


async def test_a_turn_paused_too_often_is_saved_as_paused(fake_api, sockets, owner, settings):
    settings.CHAT_PAUSE_TURN_CONTINUES = 0
    fake_api.enqueue({"kind": "reply", "text": "part one.", "stop_reason": "pause_turn"})
    tab = await sockets(owner)
    _, reply = await converse(tab, "Research this")
    assert reply.stop_reason == "pause_turn" and len(fake_api.requests) == 1


async def test_a_failed_reply_keeps_the_request_id_and_error_body_for_staff(
    fake_api, sockets, owner, client, staff
):
    fake_api.enqueue({"kind": "http_error", "status": 400, "message": "bad thing"})
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Go")
    assert reply.status == "error" and reply.request_id
    assert reply.error_body["error"]["message"] == "bad thing"
    assert "error_body" not in frames[-1]["message"]  # never to the page
    url = reverse("admin:chat_message_change", args=[reply.pk])
    await sync_to_async(client.force_login)(staff)
    shown = await sync_to_async(client.get)(url)
    assert shown.status_code == 200
    page = shown.content.decode()
    assert "bad thing" in page and reply.request_id in page
    await sync_to_async(client.force_login)(owner)
    refused = await sync_to_async(client.get)(url)
    assert refused.status_code == 302 and refused.url.startswith(reverse("admin:login"))
