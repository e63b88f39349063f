"""The chat socket end to end: real ASGI stack, real SDK, the fake API over real HTTP."""

import asyncio

import pytest

from chatapp.chat.live import hub
from chatapp.chat.models import Conversation, Message

from .helpers import converse, joined_text, of_type, receive_until, saved, user_message

TEXT = "The quick brown fox jumps over the lazy dog, twice over, for good measure."


async def test_reply_streams_delta_by_delta_then_is_saved(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "text": TEXT, "token_delay": 0.01})
    tab = await sockets(owner)
    sent = user_message("Tell me about foxes")
    await tab.send_json_to(sent)

    created = await tab.receive_json_from()
    assert created["type"] == "conversation"
    assert created["client_id"] == sent["client_id"]
    assert created["title"] == "Tell me about foxes"
    echoed = await tab.receive_json_from()
    assert echoed["type"] == "user_message"
    assert echoed["message"]["content"] == [{"type": "text", "text": "Tell me about foxes"}]

    frames = await receive_until(tab, "content_block_delta")
    # The first delta is on the socket while the reply is still being generated.
    reply_id = frames[-1]["message_id"]
    in_flight = await saved(reply_id)
    assert in_flight.status == Message.Status.STREAMING

    frames += await receive_until(tab, "message_stop")
    kinds = [f["type"] for f in frames]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = of_type(frames, "content_block_delta")
    assert len(deltas) > 5
    assert joined_text(frames) == TEXT
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(f["conversation_id"] == created["conversation_id"] for f in frames)
    assert all(f["message_id"] == reply_id for f in frames)

    reply = await saved(reply_id)
    assert reply.status == Message.Status.COMPLETE
    assert reply.text == TEXT
    assert reply.stop_reason == "end_turn"
    assert reply.output_tokens == frames[-2]["usage"]["output_tokens"] > 5
    assert reply.input_tokens > 0
    assert reply.request_id.startswith("req_")
    assert reply.upstream_id.startswith("msg_")
    assert reply.time_to_first_token_ms is not None
    assert reply.duration_ms >= reply.time_to_first_token_ms
    assert frames[-1]["message"]["status"] == "complete"
    assert frames[-1]["message"]["usage"]["output_tokens"] == reply.output_tokens


async def test_history_model_and_system_prompt_go_upstream(fake_api, sockets, owner):
    tab = await sockets(owner)
    frames, first = await converse(
        tab, "First question", model="claude-haiku-4-5", system="Answer in French."
    )
    conversation_id = frames[-1]["conversation_id"]
    await converse(tab, "Second question", conversation_id)

    second_request = fake_api.requests[-1]["body"]
    assert second_request["model"] == "claude-haiku-4-5"
    assert second_request["system"] == "Answer in French."
    assert [m["role"] for m in second_request["messages"]] == ["user", "assistant", "user"]
    assert second_request["messages"][1]["content"] == first.content
    assert second_request["messages"][2]["content"][0]["text"] == "Second question"


async def test_reply_goes_on_and_is_saved_when_the_tab_disconnects(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "tokens": 60, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message())
    frames = await receive_until(tab, "content_block_delta")
    await tab.disconnect()

    await hub.wait_idle()
    reply = await saved(frames[-1]["message_id"])
    assert reply.status == Message.Status.COMPLETE
    assert reply.output_tokens == 60
    assert len(reply.text.split()) == 60


async def test_reopening_the_page_mid_reply_resyncs_then_streams_on(fake_api, sockets, owner):
    tab = await sockets(owner)
    frames, _ = await converse(tab, "Start")
    conversation_id = frames[-1]["conversation_id"]
    fake_api.enqueue({"kind": "reply", "tokens": 80, "token_delay": 0.01})
    await tab.send_json_to(user_message("Go on", conversation_id))
    await receive_until(tab, "content_block_delta")
    await tab.receive_json_from()

    reloaded = await sockets(owner)
    await reloaded.send_json_to({"type": "open", "conversation_id": conversation_id})
    resync = await reloaded.receive_json_from()
    assert resync["type"] == "resync"
    assert resync["message"]["status"] == "streaming"
    text = resync["message"]["content"][0]["text"]
    assert text  # what was generated before the tab came
    rest = await receive_until(reloaded, "message_stop")
    assert all(f["seq"] > resync["seq"] for f in rest)
    text += joined_text(rest)
    reply = await saved(resync["message_id"])
    assert text == reply.text
    assert rest[-1]["message"]["status"] == "complete"


async def test_other_tabs_see_the_same_live_stream(fake_api, sockets, owner):
    tab_a = await sockets(owner)
    tab_b = await sockets(owner)
    frames, _ = await converse(tab_a, "Hi")
    conversation_id = frames[-1]["conversation_id"]
    # The other tab's sidebar learnt about the new conversation.
    sidebar = await tab_b.receive_json_from()
    assert sidebar["type"] == "conversation"
    assert sidebar["conversation_id"] == conversation_id

    await tab_b.send_json_to({"type": "open", "conversation_id": conversation_id})
    assert await tab_b.receive_nothing(timeout=0.05)
    fake_api.enqueue({"kind": "reply", "text": TEXT, "token_delay": 0.005})
    sent = user_message("Again", conversation_id)
    await tab_a.send_json_to(sent)

    seen_by_a = await receive_until(tab_a, "message_stop")
    seen_by_b = await receive_until(tab_b, "message_stop")
    assert seen_by_b[0]["type"] == "user_message"
    assert seen_by_b[0]["client_id"] == sent["client_id"]
    assert joined_text(seen_by_a) == joined_text(seen_by_b) == TEXT
    assert seen_by_a[-1]["message"] == seen_by_b[-1]["message"]


async def test_stop_cancels_upstream_and_keeps_the_partial_reply(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "tokens": 2000, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message())
    frames = await receive_until(tab, "content_block_delta")
    frames += await receive_until(tab, "content_block_delta")
    await tab.send_json_to({"type": "stop", "conversation_id": frames[0]["conversation_id"]})
    frames += await receive_until(tab, "message_stop")

    final = frames[-1]["message"]
    assert final["status"] == "stopped"
    reply = await saved(frames[-1]["message_id"])
    assert reply.status == Message.Status.STOPPED
    assert reply.text == joined_text(frames)
    assert 2 <= len(reply.text.split()) < 2000
    assert reply.input_tokens > 0  # from message_start: billed even though stopped
    # The upstream request itself was cancelled: the API saw its client go away.
    await asyncio.to_thread(
        fake_api.wait_for, lambda fake: fake.requests[-1]["outcome"] == "client_disconnected"
    )


async def test_stop_when_nothing_streams_is_an_error(fake_api, sockets, owner):
    tab = await sockets(owner)
    frames, _ = await converse(tab)
    await tab.send_json_to({"type": "stop", "conversation_id": frames[-1]["conversation_id"]})
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == "not_streaming"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "upstream_invalid_request"),
        (401, "upstream_authentication"),
        (403, "upstream_permission"),
        (429, "upstream_rate_limited"),
        (500, "upstream_server_error"),
        (529, "upstream_overloaded"),
    ],
)
async def test_http_failures_end_in_a_saved_error(fake_api, sockets, owner, status, code):
    fake_api.enqueue({"kind": "http_error", "status": status, "message": "Boom from upstream"})
    tab = await sockets(owner)
    frames, reply = await converse(tab, "Keep me")

    error = of_type(frames, "error")[0]
    assert error["code"] == code
    assert "Boom from upstream" in error["message"]
    assert error["message_id"] == reply.pk
    assert frames[-1]["message"]["status"] == "error"
    assert frames[-1]["message"]["error"]["code"] == code
    assert reply.status == Message.Status.ERROR and reply.error_code == code
    assert reply.request_id.startswith("req_")
    question = await Message.objects.aget(children=reply)
    assert question.text == "Keep me" and question.status == Message.Status.COMPLETE


async def test_error_event_mid_stream_keeps_the_text_so_far(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "stream_error", "after_tokens": 3})
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert of_type(frames, "error")[0]["code"] == "upstream_stream_error"
    assert reply.status == Message.Status.ERROR
    assert reply.text == joined_text(frames) != ""


async def test_dropped_connection_mid_stream_is_an_error_not_a_hang(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "drop", "after_tokens": 3})
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert of_type(frames, "error")[0]["code"] == "upstream_connection"
    assert reply.status == Message.Status.ERROR
    assert reply.text == joined_text(frames) != ""


async def test_overloaded_before_the_first_token_is_retried(fake_api, sockets, owner, settings):
    settings.ANTHROPIC_MAX_RETRIES = 2
    fake_api.enqueue({"kind": "http_error", "status": 529, "times": 2, "retry_after": 0})
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert not of_type(frames, "error")
    assert reply.status == Message.Status.COMPLETE
    assert len(fake_api.requests) == 3


async def test_no_api_key_is_a_clear_error(fake_api, sockets, owner, settings, monkeypatch):
    settings.ANTHROPIC_API_KEY = ""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", "/nonexistent")
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert of_type(frames, "error")[0]["code"] == "not_configured"
    assert "ANTHROPIC_API_KEY" in of_type(frames, "error")[0]["message"]
    assert reply.status == Message.Status.ERROR


async def test_a_second_message_while_a_reply_streams_is_refused(fake_api, sockets, owner):
    tab = await sockets(owner)
    frames, _ = await converse(tab)
    conversation_id = frames[-1]["conversation_id"]
    fake_api.enqueue({"kind": "reply", "tokens": 50, "token_delay": 0.01})
    await tab.send_json_to(user_message("one", conversation_id))
    await receive_until(tab, "content_block_delta")
    await tab.send_json_to(user_message("two", conversation_id))
    frames = await receive_until(tab, "error")
    assert frames[-1]["code"] == "busy"
    await receive_until(tab, "message_stop")
    texts = [m.text async for m in Message.objects.filter(role="user")]
    assert texts == ["Hello", "one"]


async def test_resending_a_client_id_stores_nothing_twice(fake_api, sockets, owner):
    tab = await sockets(owner)
    frame = user_message("Only once")
    await tab.send_json_to(frame)
    first = await receive_until(tab, "message_stop")

    again = await sockets(owner)  # the tab reconnected and resends what it was unsure of
    await again.send_json_to(frame)
    replayed = await receive_until(again, "resync")
    echoed = of_type(replayed, "user_message")[0]
    assert echoed["duplicate"] is True
    assert echoed["message"]["id"] == of_type(first, "user_message")[0]["message"]["id"]
    assert replayed[-1]["message"] == first[-1]["message"]
    assert await Message.objects.filter(role="user").acount() == 1
    assert await Conversation.objects.acount() == 1
    assert len(fake_api.requests) == 1


async def test_resend_while_the_reply_streams_resyncs_it(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "reply", "tokens": 60, "token_delay": 0.01})
    tab = await sockets(owner)
    frame = user_message("Once")
    await tab.send_json_to(frame)
    await receive_until(tab, "content_block_delta")
    again = await sockets(owner)
    await again.send_json_to(frame)
    frames = await receive_until(again, "resync")
    text = frames[-1]["message"]["content"][0]["text"]
    frames = await receive_until(again, "message_stop")
    reply = await saved(frames[-1]["message_id"])
    assert text + joined_text(frames) == reply.text
    assert await Message.objects.filter(role="user").acount() == 1


RECORDINGS = {
    "basic_response": {"text": "Hello there!", "output_tokens": 6, "stop_reason": "end_turn"},
    "extra_fields_response": {"text": "Hello!", "output_tokens": 3, "stop_reason": "end_turn"},
    "refusal_response": {"text": "", "output_tokens": 120, "stop_reason": "refusal"},
}


@pytest.mark.parametrize("name", sorted(RECORDINGS))
async def test_recorded_streams_are_relayed_and_saved(fake_api, sockets, owner, name):
    expected = RECORDINGS[name]
    fake_api.enqueue({"kind": "recording", "name": name})
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert joined_text(frames) == reply.text == expected["text"]
    assert reply.status == Message.Status.COMPLETE
    assert reply.output_tokens == expected["output_tokens"]
    assert reply.stop_reason == expected["stop_reason"]


async def test_recorded_cache_usage_only_in_message_start_is_kept(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "recording", "name": "message_delta_omitted_usage_response"})
    tab = await sockets(owner)
    _, reply = await converse(tab)
    assert reply.usage == {
        "input_tokens": 25,
        "output_tokens": 8,
        "cache_creation_input_tokens": 10,
        "cache_read_input_tokens": 5,
    }


async def test_recorded_usage_only_in_message_delta_is_kept(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "recording", "name": "missing_usage_response"})
    tab = await sockets(owner)
    _, reply = await converse(tab)
    assert reply.usage == {
        "input_tokens": 11,
        "output_tokens": 1,
        "cache_creation_input_tokens": 3,
        "cache_read_input_tokens": 5,
    }


async def test_recorded_tool_use_is_saved_with_its_parsed_input(fake_api, sockets, owner):
    fake_api.enqueue({"kind": "recording", "name": "tool_use_response"})
    tab = await sockets(owner)
    frames, reply = await converse(tab)
    assert reply.stop_reason == "tool_use"
    assert reply.content[0] == {
        "type": "text",
        "text": "I'll check the current weather in Paris for you.",
    }
    assert reply.content[1]["type"] == "tool_use"
    assert reply.content[1]["input"] == {"location": "Paris"}
    assert reply.output_tokens == 65
    assert of_type(frames, "content_block_delta")[-1]["delta"]["type"] == "input_json_delta"


# --- access and bad input ---------------------------------------------------------------


async def test_anonymous_socket_is_refused(sockets):
    tab = await sockets(None, connect=False)
    connected, _ = await tab.connect()
    assert not connected


async def test_socket_from_a_foreign_origin_is_refused(sockets, owner):
    tab = await sockets(owner, origin=b"http://evil.example", connect=False)
    connected, _ = await tab.connect()
    assert not connected


async def test_another_users_conversation_is_unreachable(fake_api, sockets, owner, stranger):
    tab = await sockets(owner)
    frames, _ = await converse(tab, "My secret")
    conversation_id = frames[-1]["conversation_id"]

    intruder = await sockets(stranger)
    for frame in (
        user_message("Let me in", conversation_id),
        {"type": "open", "conversation_id": conversation_id},
        {"type": "stop", "conversation_id": conversation_id},
    ):
        await intruder.send_json_to(frame)
        answer = await intruder.receive_json_from()
        assert answer["type"] == "error" and answer["code"] == "not_found"
        assert "secret" not in str(answer)
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 2


async def test_another_users_live_reply_cannot_be_stopped_or_watched(
    fake_api, sockets, owner, stranger
):
    fake_api.enqueue({"kind": "reply", "tokens": 40, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Mine"))
    frames = await receive_until(tab, "content_block_delta")
    intruder = await sockets(stranger)
    await intruder.send_json_to({"type": "stop", "conversation_id": frames[0]["conversation_id"]})
    assert (await intruder.receive_json_from())["code"] == "not_found"
    frames = await receive_until(tab, "message_stop")
    assert frames[-1]["message"]["status"] == "complete"
    assert await intruder.receive_nothing(timeout=0.05)


BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    ('{"type": "dance"}', "unknown_type"),
    ("{}", "unknown_type"),
    ('{"type": "user_message", "conversation_id": null, "client_id": "%s"}', "empty_text"),
    ('{"type": "user_message", "text": "   ", "client_id": "%s"}', "empty_text"),
    ('{"type": "user_message", "text": 5, "client_id": "%s"}', "invalid_field"),
    ('{"type": "user_message", "text": "0123456789ABC", "client_id": "%s"}', "text_too_long"),
    (
        '{"type": "user_message", "conversation_id": "7", "text": "hi", "client_id": "%s"}',
        "invalid_field",
    ),
    (
        '{"type": "user_message", "conversation_id": true, "text": "hi", "client_id": "%s"}',
        "invalid_field",
    ),
    ('{"type": "user_message", "text": "hi", "client_id": "not-a-uuid"}', "invalid_field"),
    (
        '{"type": "user_message", "text": "hi", "client_id": "%s", "model": "gpt-4"}',
        "invalid_field",
    ),
    (
        '{"type": "user_message", "conversation_id": 999999, "text": "hi", "client_id": "%s"}',
        "not_found",
    ),
    (
        '{"type": "user_message", "text": "hi", "client_id": "%s", "effort": "extreme"}',
        "invalid_field",
    ),
    (  # longer than any level: refused as it is parsed, never a database error
        '{"type": "user_message", "text": "hi", "client_id": "%s", "effort": "ultra-maximum"}',
        "invalid_field",
    ),
    ('{"type": "user_message", "text": "hi", "client_id": "%s", "effort": 3}', "invalid_field"),
    ('{"type": "stop"}', "invalid_field"),
    ('{"type": "open", "conversation_id": -3}', "invalid_field"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(
    fake_api, sockets, owner, settings, raw, code
):
    import uuid

    settings.CHAT_MAX_MESSAGE_CHARS = 10
    tab = await sockets(owner)
    await tab.send_to(text_data=raw.replace("%s", str(uuid.uuid4())))
    error = await tab.receive_json_from()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    _, reply = await converse(tab, "Still here")
    assert reply.status == Message.Status.COMPLETE
    assert await Message.objects.acount() == 2


async def test_binary_frames_are_refused_politely(fake_api, sockets, owner):
    tab = await sockets(owner)
    await tab.send_to(bytes_data=b"\x00\x01")
    error = await tab.receive_json_from()
    assert error["type"] == "error" and error["code"] == "invalid_json"
    _, reply = await converse(tab)
    assert reply.status == Message.Status.COMPLETE


def test_interrupted_replies_are_marked_at_start_up(db, owner):
    from django.core.management import call_command

    conversation = Conversation.objects.create(owner=owner, model="m", max_tokens=10)
    stuck = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    done = Message.objects.create(conversation=conversation, role="assistant", status="complete")
    call_command("recover_replies")
    stuck.refresh_from_db()
    done.refresh_from_db()
    assert stuck.status == Message.Status.ERROR and stuck.error_code == "interrupted"
    assert done.status == Message.Status.COMPLETE
