"""The catalogue from the Models API: every page synced, lifecycle changes and models
that disappear followed, the admin's choices kept, and the app still up when the API
cannot be reached."""

import pytest
from anthropic.types import ModelCapabilities
from django.core.management import CommandError, call_command
from django.urls import reverse

from chatapp.chat.models import Conversation
from chatapp.llm import catalogue
from chatapp.llm.models import ClaudeModel, SyncFailure
from chatapp.llm.sync import models_sync

from ..chat.helpers import converse


@pytest.fixture
def synced(fake_api, db):
    models_sync()
    catalogue.forget()
    return fake_api


def offered_ids() -> list[str]:
    return [model.id for model in catalogue.offered()]


def test_a_sync_takes_every_model_with_its_capabilities(synced):
    listed = {model["id"]: model for model in synced.models}
    stored = {row.id: row for row in ClaudeModel.objects.filter(listed=True)}
    assert stored.keys() == listed.keys()
    for model_id, row in stored.items():
        assert row.capabilities == listed[model_id]["capabilities"]
        assert (row.lifecycle, row.max_tokens) == (
            listed[model_id]["lifecycle"],
            listed[model_id]["max_tokens"],
        )
    # Offered: active and deprecated ones; never retired; never the seeds the API lacks.
    assert "claude-sonnet-4-5-20250929" in offered_ids()
    assert "claude-3-5-haiku-20241022" not in offered_ids()
    assert "claude-sonnet-5" not in offered_ids()
    # The default passed from the seed alias to its snapshot; aliases still resolve.
    assert catalogue.default_model_id() == "claude-sonnet-5-20260929"
    assert catalogue.get("claude-haiku-4-5").id == "claude-haiku-4-5-20251001"


def test_every_page_is_synced(fake_api, db):
    extra = [{"id": f"claude-test-{n:03d}-20260101"} for n in range(130)]
    fake_api.patch_models(add=extra)
    result = models_sync()
    assert result.listed == len(fake_api.models) > 100
    assert ClaudeModel.objects.filter(id__startswith="claude-test-").count() == 130


def test_lifecycle_changes_and_disappearances_are_followed(synced, client, owner):
    conversation = Conversation.objects.create(
        owner=owner, model="claude-opus-4-5-20251101", max_tokens=100
    )
    ClaudeModel.objects.filter(pk="claude-haiku-4-5-20251001").update(visible=False)
    synced.patch_models(
        update={"claude-opus-4-5-20251101": {"lifecycle": "retired"}},
        remove=["claude-sonnet-4-5-20250929"],
    )
    result = models_sync()
    catalogue.forget()
    assert result.unlisted == 1
    assert "claude-opus-4-5-20251101" not in offered_ids()
    assert "claude-sonnet-4-5-20250929" not in offered_ids()
    gone = ClaudeModel.objects.get(pk="claude-sonnet-4-5-20250929")
    assert not gone.listed  # kept: conversations may name it
    assert not ClaudeModel.objects.get(pk="claude-haiku-4-5-20251001").visible  # kept
    client.force_login(owner)
    page = client.get(conversation.get_absolute_url()).context["chat_data"]
    assert "claude-opus-4-5-20251101" not in [m["id"] for m in page["models"]]


async def test_a_conversation_on_a_retired_model_is_asked_to_pick_another(synced, sockets, owner):
    await ClaudeModel.objects.filter(pk="claude-opus-4-5-20251101").aupdate(lifecycle="retired")
    catalogue.forget()
    conversation = await Conversation.objects.acreate(
        owner=owner, model="claude-opus-4-5-20251101", max_tokens=100
    )
    tab = await sockets(owner)
    from ..chat.helpers import user_message

    await tab.send_json_to(user_message("Hello", conversation.pk))
    error = await tab.receive_json_from()
    assert error["code"] == "model_unavailable" and synced.requests == []


async def test_a_synced_snapshot_is_used_and_priced(synced, sockets, owner):
    from chatapp.usage.models import UsageRecord

    synced.enqueue({"kind": "reply", "text": "Hi."})
    tab = await sockets(owner)
    _, reply = await converse(tab, "Hello")
    assert synced.requests[-1]["body"]["model"] == "claude-sonnet-5-20260929"
    record = await UsageRecord.objects.aget(message_id=reply.pk)
    assert record.cost is not None and record.cost > 0  # the alias's price covers it


def test_the_admin_syncs_and_says_when_the_list_was_never_synced(fake_api, client, staff):
    client.force_login(staff)
    home = client.get(reverse("admin:index")).content.decode()
    assert "has not been synced from the Models API" in home
    response = client.post(reverse("admin:llm_claudemodel_sync"), follow=True)
    assert "Synced:" in response.content.decode()
    assert "has not been synced" not in client.get(reverse("admin:index")).content.decode()


def test_an_unreachable_api_fails_the_command_and_keeps_the_list(fake_api, db, settings):
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(CommandError, match="Could not sync the models"):
        call_command("sync_models")
    assert offered_ids()  # the seeded list still stands


def test_the_admin_says_when_the_api_could_not_be_reached_and_forgets_it_after_a_sync(
    fake_api, client, staff, settings
):
    reachable = settings.ANTHROPIC_BASE_URL
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # what serve met as it started
    with pytest.raises(CommandError):
        call_command("sync_models")
    failure = SyncFailure.objects.get()
    assert failure.error == "The API could not be reached (upstream_connection)"
    assert failure.failed_at is not None
    client.force_login(staff)
    home = client.get(reverse("admin:index")).content.decode()
    assert "The Models API could not be reached at the last sync" in home
    assert failure.error in home and "never been synced" in home
    assert "has not been synced from the Models API yet" not in home  # said once

    settings.ANTHROPIC_BASE_URL = reachable
    client.post(reverse("admin:llm_claudemodel_sync"))
    assert not SyncFailure.objects.exists()
    home = client.get(reverse("admin:index")).content.decode()
    assert "could not be reached" not in home and 'id="model-catalogue-module"' not in home

    # A later failure leaves the last good list in use, and says so.
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"
    response = client.post(reverse("admin:llm_claudemodel_sync"), follow=True)
    assert "The Models API could not be read" in response.content.decode()
    home = client.get(reverse("admin:index")).content.decode()
    assert "could not be reached" in home and "the list of the last good sync is in use" in home


def test_a_conversation_on_an_alias_shows_its_snapshot_in_the_picker(synced, client, owner):
    conversation = Conversation.objects.create(owner=owner, model="claude-sonnet-5", max_tokens=100)
    client.force_login(owner)
    data = client.get(conversation.get_absolute_url()).context["chat_data"]
    assert data["conversation"]["model"] == "claude-sonnet-5-20260929"
    assert "claude-sonnet-5-20260929" in [m["id"] for m in data["models"]]


def test_staff_hide_a_model_and_choose_the_default(synced, client, staff, owner):
    url = reverse("admin:llm_claudemodel_changelist")
    client.force_login(staff)
    response = client.post(
        url,
        {"action": "make_default", "_selected_action": ["claude-haiku-4-5-20251001"]},
        follow=True,
    )
    assert "is now the default" in response.content.decode()
    catalogue.forget()
    assert catalogue.default_model_id() == "claude-haiku-4-5-20251001"
    refused = client.post(
        url,
        {"action": "make_default", "_selected_action": ["claude-3-5-haiku-20241022"]},
        follow=True,
    )
    assert "is not offered" in refused.content.decode()
    ClaudeModel.objects.filter(pk="claude-opus-4-8-20260624").update(visible=False)
    catalogue.forget()
    client.force_login(owner)
    models = client.get(reverse("chat:index")).context["chat_data"]["models"]
    assert "claude-opus-4-8-20260624" not in [m["id"] for m in models]
    assert [m["deprecated"] for m in models if m["id"] == "claude-opus-4-5-20251101"] == [True]
    client.force_login(owner)
    assert client.get(url).status_code == 302  # staff only


@pytest.mark.parametrize("seed", catalogue.SEED, ids=lambda seed: seed.id)
def test_every_seed_is_a_model_as_the_sdk_types_it(seed):
    validated = ModelCapabilities.model_validate(seed.capabilities)
    # Nothing the SDK does not know, nothing left out: the API's shape, key for key.
    assert validated.model_dump(exclude_unset=True) == seed.capabilities
    assert validated.thinking.types.disabled.supported  # thinking can always be off


def test_offered_models_without_a_price_are_flagged_right_after_a_sync(fake_api, client, staff):
    client.force_login(staff)
    assert "no price" not in client.get(reverse("admin:index")).content.decode()  # the seeds
    models_sync()
    catalogue.forget()
    home = client.get(reverse("admin:index")).content.decode()
    for unpriced in ("claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929"):
        assert f"{unpriced}: no price</strong>: offered to users" in home
        assert f"/admin/usage/modelprice/add/?model={unpriced}" in home
    assert "claude-sonnet-5-20260929: no price" not in home  # priced by its alias
    assert "claude-3-7-sonnet-20250219" not in home  # retired: not offered
    ClaudeModel.objects.filter(pk="claude-sonnet-4-5-20250929").update(visible=False)
    catalogue.forget()
    assert "claude-sonnet-4-5-20250929" not in client.get(reverse("admin:index")).content.decode()
