"""The model catalogue: ``GET /v1/models`` shaped as the SDK's ``ModelInfo``, paged as the real
API pages it, aliases resolved to snapshots, and the control that lets a test change it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anthropic
import pytest
from anthropic.types import ModelInfo
from pydantic import BaseModel

from chatapp.fake_anthropic import MODELS

from .helpers import HELLO, async_client, http

LISTED = [
    "claude-sonnet-5-20260929",
    "claude-opus-4-8-20260624",
    "claude-opus-4-5-20251101",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
]
RETIRED = ["claude-3-7-sonnet-20250219", "claude-3-5-haiku-20241022"]
APP_ALIASES = {
    "claude-opus-4-8": "claude-opus-4-8-20260624",
    "claude-sonnet-5": "claude-sonnet-5-20260929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}


def missing_keys(data: dict, model_type: type[BaseModel], where: str = "") -> list[str]:
    """Every field of the SDK type (optional ones too) that ``data`` lacks, at any depth."""
    missing = []
    for name, field in model_type.model_fields.items():
        if name not in data:
            missing.append(where + name)
            continue
        nested = field.annotation
        nested = next((a for a in getattr(nested, "__args__", ()) if a is not type(None)), nested)
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            missing += missing_keys(data[name], nested, f"{where}{name}.")
    return missing


def test_every_model_is_an_sdk_model_info_with_every_capability_key(fake):
    status, _, raw = http(
        fake,
        "GET",
        "/v1/models?limit=1000&lifecycle[]=active&lifecycle[]=deprecated&lifecycle[]=retired",
        headers={"x-api-key": "k"},
    )
    assert status == 200
    served = json.loads(raw)["data"]
    assert [model["id"] for model in served] == LISTED + RETIRED
    for model in served:
        info = ModelInfo.model_validate(model)
        assert info.capabilities is not None
        assert missing_keys(model, ModelInfo) == [], model["id"]
        # xhigh is Optional in the SDK but always sent, as the notes say every key is.
        assert "xhigh" in model["capabilities"]["effort"]
        assert set(model) == set(ModelInfo.model_fields), model["id"]


def test_the_list_is_dated_snapshots_newest_first_without_retired_models(client):
    models = list(client.models.list())
    assert [model.id for model in models] == LISTED
    released = [model.created_at for model in models]
    assert released == sorted(released, reverse=True)
    assert all(model.type == "model" and model.id[-8:].isdigit() for model in models)
    by_id = {model.id: model for model in models}
    assert [model.id for model in models if model.lifecycle == "deprecated"] == [
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-5-20250929",
    ]
    # The retirement dates the SDK warns with; Sonnet 4.5's is past (overdue, still callable).
    opus45, sonnet45 = by_id["claude-opus-4-5-20251101"], by_id["claude-sonnet-4-5-20250929"]
    assert opus45.retires_at == datetime(2027, 1, 22, tzinfo=UTC)
    assert sonnet45.retires_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert sonnet45.deprecated_at < sonnet45.retires_at
    active = by_id["claude-sonnet-5-20260929"]
    assert active.lifecycle == "active" and active.deprecated_at is active.retires_at is None
    assert (active.line, by_id["claude-haiku-4-5-20251001"].line) == ("sonnet", "haiku")

    retired = list(client.models.list(lifecycle=["retired"]))
    assert [model.id for model in retired] == RETIRED
    assert all(model.deprecated_at < model.retires_at for model in retired)


def test_capabilities_differ_as_the_app_must_read_them(client):
    caps = {model.id: model.capabilities for model in client.models.list()}
    sonnet5, opus48 = caps["claude-sonnet-5-20260929"], caps["claude-opus-4-8-20260624"]
    opus45, haiku = caps["claude-opus-4-5-20251101"], caps["claude-haiku-4-5-20251001"]
    sonnet45 = caps["claude-sonnet-4-5-20250929"]
    # The newest think adaptively only; the older ones take a budget.
    for newest in (sonnet5, opus48):
        assert newest.thinking.types.adaptive.supported
        assert not newest.thinking.types.enabled.supported
    for older in (opus45, haiku, sonnet45):
        assert older.thinking.types.enabled.supported
        assert not older.thinking.types.adaptive.supported
    # Effort: xhigh on Opus 4.8 only, low to high on Opus 4.5, none on Haiku and Sonnet 4.5.
    assert opus48.effort.xhigh.supported and not sonnet5.effort.xhigh.supported
    assert sonnet5.effort.max.supported and not opus45.effort.max.supported
    assert opus45.effort.supported and opus45.effort.high.supported
    assert not haiku.effort.supported and not sonnet45.effort.supported
    assert opus48.code_execution.supported and not haiku.code_execution.supported


def test_the_sdk_pages_through_the_catalogue_both_ways(client):
    first = client.models.list(limit=2)
    assert [m.id for m in first.data] == LISTED[:2]
    assert (first.first_id, first.last_id, first.has_more) == (LISTED[0], LISTED[1], True)
    assert [m.id for m in client.models.list(limit=2)] == LISTED  # three requests
    last = client.models.list(limit=2, after_id=LISTED[3])
    assert [m.id for m in last.data] == LISTED[4:] and last.has_more is False

    backwards = client.models.list(limit=2, before_id=LISTED[4])
    assert [m.id for m in backwards.data] == LISTED[2:4] and backwards.has_more is True
    assert [m.id for m in backwards] == LISTED[2:4] + LISTED[:2]

    default = client.models.list()
    assert len(default.data) == len(LISTED) and default.has_more is False


@pytest.mark.asyncio
async def test_the_async_sdk_pages_too(fake):
    async with async_client(fake) as client:
        ids = [model.id async for model in client.models.list(limit=1)]
    assert ids == LISTED


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 0}, "limit: Input should be between 1 and 1000"),
        ({"limit": 1001}, "limit: Input should be between 1 and 1000"),
        ({"after_id": "claude-nope"}, "after_id: no model 'claude-nope'"),
        ({"lifecycle": ["gone"]}, "lifecycle: Input should be"),
    ],
)
def test_bad_list_parameters_are_refused(client, query, message):
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.models.list(**query)
    assert refused.value.api_message.startswith(message)


def test_retrieve_takes_an_id_or_an_alias_and_knows_retired_models(client):
    assert client.models.retrieve("claude-haiku-4-5").id == "claude-haiku-4-5-20251001"
    assert client.models.retrieve("claude-haiku-4-5-20251001").display_name == "Claude Haiku 4.5"
    assert client.models.retrieve(RETIRED[0]).lifecycle == "retired"
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("claude-nonexistent")
    assert missing.value.api_message == "model: claude-nonexistent"


@pytest.mark.parametrize(("alias", "snapshot"), sorted(APP_ALIASES.items()))
def test_the_aliases_the_app_sends_answer_with_their_snapshot(client, alias, snapshot):
    message = client.messages.create(model=alias, max_tokens=20, messages=HELLO)
    assert message.model == snapshot
    assert client.models.retrieve(alias).id == snapshot


def test_the_default_catalogue_is_the_exported_one(fake):
    assert fake.models == list(MODELS)


# --- the control: replacing and patching the catalogue --------------------------------------------


def test_a_replaced_catalogue_is_served_and_reset_restores_the_default(fake, client):
    models = fake.set_models(
        [
            {"id": "claude-test-1-20270101", "display_name": "Test 1", "max_tokens": 100},
            {"id": "claude-test-2-20270202", "created_at": "2027-02-02T00:00:00Z"},
        ]
    )
    assert [m["id"] for m in models] == ["claude-test-2-20270202", "claude-test-1-20270101"]
    assert [m.id for m in client.models.list()] == [m["id"] for m in models]
    test1 = client.models.retrieve("claude-test-1")
    assert (test1.display_name, test1.max_tokens, test1.max_input_tokens) == (
        "Test 1",
        100,
        200_000,
    )
    assert test1.capabilities.thinking.types.adaptive.supported  # from the defaults
    message = client.messages.create(model="claude-test-1", max_tokens=20, messages=HELLO)
    assert message.model == "claude-test-1-20270101"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-sonnet-5", max_tokens=20, messages=HELLO)

    fake.reset()
    assert [m.id for m in client.models.list()] == LISTED


def test_patching_retires_a_model_and_removes_another(fake, client):
    retired = fake.update_model(
        "claude-sonnet-4-5-20250929", lifecycle="retired", retires_at="2027-01-05T00:00:00Z"
    )
    assert retired["deprecated_at"] == "2026-09-29T00:00:00Z"  # what was not changed stays
    fake.remove_model("claude-opus-4-5-20251101")
    assert [m.id for m in client.models.list()] == [LISTED[0], LISTED[1], LISTED[3]]
    with pytest.raises(anthropic.NotFoundError) as refused, pytest.warns(DeprecationWarning):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=HELLO)
    assert "retired on 2027-01-05" in refused.value.api_message
    with pytest.raises(anthropic.NotFoundError, match="model: claude-opus-4-5"):
        with pytest.warns(DeprecationWarning):
            client.messages.create(model="claude-opus-4-5", max_tokens=20, messages=HELLO)


def test_a_nested_capability_can_be_patched_alone(fake, client):
    fake.update_model(
        "claude-sonnet-5-20260929", capabilities={"effort": {"xhigh": {"supported": True}}}
    )
    effort = client.models.retrieve("claude-sonnet-5").capabilities.effort
    assert effort.xhigh.supported and effort.max.supported


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"update": {"claude-sonnet-5-20260929": {"lifecycle": "gone"}}}, "lifecycle"),
        ({"update": {"claude-nope": {"lifecycle": "retired"}}}, "no model 'claude-nope'"),
        ({"remove": ["claude-nope"]}, "no model 'claude-nope'"),
        ([{"id": "claude-x", "speed": "fast"}], "unknown key(s) speed"),
        ([{"id": "claude-x"}, {"id": "claude-x"}], "unique"),
        ({"add": [{"id": "claude-sonnet-5-20260929"}]}, "already exists"),
        ({"rename": {}}, "the body is a list of models"),
    ],
)
def test_a_bad_change_over_http_is_refused_and_changes_nothing(fake, change, message):
    status, _, raw = http(fake, "POST", "/_fake/models", change)
    assert status == 400 and message in json.loads(raw)["error"]
    assert fake.models == list(MODELS)


def test_a_bad_change_from_a_test_raises_there(fake):
    with pytest.raises(ValueError, match="lifecycle"):
        fake.update_model("claude-sonnet-5-20260929", lifecycle="gone")
    with pytest.raises(ValueError, match="unknown key"):
        fake.set_models([{"id": "claude-x", "aliases": ["x"]}])
    assert fake.models == list(MODELS)


def test_the_catalogue_control_over_http(fake):
    new = {"id": "claude-new-20270301", "created_at": "2027-03-01T00:00:00Z"}
    status, _, raw = http(fake, "POST", "/_fake/models", {"add": [new]})
    assert status == 200 and json.loads(raw)[0]["id"] == "claude-new-20270301"
    status, _, raw = http(fake, "GET", "/_fake/models")
    assert [m["id"] for m in json.loads(raw)] == ["claude-new-20270301", *LISTED, *RETIRED]
    http(fake, "POST", "/_fake/reset")
    assert fake.models == list(MODELS)
