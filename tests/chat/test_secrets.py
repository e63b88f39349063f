"""The API key stays on the server: never in a page, a frame or a log line."""

import logging

import pytest
from django.urls import reverse

from chatapp.chat.models import Conversation

from .helpers import converse

KEY = "sk-ant-test-RECOGNISABLE-0123456789abcdef"


@pytest.fixture
def recognisable_key(fake_api, settings):
    settings.ANTHROPIC_API_KEY = KEY
    return KEY


async def test_the_key_is_in_no_frame_and_no_log_line(
    recognisable_key, fake_api, sockets, owner, caplog
):
    tab = await sockets(owner)
    with caplog.at_level(logging.DEBUG):
        frames, _ = await converse(tab, "Hello")
        fake_api.enqueue(
            {"kind": "http_error", "status": 401, "error_type": "authentication_error"}
        )
        failed, _ = await converse(tab, "Again", frames[-1]["conversation_id"])
    assert fake_api.requests[0]["headers"]["authorization"].endswith(KEY[-4:])  # it was sent
    for frame in frames + failed:
        assert KEY not in str(frame)
    assert failed[-1]["message"]["status"] == "error"
    for record in caplog.records:
        assert KEY not in record.getMessage() and KEY not in str(record.args)


def test_the_key_is_in_no_page(recognisable_key, client, owner, staff):
    conversation = Conversation.objects.create(owner=owner, model="claude-sonnet-5", max_tokens=100)
    client.force_login(owner)
    pages = [reverse("chat:index"), conversation.get_absolute_url()]
    for url in pages:
        assert KEY not in client.get(url).content.decode()
    client.force_login(staff)
    staff_pages = ["/admin/", "/admin/usage/usagerecord/", "/admin/llm/claudemodel/"]
    for url in [*staff_pages, reverse("chat:index")]:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        assert KEY not in response.content.decode()
