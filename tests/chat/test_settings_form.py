"""POST /c/<id>/settings/ (chat.forms.ConversationSettingsForm): yes/no fields take only
a yes or a no, a rename needs a title, a stop sequence needs a visible character, and a
setting the model no longer takes (after a sync) is refused only when it or the model is
being changed."""

import pytest
from django.urls import reverse

from chatapp.chat.models import Conversation
from chatapp.llm.models import ClaudeModel


@pytest.fixture
def conversation(owner):
    return Conversation.objects.create(
        owner=owner, title="Trip plans", model="claude-sonnet-5", max_tokens=4096
    )


def settings_url(conversation) -> str:
    return reverse("chat:settings", args=[conversation.pk])


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        *(("true", True), ("on", True), ("1", True), ("TRUE", True)),
        *(("false", False), ("off", False), ("0", False), ("", False)),
    ],
)
def test_thinking_takes_a_yes_or_a_no(client, owner, conversation, sent, expected):
    conversation.thinking = not expected
    conversation.save()
    client.force_login(owner)
    assert client.post(settings_url(conversation), {"thinking": sent}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.thinking is expected


@pytest.mark.parametrize("name", ["thinking", "pinned", "web_search"])
@pytest.mark.parametrize("sent", ["maybe", "yes please", "2"])
def test_anything_else_is_a_form_error_never_a_yes(client, owner, conversation, name, sent):
    client.force_login(owner)
    response = client.post(settings_url(conversation), {name: sent})
    assert response.status_code == 400
    assert "true or false" in response.json()["errors"][name][0]
    conversation.refresh_from_db()
    assert getattr(conversation, name) is False


def test_a_rename_after_a_sync_took_thinking_and_tokens_away_is_still_a_rename(
    client, owner, conversation
):
    conversation.thinking, conversation.effort, conversation.max_tokens = True, "max", 64_000
    conversation.save()
    # The sync: this model no longer thinks, has no effort setting, and writes less.
    row = ClaudeModel.objects.get(pk="claude-sonnet-5")
    row.capabilities["thinking"] = {"supported": False, "types": {}}
    row.capabilities["effort"] = {"supported": False}
    row.max_tokens = 8192
    row.save()
    client.force_login(owner)
    url = settings_url(conversation)
    for change in ({"title": "Lisbon"}, {"pinned": "true"}, {"system_prompt": "Be brief."}):
        response = client.post(url, change)
        assert response.status_code == 200, response.json()
    conversation.refresh_from_db()
    assert (conversation.title, conversation.pinned) == ("Lisbon", True)
    # The settings themselves are refused when they are what changes.
    assert (
        "does not think" in client.post(url, {"thinking": "true"}).json()["errors"]["thinking"][0]
    )
    assert "no effort" in client.post(url, {"effort": "max"}).json()["errors"]["effort"][0]
    refused = client.post(url, {"max_tokens": "10000"})
    assert "8,192" in refused.json()["errors"]["max_tokens"][0]
    # Choosing the model again checks every setting against it.
    again = client.post(url, {"model": "claude-sonnet-5"})
    assert again.status_code == 400
    assert {"thinking", "effort", "max_tokens"} <= again.json()["errors"].keys()


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_an_empty_rename_is_refused(client, owner, conversation, title):
    client.force_login(owner)
    response = client.post(settings_url(conversation), {"title": title})
    assert response.status_code == 400
    assert response.json()["errors"]["title"] == ["A title can't be empty."]
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans" and not conversation.title_set_by_user


def test_a_conversation_without_a_title_can_still_be_pinned(client, owner, conversation):
    Conversation.objects.filter(pk=conversation.pk).update(title="")
    client.force_login(owner)
    assert client.post(settings_url(conversation), {"pinned": "true"}).status_code == 200


def test_a_stop_sequence_of_spaces_alone_is_refused_naming_its_line(client, owner, conversation):
    client.force_login(owner)
    url = settings_url(conversation)
    response = client.post(url, {"stop_sequences": "END\n   \nSTOP"})
    assert response.status_code == 400
    assert "Line 2 holds only spaces" in response.json()["errors"]["stop_sequences"][0]
    conversation.refresh_from_db()
    assert conversation.stop_sequences == []
    # Empty lines are skipped; spaces around visible characters are part of the sequence.
    assert client.post(url, {"stop_sequences": "END\n\n STOP \n"}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.stop_sequences == ["END", " STOP "]


def test_an_effort_that_is_no_level_is_a_form_error(client, owner, conversation):
    client.force_login(owner)
    response = client.post(settings_url(conversation), {"effort": "ultra-maximum"})
    assert response.status_code == 400 and "effort" in response.json()["errors"]
    conversation.refresh_from_db()
    assert conversation.effort == ""


@pytest.mark.parametrize(
    "change", [{"visible": False}, {"lifecycle": "retired"}], ids=["hidden", "retired"]
)
def test_a_model_not_offered_cannot_be_chosen(client, owner, conversation, change):
    ClaudeModel.objects.filter(pk="claude-opus-4-8").update(**change)
    client.force_login(owner)
    response = client.post(settings_url(conversation), {"model": "claude-opus-4-8"})
    assert response.status_code == 400
    assert "not one of the available choices" in response.json()["errors"]["model"][0]
    conversation.refresh_from_db()
    assert conversation.model == "claude-sonnet-5"
