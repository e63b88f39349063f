"""A person's path through the app, in real headless Chromium against the real server
(the app's daphne in its own process, the fake API over HTTP): log in, send, watch the reply grow,
reload, find the history."""

import os
import shutil
import time

import pytest
from django.db import connections

from chatapp.chat.models import Message

from ..conftest import need
from ..live import start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REPLY = " ".join(f"word{i}" for i in range(40))

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server_url(transactional_db, fake_api):
    server, port = start_server(
        {
            "ANTHROPIC_BASE_URL": fake_api.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "ANTHROPIC_MAX_RETRIES": "0",
            "CHAT_TITLES": "false",  # a title call would take the scenarios queued for replies
        }
    )
    yield f"http://127.0.0.1:{port}"
    stop_server(server)


@pytest.fixture
def page(monkeypatch):
    need(os.path.exists(CHROMIUM), "Chromium (/usr/bin/chromium)")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are plain sync code all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        # The test's own queries ran while Playwright's loop was running, on connections
        # of that context: close them here, or the test database cannot be dropped.
        connections.close_all()
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def test_log_in_chat_watch_the_reply_stream_and_find_it_after_a_reload(
    live_server_url, page, fake_api, owner
):
    fake_api.enqueue({"kind": "reply", "text": REPLY, "token_delay": 0.05})

    page.goto(live_server_url + "/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner")
    page.click("button[type=submit]")
    page.wait_for_selector("#composer")

    page.fill("#composer", "Count to forty, please")
    page.press("#composer", "Enter")

    body = page.locator('.message[data-role="assistant"] .message-body').last
    body.wait_for()
    lengths = []
    while True:
        status = page.locator('.message[data-role="assistant"]').last.get_attribute("data-status")
        lengths.append(len(body.inner_text()))
        if status and status != "streaming":
            break
        time.sleep(0.05)
    growing = sorted(set(lengths))
    assert len(growing) >= 4, f"the reply did not grow in steps: {lengths}"
    assert status == "complete"
    assert body.inner_text().strip() == REPLY
    assert page.locator("#composer").is_enabled()

    # The address now names the conversation: a reload shows the history.
    assert "/c/" in page.url
    page.reload()
    page.wait_for_selector('.message[data-role="assistant"]')
    assert page.locator('.message[data-role="user"] .message-body').inner_text().strip() == (
        "Count to forty, please"
    )
    saved = Message.objects.get(role="assistant")
    assert saved.text == REPLY
    restored = page.locator('.message[data-role="assistant"] .message-body').inner_text()
    assert restored.strip() == REPLY
    assert page.locator(".conversation-link").count() == 1


def test_html_in_a_reply_is_shown_never_run(live_server_url, page, fake_api, owner):
    fake_api.enqueue(
        {
            "kind": "reply",
            "text": 'Look: <img src=x onerror="window.pwned=1"> and '
            "<script>window.pwned=2</script> done",
        }
    )
    page.goto(live_server_url + "/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner")
    page.click("button[type=submit]")
    page.fill("#composer", "Say something dangerous")
    page.press("#composer", "Enter")
    page.wait_for_selector('.message[data-role="assistant"][data-status="complete"]')
    assert page.evaluate("window.pwned") is None
    assert page.locator(".message-body script").count() == 0
    assert page.locator(".message-body img[onerror]").count() == 0
