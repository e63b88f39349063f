"""The app's daphne (chatapp/server.py): an oversized frame closes the socket with 1009;
CHAT_UVLOOP=true runs it on uvloop."""

import contextlib
import importlib.util
from pathlib import Path

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from tests.conftest import need, session_cookie
from tests.live import start_server, stop_server


@contextlib.asynccontextmanager
async def answering_socket(port: int, user):
    """A logged-in socket to the server on `port`, once it has answered a first frame."""
    cookie = await sync_to_async(session_cookie)(user)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"ws://127.0.0.1:{port}/ws/chat/",
            headers={"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"},
        ) as ws:
            await ws.send_json({"type": "open", "conversation_id": 999999})
            assert (await ws.receive_json(timeout=10))["code"] == "not_found"
            yield ws


@pytest.fixture
def server(transactional_db):
    process, port = start_server({}, "--websocket-max-message-size", "65536")
    yield port
    stop_server(process)


async def test_a_frame_over_the_limit_is_closed_with_1009_not_dropped(server, owner):
    async with answering_socket(server, owner) as ws:
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
    async with answering_socket(port, owner) as ws:
        assert not ws.closed  # it answered, and stays open
