"""Frames and forms sent to do harm: each gets its documented error, the socket keeps
answering, and nothing is stored."""

import asyncio
import json
import logging

from django.urls import reverse

from chatapp.chat import consumers, protocol
from chatapp.chat.models import Conversation, Message

from .helpers import receive_until, user_message

LONE_SURROGATE = (
    '{"type":"user_message","conversation_id":null,"text":"hello","client_id":"\\ud800"}'
)


async def answered_after(tab, raw: str) -> dict:
    """Sends a raw frame; returns its error, after checking that the socket still answers
    a valid frame."""
    await tab.send_to(text_data=raw)
    error = await tab.receive_json_from(timeout=5)
    await tab.send_json_to({"type": "open", "conversation_id": 999999})
    assert (await tab.receive_json_from(timeout=5))["code"] == "not_found"
    return error


async def test_a_lone_surrogate_in_client_id_is_refused_and_the_socket_goes_on(sockets, owner):
    tab = await sockets(owner)
    error = await answered_after(tab, LONE_SURROGATE)
    assert error["type"] == "error" and error["code"] == "invalid_unicode"
    assert "client_id" not in error


async def test_a_lone_surrogate_in_text_or_system_is_refused(sockets, owner):
    tab = await sockets(owner)
    for field in ("text", "system"):
        frame = json.dumps(user_message(**{field: "a \\ud83d b"} if field == "text" else {}))
        if field == "system":
            frame = frame[:-1] + ', "system": "x \\udfff"}'
        else:
            frame = frame.replace("a \\\\ud83d b", "a \\ud83d b")
        error = await answered_after(tab, frame)
        assert error["code"] == "invalid_unicode", field
    assert not await Message.objects.aexists()


async def test_a_pair_of_surrogates_is_one_character_and_accepted(fake_api, sockets, owner):
    tab = await sockets(owner)
    frame = json.dumps(user_message("smile "))[:-1]
    await tab.send_to(text_data=frame.replace('"smile "', '"smile \\ud83d\\ude00"') + "}")
    frames = await receive_until(tab, "message_stop")
    assert frames[0]["type"] in ("conversation", "user_message")
    assert (await Message.objects.filter(role="user").afirst()).text == "smile \U0001f600"


async def test_json_nested_a_thousand_deep_is_invalid_json_without_a_traceback(
    sockets, owner, caplog
):
    tab = await sockets(owner)
    with caplog.at_level(logging.ERROR):
        error = await answered_after(tab, "[" * 1000 + "]" * 1000)
        deep_object = '{"type":"user_message","x":' + "[" * 5000 + "]" * 5000 + "}"
        assert (await answered_after(tab, deep_object))["code"] == "invalid_json"
    assert error["code"] == "invalid_json"
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_system_prompt_over_the_limit_is_refused(sockets, owner, settings):
    settings.CHAT_MAX_SYSTEM_CHARS = 1000
    tab = await sockets(owner)
    error = await answered_after(tab, json.dumps(user_message(system="x" * 1001)))
    assert error["code"] == "system_too_long" and "1,000" in error["message"]
    assert not await Conversation.objects.aexists()


def test_the_settings_form_refuses_a_system_prompt_over_the_limit(client, owner, settings):
    settings.CHAT_MAX_SYSTEM_CHARS = 1000
    conversation = Conversation.objects.create(
        owner=owner, model="claude-sonnet-5", max_tokens=1024
    )
    client.force_login(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    response = client.post(url, {"system_prompt": "x" * 1001})
    assert response.status_code == 400
    assert "system_prompt" in response.json()["errors"]
    conversation.refresh_from_db()
    assert conversation.system_prompt == ""


async def test_a_frame_that_cannot_be_sent_closes_the_socket_with_its_code(
    sockets, owner, monkeypatch
):
    async def failing_send(self, text):
        raise RuntimeError("the transport refused the frame")

    monkeypatch.setattr(consumers.ChatConsumer, "_send_text", failing_send)
    tab = await sockets(owner)
    await tab.send_json_to({"type": "open", "conversation_id": 999999})
    closed = await tab.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": protocol.CLOSE_SEND_FAILED}


async def test_a_flood_of_frames_is_cut_off_with_its_code(sockets, owner, settings):
    settings.CHAT_SOCKET_FRAME_BURST = 10
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 5
    tab = await sockets(owner)
    for _ in range(50):
        await tab.send_json_to({"type": "open", "conversation_id": 999999})
    answers = []
    while True:
        output = await tab.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
        answers.append(json.loads(output["text"]))
    assert output["code"] == protocol.CLOSE_TOO_MANY_FRAMES
    assert [a["code"] for a in answers].count("not_found") == 10
    assert answers[-1]["code"] == "too_many_frames"


async def test_a_tab_within_the_limit_is_never_cut_off(sockets, owner, settings):
    settings.CHAT_SOCKET_FRAME_BURST = 10
    settings.CHAT_SOCKET_FRAMES_PER_SECOND = 50
    tab = await sockets(owner)
    for _ in range(30):
        await tab.send_json_to({"type": "open", "conversation_id": 999999})
        assert (await tab.receive_json_from(timeout=5))["code"] == "not_found"
        await asyncio.sleep(0.03)
