"""The app's daphne (chatapp/server.py): an oversized frame closes the socket with 1009;
CHAT_UVLOOP=true runs it on uvloop."""

import importlib.util
from pathlib import Path

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from tests.conftest import need, session_cookie
from tests.live import start_server, stop_server


@pytest.fixture
def server(transactional_db):
    process, port = start_server({}, "--websocket-max-message-size", "65536")
    yield port
    stop_server(process)


async def test_a_frame_over_the_limit_is_closed_with_1009_not_dropped(server, owner):
    cookie = await sync_to_async(session_cookie)(owner)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{server}/ws/chat/",
            headers={"Origin": f"http://127.0.0.1:{server}", "Cookie": f"sessionid={cookie}"},
        ) as ws:
            await ws.send_json({"type": "open", "conversation_id": 999999})
            assert (await ws.receive_json(timeout=10))["code"] == "not_found"
            await ws.send_str('{"type": "user_message", "text": "' + "x" * 70_000 + '"}')
            message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert message.data == 1009


@pytest.fixture
def uvloop_server(transactional_db):
    need(importlib.util.find_spec("uvloop") is not None, "uvloop (the test extra)")
    process, port = start_server({"CHAT_UVLOOP": "true"})
    yield port, Path(f"/proc/{process.pid}/maps").read_text()
    stop_server(process)


async def test_with_chat_uvloop_the_server_runs_on_uvloop_and_answers(uvloop_server, owner):
    port, maps = uvloop_server
    assert "uvloop/loop." in maps  # the reactor's loop is uvloop's, not asyncio's
    cookie = await sync_to_async(session_cookie)(owner)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{port}/ws/chat/",
            headers={"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"},
        ) as ws:
            await ws.send_json({"type": "open", "conversation_id": 999999})
            assert (await ws.receive_json(timeout=10))["code"] == "not_found"
