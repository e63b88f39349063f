"""The relay under pressure: a tab that cannot keep up is made whole, never left with a
hole in the text."""

import asyncio

from channels.testing import WebsocketCommunicator

from chatapp.asgi import application
from chatapp.chat.live import hub

from .helpers import receive_until, saved, user_message


def slow_client(app, delay: float):
    """The app behind a socket whose every outgoing frame takes `delay` seconds, as a
    client on a bad network would make a server that waits for its socket to drain."""

    async def wrapped(scope, receive, send):
        async def slow_send(message):
            if message["type"] == "websocket.send":
                await asyncio.sleep(delay)
            await send(message)

        return await app(scope, receive, slow_send)

    return wrapped


def shown_text(frames: list[dict], message_id: int) -> str:
    """What a browser shows of a reply after applying these frames in order."""
    blocks: dict[int, str] = {}
    last_seq = 0
    for frame in frames:
        if frame.get("message_id") != message_id:
            continue
        seq = frame.get("seq")
        if frame["type"] == "resync":
            blocks = {i: b.get("text", "") for i, b in enumerate(frame["message"]["content"])}
            last_seq = seq if seq is not None else last_seq
            continue
        if seq is not None:
            assert seq > last_seq, "a frame came out of order"
            last_seq = seq
        if frame["type"] == "content_block_delta" and frame["delta"]["type"] == "text_delta":
            blocks[frame["index"]] = blocks.get(frame["index"], "") + frame["delta"]["text"]
    return "".join(blocks[i] for i in sorted(blocks))


async def reply_seen_by_a_slow_tab(fake_api, sockets, owner, *, delay, scenario):
    """One reply as a tab whose every frame takes `delay` seconds to send sees it: the
    frames it got, and the saved reply."""
    fast = await sockets(owner)
    await fast.send_json_to(user_message("Warm up"))
    await receive_until(fast, "message_stop")
    fake_api.enqueue(scenario)

    cookie = dict(fast.scope["headers"])[b"cookie"]
    slow = WebsocketCommunicator(
        slow_client(application, delay),
        "/ws/chat/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)],
    )
    assert (await slow.connect())[0]
    try:
        await slow.send_json_to(user_message("Tell me a long story"))
        frames = await receive_until(slow, "message_stop", wait=30)
    finally:
        await hub.wait_idle()
        await slow.disconnect()
    return frames, await saved(frames[-1]["message_id"])


async def test_a_slow_tab_gets_a_resync_and_ends_with_exactly_the_saved_text(
    fake_api, sockets, owner, settings
):
    settings.CHAT_CLIENT_BUFFER_FRAMES = 8
    frames, reply = await reply_seen_by_a_slow_tab(
        fake_api,
        sockets,
        owner,
        delay=0.02,
        scenario={"kind": "reply", "tokens": 300, "token_delay": 0.001},
    )
    assert len(reply.text.split()) == 300
    assert any(f["type"] == "resync" for f in frames), "the slow tab was never resynced"
    assert shown_text(frames, reply.pk) == reply.text


async def test_deltas_queued_for_a_busy_tab_are_joined_not_dropped(
    fake_api, sockets, owner, settings
):
    settings.CHAT_CLIENT_BUFFER_FRAMES = 10_000
    frames, reply = await reply_seen_by_a_slow_tab(
        fake_api,
        sockets,
        owner,
        delay=0.005,
        scenario={"kind": "reply", "tokens": 200, "token_delay": 0.0005},
    )
    deltas = [f for f in frames if f["type"] == "content_block_delta"]
    assert not any(f["type"] == "resync" for f in frames)
    assert len(deltas) < 200  # several tokens per frame
    assert shown_text(frames, reply.pk) == reply.text
