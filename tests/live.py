"""The app in a process of its own, for the tests that need a real server (a browser, a
kill -9, a frame too big): started on a free port against the test database, and waited
for; and the wait for a dead process's database sessions to end."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_server(env: dict, *options: str) -> tuple[subprocess.Popen, int]:
    """`python -m chatapp.server` (the app's daphne) on a free loopback port, with the
    test database and `env` on top of this process's environment; returns once it
    listens."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chatapp.server",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *options,
            "chatapp.asgi:application",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not port_open(port):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the server did not start: {server.stderr.read().decode()}")
        time.sleep(0.1)
    return server, port


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
    server.wait(timeout=10)
    wait_for_its_sessions_to_end()


def wait_for_its_sessions_to_end() -> None:
    """PostgreSQL ends a dead client's session a moment after it exits; the test database
    can only be flushed or dropped once it has."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
