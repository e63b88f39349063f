"""The chat pages: login, the page's data, settings, and owner scoping over HTTP."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from chatapp.chat.models import Conversation, Message
from chatapp.llm.models import ClaudeModel


@pytest.fixture
def conversation(owner):
    conversation = Conversation.objects.create(
        owner=owner, title="Owner's plans", model="claude-sonnet-5", max_tokens=1024
    )
    question = Message.objects.create(
        conversation=conversation, role="user", content=[{"type": "text", "text": "Secret?"}]
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=question,
        content=[{"type": "text", "text": "The <b>secret</b> plan"}],
        input_tokens=5,
        output_tokens=7,
    )
    return conversation


def chat_data(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="chat-data" type="application/json">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_pages_need_a_login(client, conversation):
    for url in (reverse("chat:index"), conversation.get_absolute_url()):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_login_page_logs_in_and_rejects_a_wrong_password(client, owner):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b'id="id_username"' in page.content
    wrong = client.post(reverse("login"), {"username": "owner", "password": "nope"})
    assert wrong.status_code == 200
    assert b"correct username and password" in wrong.content
    right = client.post(reverse("login"), {"username": "owner", "password": "pw-owner"})
    assert right.status_code == 302 and right.url == reverse("chat:index")


def test_logout_is_a_post_that_ends_the_session(client, owner):
    client.force_login(owner)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("chat:index")).status_code == 302


def test_the_conversation_page_carries_its_history(client, owner, conversation):
    Conversation.objects.create(owner=owner, title="Newer", model="claude-sonnet-5", max_tokens=1)
    client.force_login(owner)
    response = client.get(conversation.get_absolute_url())
    assert response.status_code == 200
    data = chat_data(response)
    assert data["conversation"]["id"] == conversation.pk
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["usage"]["output_tokens"] == 7
    assert any(m["id"] == "claude-sonnet-5" for m in data["models"])
    titles = [c.title for c in response.context["conversations"]]
    assert titles == ["Newer", "Owner's plans"]  # newest first
    # Model text is data for the page's sanitiser, never markup in the page itself.
    assert b"The <b>secret</b> plan" not in response.content


def test_another_users_conversation_is_a_404(client, stranger, conversation):
    client.force_login(stranger)
    response = client.get(conversation.get_absolute_url())
    assert response.status_code == 404
    assert b"secret" not in response.content.lower()
    settings_url = reverse("chat:settings", args=[conversation.pk])
    assert client.post(settings_url, {"title": "Mine now"}).status_code == 404
    delete_url = reverse("chat:delete", args=[conversation.pk])
    assert client.post(delete_url).status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == "Owner's plans"
    assert not chat_titles(client, stranger)


def chat_titles(client, user):
    client.force_login(user)
    return [c.title for c in client.get(reverse("chat:index")).context["conversations"]]


def test_settings_change_model_and_system_prompt(client, owner, conversation):
    client.force_login(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    response = client.post(url, {"model": "claude-haiku-4-5", "system_prompt": "Be brief."})
    assert response.status_code == 200
    assert response.json()["conversation"]["model"] == "claude-haiku-4-5"
    conversation.refresh_from_db()
    assert conversation.model == "claude-haiku-4-5"
    assert conversation.system_prompt == "Be brief."
    assert conversation.title == "Owner's plans"  # fields not sent are kept


def test_settings_errors_are_form_errors(client, owner, conversation):
    client.force_login(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    response = client.post(url, {"model": "gpt-4", "max_tokens": "0"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "model" in errors and "max_tokens" in errors
    conversation.refresh_from_db()
    assert conversation.model == "claude-sonnet-5"


def test_max_tokens_is_checked_against_the_models_own_limit(client, owner, conversation):
    ClaudeModel.objects.filter(pk="claude-haiku-4-5").update(max_tokens=8192)
    client.force_login(owner)
    url = reverse("chat:settings", args=[conversation.pk])
    refused = client.post(url, {"model": "claude-haiku-4-5", "max_tokens": "9000"})
    assert refused.status_code == 400
    assert "at most 8,192 tokens" in refused.json()["errors"]["max_tokens"][0]
    accepted = client.post(url, {"model": "claude-haiku-4-5", "max_tokens": "8192"})
    assert accepted.status_code == 200
    conversation.refresh_from_db()
    assert (conversation.model, conversation.max_tokens) == ("claude-haiku-4-5", 8192)


def test_the_messages_endpoint_answers_the_page_data_as_json(client, owner, stranger, conversation):
    url = reverse("chat:messages", args=[conversation.pk])
    assert client.get(url).status_code == 302  # login first
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    page = chat_data(client.get(conversation.get_absolute_url()))
    data = client.get(url).json()
    assert data == {"conversation": page["conversation"], "messages": page["messages"]}
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]


def test_the_page_gives_the_client_every_url_it_uses(client, owner, conversation):
    client.force_login(owner)
    urls = chat_data(client.get(reverse("chat:index")))["urls"]
    fill = {name: url.replace("{id}", str(conversation.pk)) for name, url in urls.items()}
    assert fill["conversation"] == conversation.get_absolute_url()
    assert fill["messages"] == reverse("chat:messages", args=[conversation.pk])
    assert fill["settings"] == reverse("chat:settings", args=[conversation.pk])
    assert fill["delete"] == reverse("chat:delete", args=[conversation.pk])
    assert fill["index"] == reverse("chat:index") and fill["socket"] == "/ws/chat/"


def test_delete_removes_the_conversation(client, owner, conversation):
    client.force_login(owner)
    response = client.post(reverse("chat:delete", args=[conversation.pk]))
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


def test_demo_mode_is_announced_on_the_page(client, owner, settings):
    client.force_login(owner)
    settings.CHAT_DEMO_MODE = True
    assert b"Demo mode" in client.get(reverse("chat:index")).content
    settings.CHAT_DEMO_MODE = False
    assert b"Demo mode" not in client.get(reverse("chat:index")).content


def test_no_secret_reaches_the_page(client, owner, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-very-secret"
    client.force_login(owner)
    assert b"sk-ant-very-secret" not in client.get(reverse("chat:index")).content


def test_the_page_preloads_every_client_module(client, owner):
    """The module list in the page is a second list of static/chat/: it must not fall
    behind, or a module loads only once another asks for it."""
    client.force_login(owner)
    html = client.get(reverse("chat:index")).content.decode()
    modules = sorted(p.name for p in (Path(__file__).parents[2] / "static" / "chat").glob("*.js"))
    for name in modules:
        preload = f'<link rel="modulepreload" href="/static/chat/{name}">'
        entry = f'<script type="module" src="/static/chat/{name}"></script>'
        assert preload in html or entry in html, name
    assert html.count('type="module"') == 1


def test_pages_forbid_inline_scripts(client, owner):
    client.force_login(owner)
    policy = client.get(reverse("chat:index"))["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
