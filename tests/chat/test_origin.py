"""The socket's origin check: the page's own scheme, host and port, or a trusted origin."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chatapp.asgi import application
from tests.conftest import session_cookie


async def opens(owner, *, origin: str, host: str, scheme: str = "ws", forwarded=None) -> bool:
    cookie = await sync_to_async(session_cookie)(owner)
    headers = [
        (b"origin", origin.encode()),
        (b"host", host.encode()),
        (b"cookie", f"sessionid={cookie}".encode()),
    ]
    if forwarded:
        headers.append((b"x-forwarded-proto", forwarded.encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "accepted"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws", True),
        ("http://localhost", "localhost", "ws", True),
        ("https://localhost", "localhost:443", "wss", True),
        ("http://127.0.0.1:9999", "127.0.0.1:8000", "ws", False),  # another port
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "ws", False),  # another scheme
        ("http://localhost:8000", "127.0.0.1:8000", "ws", False),  # another host
        ("http://evil.example", "evil.example", "ws", False),  # not an allowed host
        ("null", "127.0.0.1:8000", "ws", False),
    ],
)
@pytest.mark.django_db(transaction=True)
async def test_only_the_pages_own_origin_opens_a_socket(owner, origin, host, scheme, accepted):
    assert await opens(owner, origin=origin, host=host, scheme=scheme) is accepted


@pytest.mark.django_db(transaction=True)
async def test_behind_a_proxy_the_forwarded_scheme_counts(owner, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    host = "chat.example.com"
    assert await opens(owner, origin="https://chat.example.com", host=host, forwarded="https")
    assert not await opens(owner, origin="http://chat.example.com", host=host, forwarded="https")


@pytest.mark.django_db(transaction=True)
async def test_a_trusted_origin_opens_a_socket(owner, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    assert await opens(owner, origin="https://chat.example.com", host="127.0.0.1:8000")
