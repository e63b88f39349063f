"""Staff review conversations in the admin; nobody else gets in."""

import pytest
from django.urls import reverse

from chatapp.chat.models import Conversation, Message


@pytest.fixture
def conversation(owner):
    conversation = Conversation.objects.create(
        owner=owner, title="Trip to Lisbon", model="claude-sonnet-5", max_tokens=1024
    )
    question = Message.objects.create(
        conversation=conversation, role="user", content=[{"type": "text", "text": "Where?"}]
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=question,
        content=[{"type": "text", "text": "Alfama, at dusk."}],
        model="claude-sonnet-5",
        input_tokens=12,
        output_tokens=34,
        cache_read_input_tokens=5,
    )
    return conversation


def test_non_staff_cannot_open_the_admin(client, owner, conversation):
    client.force_login(owner)
    for url in (
        reverse("admin:chat_conversation_changelist"),
        reverse("admin:chat_conversation_change", args=[conversation.pk]),
        reverse("admin:chat_message_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_staff_list_conversations_by_user_with_totals(client, staff, conversation):
    client.force_login(staff)
    response = client.get(reverse("admin:chat_conversation_changelist"))
    assert response.status_code == 200
    row = response.context["cl"].result_list[0]
    assert row.message_count == 2 and row.input_sum == 12 and row.output_sum == 34
    html = response.content.decode()
    assert "Trip to Lisbon" in html and "owner" in html and "12 / 34" in html


def test_staff_search_conversations_by_username(client, staff, conversation, stranger):
    Conversation.objects.create(owner=stranger, title="Other", model="m", max_tokens=1)
    client.force_login(staff)
    url = reverse("admin:chat_conversation_changelist")
    results = client.get(url, {"q": "owner"}).context["cl"].result_list
    assert [c.title for c in results] == ["Trip to Lisbon"]


def test_conversation_page_shows_its_messages_read_only(client, staff, conversation):
    client.force_login(staff)
    response = client.get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Alfama, at dusk." in html and "Where?" in html
    assert 'name="messages-0-output_tokens"' not in html  # shown, not editable
    assert ">34<" in html
    before = conversation.title
    client.post(
        reverse("admin:chat_conversation_change", args=[conversation.pk]), {"title": "Changed"}
    )
    conversation.refresh_from_db()
    assert conversation.title == before


def test_message_list_filters_by_model_and_links_to_its_conversation(client, staff, conversation):
    client.force_login(staff)
    url = reverse("admin:chat_message_changelist")
    response = client.get(url, {"model": "claude-sonnet-5"})
    assert [m.role for m in response.context["cl"].result_list] == ["assistant"]
    assert reverse("admin:chat_conversation_change", args=[conversation.pk]) in (
        response.content.decode()
    )
