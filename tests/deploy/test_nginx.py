"""The production topology of docs/deployment.md, for real: Debian's nginx, run on the
documented site file (docs/deploy/nginx-chat.conf, its ports, paths and certificate
replaced), over HTTPS in front of two server processes (`python -m chatapp.server`) that
share Redis and the database, with the documented production environment.

Besides the documented port, which spreads connections over both processes, the test's
nginx listens on one port per process (a `map` of the port to an upstream of that process
alone), so that a tab can be placed on the process it needs; every tab goes through nginx.
"""

import asyncio
import datetime as dt
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis
from asgiref.sync import SyncToAsync, sync_to_async
from django.db import connections

from chatapp.chat.models import Message
from tests.chat.helpers import user_message
from tests.conftest import need, session_cookie
from tests.live import ROOT, database_url, free_port, wait_for_its_sessions_to_end

SITE = ROOT / "docs" / "deploy" / "nginx-chat.conf"
NGINX = shutil.which("nginx", path=os.pathsep.join(["/usr/sbin", "/sbin", os.environ["PATH"]]))
START_TIMEOUT = 60  # seconds: a loaded two-core machine starts daphne slowly
FRAME_TIMEOUT = 30

pytestmark = pytest.mark.redis

# The documented production environment (docs/deployment.md), on loopback.
PRODUCTION = {
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
    "DJANGO_SECURE_COOKIES": "true",
    "DJANGO_PROXY_COUNT": "1",
    "DJANGO_SERVE_STATIC": "false",
    "BATCH_WORKER": "false",
}


@dataclass
class Deployment:
    https: int  # the documented HTTPS server: connections spread over both processes
    http: int  # the documented plain-HTTP server (a redirect)
    via_a: int  # the same HTTPS server, to process A only
    via_b: int  # ... and to process B only
    workers: dict  # "a"/"b" -> (port, access log)
    static_root: Path

    def url(self, port: int, path: str, scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{port}{path}"


def replace(text: str, old: str, new: str) -> str:
    """A documented line the test relies on; if the site file changes, the test follows."""
    assert old in text, f"{SITE.name} no longer has {old!r}: update tests/deploy/test_nginx.py"
    return text.replace(old, new)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert, private = folder / "cert.pem", folder / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, private


def nginx_config(folder: Path, deployment: Deployment, cert: Path, key: Path) -> str:
    (a, _), (b, _) = deployment.workers["a"], deployment.workers["b"]
    site = SITE.read_text()
    site = replace(
        site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{a};\n    server 127.0.0.1:{b};"
    )
    site = replace(site, "listen [::]:80;\n", "")
    site = replace(site, "listen [::]:443 ssl;\n", "")
    site = replace(site, "listen 80;", f"listen 127.0.0.1:{deployment.http};")
    site = replace(
        site,
        "listen 443 ssl;",
        f"listen 127.0.0.1:{deployment.https} ssl;\n"
        f"    listen 127.0.0.1:{deployment.via_a} ssl;\n"
        f"    listen 127.0.0.1:{deployment.via_b} ssl;",
    )
    site = replace(site, "proxy_pass http://chat_app;", "proxy_pass http://$chat_upstream;")
    site = replace(site, "/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert))
    site = replace(site, "/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key))
    site = replace(site, "alias /srv/chat/staticfiles/;", f"alias {deployment.static_root}/;")
    # As root (CI), the worker processes would switch to `nobody`, who cannot read tmp_path.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in kinds)
    return f"""{user}
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} notice;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder / "access.log"};
{temp}

    # The test's own: each port of its own to one process, the documented port to both.
    upstream chat_worker_a {{ server 127.0.0.1:{a}; }}
    upstream chat_worker_b {{ server 127.0.0.1:{b}; }}
    map $server_port $chat_upstream {{
        {deployment.via_a} chat_worker_a;
        {deployment.via_b} chat_worker_b;
        default chat_app;
    }}

{site}
}}
"""


def wait_for_port(port: int, process: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """The release step: `manage.py collectstatic` into the folder nginx serves."""
    root = tmp_path_factory.mktemp("static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **PRODUCTION, "DJANGO_STATIC_ROOT": str(root)},
        check=True,
        timeout=120,
    )
    return root


@pytest.fixture
def nginx_installed():
    need(NGINX is not None, "nginx (Debian's package)")


@pytest.fixture
def deployment(nginx_installed, transactional_db, fake_api, static_root, tmp_path):
    redis_url = os.environ["TEST_REDIS_URL"]
    prefix = f"chat-nginx-test-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        **PRODUCTION,
        "DJANGO_SETTINGS_MODULE": "tests.deploy.worker_settings",
        "CHAT_TEST_CHANNEL_PREFIX": prefix,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url(),
        "DJANGO_STATIC_ROOT": str(static_root),
        "ANTHROPIC_BASE_URL": fake_api.base_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_MAX_RETRIES": "0",
        "CHAT_TITLES": "false",  # a title call would take the scenarios queued for replies
    }
    deployment = Deployment(
        https=free_port(),
        http=free_port(),
        via_a=free_port(),
        via_b=free_port(),
        workers={name: (free_port(), tmp_path / f"access-{name}.log") for name in "ab"},
        static_root=static_root,
    )
    started = []
    try:
        for name, (port, access_log) in deployment.workers.items():
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "chatapp.server",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "--access-log",
                    str(access_log),
                    "chatapp.asgi:application",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"worker-{name}.log").open("w"),
            )
            started.append(worker)
        for worker, (name, (port, _)) in zip(started, deployment.workers.items(), strict=True):
            wait_for_port(port, worker, tmp_path / f"worker-{name}.log", f"server process {name}")

        folder = tmp_path / "nginx"
        folder.mkdir()
        cert, key = self_signed_certificate(folder)
        (folder / "nginx.conf").write_text(nginx_config(folder, deployment, cert, key))
        nginx = subprocess.Popen(
            [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", "stderr"],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "stderr.log").open("w"),
        )
        started.append(nginx)
        for port in (deployment.https, deployment.http, deployment.via_a, deployment.via_b):
            wait_for_port(port, nginx, folder / "stderr.log", "nginx")
        yield deployment
    finally:
        for process in reversed(started):
            stop(process, signal.SIGQUIT if process.args[0] == NGINX else signal.SIGTERM)
        # The test's own async ORM calls ran on asgiref's thread, which keeps its
        # connection: closed, so that only the server processes' sessions are waited for.
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
        wait_for_its_sessions_to_end()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def insecure_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    return context


async def open_tab(http: aiohttp.ClientSession, deployment: Deployment, port: int, cookie: str):
    return await http.ws_connect(
        f"wss://127.0.0.1:{port}/ws/chat/",
        headers={"Origin": f"https://127.0.0.1:{port}", "Cookie": f"sessionid={cookie}"},
        ssl=insecure_tls(),
    )


async def receive_until(tab, frame_type: str, *, seen: list | None = None) -> list[dict]:
    """Frames up to and including the first of `frame_type`, each with its arrival time."""
    frames = []
    while True:
        frame = await tab.receive_json(timeout=FRAME_TIMEOUT)
        frame["_at"] = time.monotonic()
        frames.append(frame)
        if seen is not None:
            seen.append(frame)
        if frame["type"] == frame_type:
            return frames


async def streams_under_way(fake_api) -> int:
    return await asyncio.to_thread(lambda: fake_api.active_streams)


def websocket_connections(access_log: Path) -> int:
    return len(re.findall(r"WSCONNECT /ws/chat/", access_log.read_text()))


async def test_deltas_come_through_nginx_while_the_reply_is_still_being_written(
    deployment, fake_api, owner
):
    fake_api.enqueue({"kind": "reply", "tokens": 300, "token_delay": 0.02})
    cookie = await sync_to_async(session_cookie)(owner)
    async with aiohttp.ClientSession() as http:
        tab = await open_tab(http, deployment, deployment.https, cookie)
        sent_at = time.monotonic()
        await tab.send_json(user_message("Write at length"))
        first = (await receive_until(tab, "content_block_delta"))[-1]
        # The API is still sending the reply: nginx held nothing back until its end.
        assert await streams_under_way(fake_api) == 1
        frames = await receive_until(tab, "message_stop")
        await tab.close()

    stop = frames[-1]
    deltas = [first] + [f for f in frames if f["type"] == "content_block_delta"]
    assert stop["message"]["status"] == "complete"
    assert first["_at"] < deltas[-1]["_at"] <= stop["_at"]
    assert len(deltas) > 10, "the reply came in a few lumps, not as it was written"
    reply = await Message.objects.aget(pk=stop["message_id"])
    assert "".join(d["delta"]["text"] for d in deltas) == reply.text
    print(
        f"\nthrough nginx: first delta {1000 * (first['_at'] - sent_at):.0f} ms after the "
        f"send, message_stop {1000 * (stop['_at'] - sent_at):.0f} ms, {len(deltas)} delta frames"
    )


async def test_a_tab_on_one_process_sees_and_stops_a_reply_running_on_the_other(
    deployment, fake_api, owner
):
    cookie = await sync_to_async(session_cookie)(owner)
    async with aiohttp.ClientSession() as http:
        tab_a = await open_tab(http, deployment, deployment.via_a, cookie)
        tab_b = await open_tab(http, deployment, deployment.via_b, cookie)
        # Each tab reached the process of its port, through nginx.
        for name in "ab":
            assert websocket_connections(deployment.workers[name][1]) == 1

        await tab_b.send_json(user_message("Hello"))
        conversation_id = (await receive_until(tab_b, "message_stop"))[-1]["conversation_id"]
        await receive_until(tab_a, "conversation")  # its sidebar learnt of it, from B
        await tab_a.send_json({"type": "open", "conversation_id": conversation_id})

        fake_api.enqueue({"kind": "reply", "tokens": 3000, "token_delay": 0.01})
        sent_at = time.monotonic()
        await tab_b.send_json(user_message("Go on and on", conversation_id))
        seen_on_a = []
        await receive_until(tab_a, "content_block_delta", seen=seen_on_a)
        await receive_until(tab_a, "content_block_delta", seen=seen_on_a)
        # Live on A while B still runs it.
        assert await streams_under_way(fake_api) == 1

        stop_at = time.monotonic()
        await tab_a.send_json({"type": "stop", "conversation_id": conversation_id})
        on_b = (await receive_until(tab_b, "message_stop"))[-1]
        on_a = (await receive_until(tab_a, "message_stop", seen=seen_on_a))[-1]
        await tab_a.close()
        await tab_b.close()

    assert on_b["message"]["status"] == on_a["message"]["status"] == "stopped"
    assert on_a["message_id"] == on_b["message_id"]
    reply = await Message.objects.aget(pk=on_b["message_id"])
    assert reply.status == Message.Status.STOPPED
    assert reply.output_tokens < 3000
    first_on_a = next(f for f in seen_on_a if f["type"] == "content_block_delta")
    print(
        f"\nB's reply on A: first delta {1000 * (first_on_a['_at'] - sent_at):.0f} ms after "
        f"the send; A's stop ended it on B in {1000 * (on_b['_at'] - stop_at):.0f} ms"
    )


async def test_static_files_come_from_nginx_and_pages_from_the_app_over_https(deployment, owner):
    tls = insecure_tls()
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        for path in ("/static/chat/chat.css", "/static/chat/protocol.js"):
            async with http.get(deployment.url(deployment.https, path), ssl=tls) as response:
                assert response.status == 200
                assert response.headers["Server"] == "nginx"
                assert response.headers["Cache-Control"] == "no-cache"
                body = await response.read()
                content_type = response.headers["Content-Type"]
            assert body == (ROOT / "static" / path.removeprefix("/static/")).read_bytes()
            assert content_type.startswith(
                "text/css" if path.endswith("css") else "application/javascript"
            )
        # The admin's files were collected too.
        admin_css = deployment.url(deployment.https, "/static/admin/css/base.css")
        async with http.get(admin_css, ssl=tls) as response:
            assert response.status == 200
        # The server processes themselves do not serve them.
        for port, _ in deployment.workers.values():
            async with http.get(
                f"http://127.0.0.1:{port}/static/chat/chat.css",
                headers={"X-Forwarded-Proto": "https"},
            ) as response:
                assert response.status == 404

        # Plain HTTP is sent to HTTPS by nginx.
        plain = deployment.url(deployment.http, "/accounts/login/", scheme="http")
        async with http.get(plain, allow_redirects=False) as response:
            assert response.status == 301
            assert response.headers["Location"] == "https://127.0.0.1/accounts/login/"

        # Signing in over HTTPS, through both processes: the app knows the request is
        # secure (X-Forwarded-Proto), so no redirect loop, secure cookies, and HSTS.
        login = deployment.url(deployment.https, "/accounts/login/")
        async with http.get(login, ssl=tls) as response:
            assert response.status == 200
            page = await response.text()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        async with http.post(
            login,
            data={"username": "owner", "password": "pw-owner", "csrfmiddlewaretoken": token},
            headers={"Origin": f"https://127.0.0.1:{deployment.https}", "Referer": login},
            ssl=tls,
            allow_redirects=False,
        ) as response:
            assert response.status == 302, await response.text()
            assert response.cookies["sessionid"]["secure"]
        async with http.get(deployment.url(deployment.https, "/"), ssl=tls) as response:
            assert response.status == 200
            assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            assert 'id="composer"' in await response.text()
