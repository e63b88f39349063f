"""The app's daphne (chatapp/server.py): an oversized frame closes the socket with 1009."""

import os
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from asgiref.sync import sync_to_async

from tests.conftest import session_cookie
from tests.e2e.test_browser import ROOT, database_url, free_port, wait_for_its_sessions_to_end


@pytest.fixture
def server(transactional_db):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatapp.server",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--websocket-max-message-size",
            "65536",
            "chatapp.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the server did not start: {process.stderr.read().decode()[-2000:]}"
            )
        time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=10)
    wait_for_its_sessions_to_end()


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
