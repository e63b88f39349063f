"""`python -m chatapp.bootstrap serve`: several server processes on one port, and a stop
by SIGTERM that leaves nothing behind."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import need
from tests.live import free_port, port_open

ROOT = Path(__file__).resolve().parents[1]


def ours(marker: str) -> list[tuple[int, str]]:
    """Processes started with the marker in their environment: (pid, command line)."""
    need(Path("/proc").exists(), "/proc (Linux), to find the processes serve started")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if (entry / "stat").read_text().split()[2] != "Z":  # zombies are gone already
            found.append((int(entry.name), cmdline))
    return found


def wait_for(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(*args, **env):
        marker = f"CHAT_SERVE_TEST={uuid.uuid4().hex}"
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "REDIS_URL")
        }
        environment.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            CHAT_SERVE_TEST=marker.split("=")[1],
            **env,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "chatapp.bootstrap", "serve", *args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append((process, marker))
        return process, marker

    yield start
    for process, marker in started:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid, _ in ours(marker):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_servers_the_fake_api_and_the_batch_worker(serve):
    port = free_port()
    process, marker = serve("--port", str(port))
    wait_for(lambda: port_open(port) or process.poll() is not None)
    assert process.poll() is None, process.stdout.read()
    children = ours(marker)
    commands = " ".join(cmd for _, cmd in children)
    assert "chatapp.server" in commands and "chatapp.fake_anthropic" in commands
    assert "batch_worker" in commands

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    output = process.stdout.read()
    fake_port = int(re.search(r"fake Anthropic API on port (\d+)", output)[1])
    assert "Synced the models: " in output  # from the fake, in demo mode
    wait_for(lambda: not ours(marker), timeout=30)
    assert not port_open(port) and not port_open(fake_port)


@pytest.mark.redis
def test_several_workers_share_the_port_and_one_that_dies_is_replaced(serve):
    redis_url = os.environ["TEST_REDIS_URL"]  # the redis marker: required in CI
    port = free_port()
    process, marker = serve("--port", str(port), "--workers", "2", REDIS_URL=redis_url)
    wait_for(lambda: port_open(port) or process.poll() is not None)

    def servers():
        return [pid for pid, cmd in ours(marker) if "chatapp.server" in cmd]

    wait_for(lambda: len(servers()) == 2)
    first, second = servers()
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(servers()) == 2 and first not in servers())
    assert second in servers() and port_open(port)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    wait_for(lambda: not ours(marker), timeout=30)


def test_more_than_one_worker_without_redis_is_refused_with_a_reason(serve):
    process, _ = serve("--workers", "3")
    assert process.wait(timeout=60) != 0
    assert "--workers 3 needs REDIS_URL" in process.stdout.read()


def test_a_port_already_taken_is_refused_with_a_reason(serve):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process, _ = serve("--port", str(port), CHAT_DEMO_USERS="false", BATCH_WORKER="false")
        assert process.wait(timeout=120) != 0
    assert f"cannot listen on 127.0.0.1:{port}" in process.stdout.read()
