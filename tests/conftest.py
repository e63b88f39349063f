"""Shared fixtures: three users (an owner, a stranger who must see nothing, a staff
member), the fake Anthropic API over real HTTP, and authenticated sockets."""

import asyncio
import importlib
import os

import pytest
from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, connections

from chatapp.asgi import application
from chatapp.chat.db import close_all_connections
from chatapp.chat.live import hub
from chatapp.fake_anthropic.testing import FakeAnthropicServer
from chatapp.llm import catalogue
from chatapp.usage.services import usage_settings_changed

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, what: str) -> None:
    """Skips a test whose service is missing on a laptop; in CI a missing service fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} is not available on this machine")


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        need(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    if item.get_closest_marker("redis"):
        need(bool(os.environ.get("TEST_REDIS_URL")), "Redis (TEST_REDIS_URL)")


@pytest.fixture(scope="session", autouse=True)
def close_pool_connections_at_the_end(request):
    """The chat's ORM threads keep their connections; the test database can only be
    dropped once they are closed."""
    try:
        request.getfixturevalue("django_db_setup")
    except pytest.FixtureLookupError:  # run without pytest-django (the fake API's tests)
        yield
        return
    yield
    close_all_connections()
    # Async tests' ORM calls run on asgiref's one sync thread, which keeps its connection.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def usage_settings_read_afresh():
    """Each test's database starts with its own policy and prices (a rolled-back test
    sends no signal that would clear what the process keeps of them)."""
    usage_settings_changed()
    catalogue.forget()
    yield
    usage_settings_changed()
    catalogue.forget()


@pytest.fixture(autouse=True)
def seeded_prices(request):
    """The price and model rows the data migrations seed: a transactional test's flush
    removes them, and the app reads them as it would in production."""
    for name in ("transactional_db", "db"):
        if name in request.fixturenames:
            request.getfixturevalue(name)
            from django.apps import apps

            for migration in (
                "chatapp.usage.migrations.0002_seed_prices",
                "chatapp.llm.migrations.0002_seed_models",
            ):
                importlib.import_module(migration).seed(apps, None)
            catalogue.forget()
            return


@pytest.fixture(scope="session")
def fake_server():
    server = FakeAnthropicServer(token_delay=0.0, first_token_delay=0.0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_api(fake_server, settings):
    """The fake API, empty of scenarios, with the app pointed at it."""
    fake_server.reset()
    settings.ANTHROPIC_BASE_URL = fake_server.base_url
    settings.ANTHROPIC_API_KEY = "test-key"
    settings.ANTHROPIC_MAX_RETRIES = 0
    # A title call after a first reply would take the next queued scenario: the tests of
    # titles turn them on (tests/chat/test_titles.py).
    settings.CHAT_TITLES = False
    yield fake_server
    fake_server.reset()


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, **flags):
        return django_user_model.objects.create_user(
            username=username, password="pw-" + username, **flags
        )

    return make


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def stranger(make_user):
    return make_user("stranger")


@pytest.fixture
def staff(make_user):
    return make_user("staff", is_staff=True, is_superuser=True)


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
async def sockets(transactional_db):
    """Opens authenticated sockets through the real ASGI stack (session cookie, origin
    check). At the end of the test it waits for every live reply to be saved, then closes
    the sockets."""
    from asgiref.sync import sync_to_async

    opened = []
    cookies = {}

    async def open_socket(user, *, origin: bytes = b"http://127.0.0.1", connect=True):
        headers = [(b"origin", origin)]
        if user is not None:
            if user.pk not in cookies:
                cookies[user.pk] = await sync_to_async(session_cookie)(user)
            headers.append((b"cookie", f"sessionid={cookies[user.pk]}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        opened.append(communicator)
        if connect:
            connected, _ = await communicator.connect()
            assert connected, "the socket was refused"
        return communicator

    yield open_socket
    await hub.wait_idle()
    for communicator in opened:
        try:
            await communicator.disconnect()
        except Exception:  # already closed by the server or never connected
            pass
    # The ORM threads' connections would otherwise outlive the test database.
    await asyncio.to_thread(close_all_connections)
    await database_sync_to_async(connections.close_all)()
