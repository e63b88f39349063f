"""Crash-safe replies: a streaming reply's text and usage are checkpointed, a server
killed mid-reply loses neither, and a reply is recovered only once its process is gone
(its lease ran out), by a restart or by any live process."""

import asyncio
import datetime as dt
import signal
import time
import uuid

import aiohttp
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from chatapp.chat.models import Conversation, Message
from chatapp.usage.models import UsageRecord
from tests.conftest import session_cookie
from tests.live import start_server, stop_server

from .helpers import receive_until, user_message


async def streaming_row(message_id: int, *, until) -> Message:
    """The reply's row, once `until(row)` holds (checkpoints are written in the
    background)."""
    deadline = time.monotonic() + 10
    while True:
        row = await Message.objects.aget(pk=message_id)
        if until(row) or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.05)


async def test_a_streaming_reply_is_checkpointed_and_its_end_is_saved_whole(
    fake_api, sockets, owner, settings
):
    settings.CHAT_CHECKPOINT_SECONDS = 0.05
    fake_api.enqueue({"kind": "reply", "tokens": 150, "token_delay": 0.01})
    tab = await sockets(owner)
    await tab.send_json_to(user_message("Long"))
    frames = [await receive_until(tab, "content_block_delta") for _ in range(40)]
    message_id = frames[-1][-1]["message_id"]

    row = await streaming_row(message_id, until=lambda r: r.output_tokens >= 20)
    assert row.status == Message.Status.STREAMING
    assert row.text and row.input_tokens > 0 and row.output_tokens >= 20
    assert row.lease_until > timezone.now()

    stop = (await receive_until(tab, "message_stop"))[-1]["message"]
    final = await Message.objects.aget(pk=message_id)
    assert final.status == Message.Status.COMPLETE and final.text == "".join(
        b["text"] for b in stop["content"] if b["type"] == "text"
    )
    assert final.output_tokens == stop["usage"]["output_tokens"]


async def test_replies_streaming_together_are_each_checkpointed(
    fake_api, sockets, owner, stranger, settings
):
    """Checkpoints that fall due together are written together (one batch), and each
    reply still gets its own text and usage."""
    settings.CHAT_CHECKPOINT_SECONDS = 0.05
    for _ in range(3):
        fake_api.enqueue({"kind": "reply", "tokens": 150, "token_delay": 0.01})
    tabs = [await sockets(owner), await sockets(owner), await sockets(stranger)]
    for tab in tabs:
        await tab.send_json_to(user_message("Long"))
    ids = []
    for tab in tabs:
        frames = [await receive_until(tab, "content_block_delta") for _ in range(30)]
        ids.append(frames[-1][-1]["message_id"])
    assert len(set(ids)) == 3
    rows = [await streaming_row(i, until=lambda r: r.output_tokens >= 20) for i in ids]
    for row in rows:
        assert row.status == Message.Status.STREAMING
        assert row.text and row.output_tokens >= 20 and row.lease_until > timezone.now()
    for tab in tabs:
        await receive_until(tab, "message_stop")


@pytest.mark.django_db(transaction=True)
async def test_a_checkpoint_leaves_an_ended_reply_as_it_was_saved(owner):
    from chatapp.chat.services import replies_checkpoint

    now = timezone.now()
    streaming = await make_streaming(owner, lease_until=now)
    ended = await make_streaming(owner, lease_until=now)
    await Message.objects.filter(pk=ended.pk).aupdate(status=Message.Status.COMPLETE)
    usage = {
        "input_tokens": 12,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 5,
    }
    await sync_to_async(replies_checkpoint)(
        checkpoints=[
            {
                "reply_id": reply.pk,
                "content": [{"type": "text", "text": "A longer answer so far"}],
                "usage": usage,
                "server_tool_use": {"web_search_requests": 1},
            }
            for reply in (streaming, ended)
        ]
    )
    saved = await Message.objects.aget(pk=streaming.pk)
    assert saved.text == saved.search_text == "A longer answer so far"
    assert saved.output_tokens == 30 and saved.cache_read_input_tokens == 5
    assert saved.server_tool_use == {"web_search_requests": 1}
    assert saved.lease_until > now
    left = await Message.objects.aget(pk=ended.pk)
    assert left.status == Message.Status.COMPLETE and left.text == "Half an ans"
    assert left.output_tokens == 4 and left.lease_until == now


@pytest.fixture
def server_process(transactional_db, fake_api):
    """A real server process, which a test may kill."""
    server, port = start_server(
        {
            "ANTHROPIC_BASE_URL": fake_api.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_MAX_RETRIES": "0",
            "CHAT_TITLES": "false",
            "CHAT_CHECKPOINT_SECONDS": "0.2",
            "CHAT_REPLY_LEASE_SECONDS": "1",
        }
    )
    yield server, port
    if server.poll() is None:
        server.kill()
    stop_server(server)


async def test_a_server_killed_mid_reply_keeps_its_text_and_its_cost(
    server_process, fake_api, owner
):
    server, port = server_process
    fake_api.enqueue({"kind": "reply", "tokens": 400, "token_delay": 0.02})
    cookie = await sync_to_async(session_cookie)(owner)
    deltas = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{port}/ws/chat/",
            headers={"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"},
        ) as ws:
            await ws.send_json(user_message("Tell me everything"))
            while len(deltas) < 60:
                frame = await ws.receive_json(timeout=10)
                if frame["type"] == "content_block_delta":
                    deltas.append(frame)
            message_id = deltas[-1]["message_id"]
            await streaming_row(message_id, until=lambda r: r.output_tokens >= 40)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)

    shown = "".join(d["delta"]["text"] for d in deltas)
    kept = await Message.objects.aget(pk=message_id)
    assert kept.status == Message.Status.STREAMING  # nobody has recovered it yet
    assert shown.startswith(kept.text[: len(shown)]) or kept.text.startswith(shown[:10])
    assert len(kept.text) >= len(shown) // 2

    await asyncio.sleep(1.2)  # the dead process's lease runs out
    await sync_to_async(call_command)("recover_replies")
    recovered = await Message.objects.aget(pk=message_id)
    assert recovered.status == Message.Status.ERROR and recovered.error_code == "interrupted"
    assert recovered.text == kept.text and recovered.output_tokens == kept.output_tokens
    record = await UsageRecord.objects.aget(message_id=message_id)
    assert record.status == UsageRecord.Status.INTERRUPTED
    assert record.input_tokens == kept.input_tokens and record.output_tokens >= 40
    assert record.cost > 0


async def make_streaming(owner, *, lease_until) -> Message:
    conversation = await Conversation.objects.acreate(
        owner=owner, model="claude-sonnet-5", max_tokens=100
    )
    question = await Message.objects.acreate(
        conversation=conversation, role="user", content=[{"type": "text", "text": "Hi"}]
    )
    return await Message.objects.acreate(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="streaming",
        content=[{"type": "text", "text": "Half an ans"}],
        output_tokens=4,
        lease_until=lease_until,
        client_id=uuid.uuid4(),
    )


@pytest.mark.django_db(transaction=True)
async def test_recovery_leaves_alone_a_reply_whose_process_is_alive(owner):
    now = timezone.now()
    alive = await make_streaming(owner, lease_until=now + dt.timedelta(seconds=30))
    dead = await make_streaming(owner, lease_until=now - dt.timedelta(seconds=1))
    await sync_to_async(call_command)("recover_replies")
    assert (await Message.objects.aget(pk=alive.pk)).status == Message.Status.STREAMING
    dead = await Message.objects.aget(pk=dead.pk)
    assert dead.status == Message.Status.ERROR and dead.text == "Half an ans"


async def test_a_live_process_recovers_a_dead_ones_reply_and_tells_the_tabs(
    sockets, owner, settings
):
    settings.CHAT_REPLY_LEASE_SECONDS = 0.3
    lost = await make_streaming(owner, lease_until=timezone.now() - dt.timedelta(seconds=1))
    tab = await sockets(owner)
    await tab.send_json_to({"type": "open", "conversation_id": lost.conversation_id})
    frame = (await receive_until(tab, "resync", wait=5))[-1]
    assert frame["message_id"] == lost.pk and frame["seq"] is None
    assert frame["message"]["status"] == "error"
    assert frame["message"]["error"]["code"] == "interrupted"
    assert frame["message"]["content"] == [{"type": "text", "text": "Half an ans"}]
