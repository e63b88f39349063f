"""Two server processes behind one channel layer: a tab on one sees, stops and resyncs a
reply that streams in the other. Each "process" is a consumer class with a hub of its
own; the layer is the in-memory one here, and Redis where it runs (CI)."""

import asyncio
import contextlib
import os
import uuid

import pytest
import redis
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from chatapp.chat.consumers import ChatConsumer
from chatapp.chat.live import Hub
from chatapp.chat.middleware import SameOriginValidator, SessionUserMiddleware

from .helpers import joined_text, receive_until, saved, user_message
from .test_relay import shown_text

TEXT = "Every word of this reply reaches the other process, in order, without a hole."


class OtherProcessConsumer(ChatConsumer):
    hub = Hub()


other_process = SameOriginValidator(
    SessionUserMiddleware(URLRouter([path("ws/chat/", OtherProcessConsumer.as_asgi())]))
)


@pytest.fixture(params=["in-memory", pytest.param("redis", marks=pytest.mark.redis)])
def layer(request, settings):
    settings.CHAT_CROSS_PROCESS = True
    if request.param != "redis":
        yield request.param
        return
    # A prefix of its own: ids restart with each test database, groups in Redis do not.
    prefix = f"chat-test-{uuid.uuid4().hex}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["TEST_REDIS_URL"]], "prefix": prefix},
        }
    }
    yield request.param
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def remote_socket(sockets, owner):
    opened = []

    async def open_remote():
        local = await sockets(owner)  # the cookie, from a socket of the first process
        cookie = dict(local.scope["headers"])[b"cookie"]
        remote = WebsocketCommunicator(
            other_process,
            "/ws/chat/",
            headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)],
        )
        assert (await remote.connect())[0]
        opened.append(remote)
        return local, remote

    yield open_remote
    await OtherProcessConsumer.hub.wait_idle()
    for remote in opened:
        await remote.disconnect()


async def start_conversation(tab) -> int:
    await tab.send_json_to(user_message("Hello"))
    return (await receive_until(tab, "message_stop"))[-1]["conversation_id"]


async def test_a_tab_on_another_process_sees_the_live_stream(layer, fake_api, remote_socket):
    local, remote = await remote_socket()
    conversation_id = await start_conversation(local)
    await receive_until(remote, "conversation")  # its sidebar learnt of the conversation
    await remote.send_json_to({"type": "open", "conversation_id": conversation_id})

    fake_api.enqueue({"kind": "reply", "text": TEXT, "token_delay": 0.005})
    await local.send_json_to(user_message("Again", conversation_id))
    seen_here = await receive_until(local, "message_stop")
    seen_there = await receive_until(remote, "message_stop")

    # The open's resync request may meet the new reply already started, and its resync
    # may come before the user_message (they travel by different channels): either way,
    # the other tab shows both, whole.
    assert [f for f in seen_there if f["type"] == "user_message"]
    reply = await saved(seen_here[-1]["message_id"])
    assert joined_text(seen_here) == reply.text == TEXT
    assert shown_text(seen_there, reply.pk) == TEXT
    assert seen_there[-1]["message"] == seen_here[-1]["message"]


async def past_the_first_relayed_frames(tab) -> None:
    """Waits until the reply's first frames have surely gone to the other processes
    (batches of CHAT_RELAY_BATCH_MS): a tab that opens the conversation after that has
    missed them, and needs a resync. One opening sooner may get every frame from the
    first, and rightly no resync."""
    for _ in range(60):  # 0.3 s of the reply at 5 ms a token
        await receive_until(tab, "content_block_delta")


async def test_opening_mid_reply_on_another_process_resyncs(layer, fake_api, remote_socket):
    local, remote = await remote_socket()
    conversation_id = await start_conversation(local)
    fake_api.enqueue({"kind": "reply", "tokens": 400, "token_delay": 0.005})
    await local.send_json_to(user_message("Long", conversation_id))
    await past_the_first_relayed_frames(local)

    await remote.send_json_to({"type": "open", "conversation_id": conversation_id})
    frames = await receive_until(remote, "message_stop")
    reply_id = frames[-1]["message_id"]
    assert any(f["type"] == "resync" for f in frames)
    assert shown_text(frames, reply_id) == (await saved(reply_id)).text
    await receive_until(local, "message_stop")


async def test_a_reply_sent_right_after_the_last_one_is_still_reachable(
    layer, fake_api, remote_socket, monkeypatch
):
    """The next reply often starts while the last one's process still leaves the live
    group: that leave must not land after the new reply's join, or a tab opening on
    another process would never get its resync."""
    channel_layer = get_channel_layer()
    discard, discarded = channel_layer.group_discard, asyncio.Event()

    async def slow_discard(group, channel):
        await asyncio.sleep(0.2)
        await discard(group, channel)
        discarded.set()

    monkeypatch.setattr(channel_layer, "group_discard", slow_discard)
    local, remote = await remote_socket()
    conversation_id = await start_conversation(local)
    fake_api.enqueue({"kind": "reply", "tokens": 400, "token_delay": 0.005})
    await local.send_json_to(user_message("Right away", conversation_id))
    with contextlib.suppress(TimeoutError):  # no leave at all is right too
        await asyncio.wait_for(discarded.wait(), 1)
    await past_the_first_relayed_frames(local)

    await remote.send_json_to({"type": "open", "conversation_id": conversation_id})
    frames = await receive_until(remote, "message_stop")
    reply_id = frames[-1]["message_id"]
    assert any(f["type"] == "resync" for f in frames)
    assert shown_text(frames, reply_id) == (await saved(reply_id)).text
    await receive_until(local, "message_stop")


async def test_stop_from_another_process_stops_the_reply(layer, fake_api, remote_socket):
    local, remote = await remote_socket()
    conversation_id = await start_conversation(local)
    await remote.send_json_to({"type": "open", "conversation_id": conversation_id})
    fake_api.enqueue({"kind": "reply", "tokens": 2000, "token_delay": 0.01})
    await local.send_json_to(user_message("Endless", conversation_id))
    await receive_until(remote, "content_block_delta")

    await remote.send_json_to({"type": "stop", "conversation_id": conversation_id})
    frames = await receive_until(local, "message_stop")
    assert frames[-1]["message"]["status"] == "stopped"
    assert (await receive_until(remote, "message_stop"))[-1]["message"]["status"] == "stopped"


async def test_a_stranger_on_another_process_cannot_stop_it(
    layer, fake_api, remote_socket, sockets, stranger
):
    local, _ = await remote_socket()
    conversation_id = await start_conversation(local)
    intruder_cookie = dict((await sockets(stranger)).scope["headers"])[b"cookie"]
    intruder = WebsocketCommunicator(
        other_process,
        "/ws/chat/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", intruder_cookie)],
    )
    assert (await intruder.connect())[0]
    try:
        fake_api.enqueue({"kind": "reply", "tokens": 40, "token_delay": 0.01})
        await local.send_json_to(user_message("Mine", conversation_id))
        await receive_until(local, "content_block_delta")
        await intruder.send_json_to({"type": "stop", "conversation_id": conversation_id})
        assert (await intruder.receive_json_from())["code"] == "not_found"
        frames = await receive_until(local, "message_stop")
        assert frames[-1]["message"]["status"] == "complete"
    finally:
        await intruder.disconnect()
