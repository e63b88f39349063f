"""The Message Batches API through the SDK's ``client.messages.batches`` over real HTTP: create,
retrieve, list, cancel, delete, results (the SDK's JSONL decoder), the checks made at once and
those that make a request ``errored``, processing on the fake's clock at a speed tests set,
expiry, scenarios by custom_id and by directive, structured output and a 10,000-request batch."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import timedelta

import anthropic
import pydantic
import pytest

from chatapp.fake_anthropic import batches as batch_store

from .helpers import MODEL, SNAPSHOT, async_client, http

DAY = 24 * 60 * 60
FLAT = {
    "type": "object",
    "properties": {"label": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["label", "score"],
    "additionalProperties": False,
}


def request(custom_id, text="Hello there", **params):
    params = {
        "model": MODEL,
        "max_tokens": 500,
        "messages": [{"role": "user", "content": text}],
        **params,
    }
    return {"custom_id": custom_id, "params": params}


def rows(count, prefix="row"):
    return [request(f"{prefix}-{n}", f"Question number {n}") for n in range(count)]


def results(client, batch_id):
    """The results by custom_id, decoded by the SDK."""
    return {line.custom_id: line.result for line in client.messages.batches.results(batch_id)}


def directive(scenario):
    return f"Hi [[fake:{json.dumps(scenario)}]]"


# --- create, retrieve, results -------------------------------------------------------------------


def test_a_new_batch_is_in_progress_with_every_request_processing(fake, client):
    batch = client.messages.batches.create(requests=rows(3))
    assert batch.id.startswith("msgbatch_01") and len(batch.id) == len("msgbatch_") + 24
    assert batch.type == "message_batch"
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.model_dump() == {
        "processing": 3,
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert batch.expires_at - batch.created_at == timedelta(days=1)
    assert batch.ended_at is None and batch.cancel_initiated_at is None
    assert batch.archived_at is None and batch.results_url is None
    assert fake.batch_requests(batch.id) == rows(3)


def test_at_the_test_servers_speed_a_batch_has_ended_when_next_looked_at(fake, client):
    created = client.messages.batches.create(requests=rows(3))
    batch = client.messages.batches.retrieve(created.id)
    assert batch.processing_status == "ended"
    assert batch.request_counts.succeeded == 3 and batch.request_counts.processing == 0
    assert batch.ended_at is not None and batch.ended_at >= batch.created_at
    assert batch.results_url == f"{fake.base_url}/v1/messages/batches/{batch.id}/results"
    assert fake.batches == [batch.model_dump(mode="json")]


def test_results_are_whole_messages_with_batch_usage(client):
    batch = client.messages.batches.create(requests=rows(3))
    found = results(client, batch.id)
    assert sorted(found) == ["row-0", "row-1", "row-2"]
    for custom_id, result in found.items():
        assert result.type == "succeeded"
        message = result.message
        assert message.id.startswith("msg_") and message.model == SNAPSHOT
        assert message.stop_reason == "end_turn"
        assert "Question number " + custom_id[-1] in message.content[0].text  # the demo reply
        assert message.usage.service_tier == "batch"
        assert message.usage.output_tokens > 0 and message.usage.input_tokens > 0


def test_results_come_in_an_order_of_their_own_the_same_each_time(client):
    batch = client.messages.batches.create(requests=rows(20))
    order = [line.custom_id for line in client.messages.batches.results(batch.id)]
    assert sorted(order) == sorted(f"row-{n}" for n in range(20))
    assert order != [f"row-{n}" for n in range(20)]
    assert order == [line.custom_id for line in client.messages.batches.results(batch.id)]


def test_results_are_jsonl_streamed_in_chunks(fake, client):
    batch = client.messages.batches.create(requests=rows(5))
    client.messages.batches.retrieve(batch.id)
    raw = urllib.request.Request(
        f"{fake.base_url}/v1/messages/batches/{batch.id}/results", headers={"x-api-key": "k"}
    )
    with urllib.request.urlopen(raw, timeout=10) as response:
        assert response.headers["content-type"] == "application/binary"
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["request-id"].startswith("req_")
        lines = response.read().decode().splitlines()
    assert len(lines) == 5
    assert {json.loads(line)["result"]["type"] for line in lines} == {"succeeded"}


def test_the_async_client_reads_results_too(fake):
    async def run():
        async with async_client(fake) as client:
            batch = await client.messages.batches.create(requests=rows(4))
            decoder = await client.messages.batches.results(batch.id)
            return [line.custom_id async for line in decoder]

    assert sorted(asyncio.run(run())) == [f"row-{n}" for n in range(4)]


def test_results_before_the_end_are_refused(fake, client):
    fake.set_batch_speed(0)
    batch = client.messages.batches.create(requests=rows(2))
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        client.messages.batches.results(batch.id)  # the SDK asks retrieve first
    status, _, body = http(
        fake, "GET", f"/v1/messages/batches/{batch.id}/results", headers={"x-api-key": "k"}
    )
    assert status == 400 and b"has not ended" in body


# --- the four results ----------------------------------------------------------------------------


def test_a_batch_gives_all_four_kinds_of_result(fake, client):
    fake.set_batch_speed(0)
    fake.set_batch_scenarios({"overloaded": {"kind": "http_error", "status": 529}})
    batch = client.messages.batches.create(
        requests=[
            request("plain"),
            request("scripted", directive({"kind": "reply", "text": "Scripted answer."})),
            request("unknown-model", model="claude-nonexistent"),
            request("overloaded"),
            request("expired", directive({"kind": "expired"})),
            request("in-flight"),
            request("never-started-1"),
            request("never-started-2"),
        ]
    )
    fake.set_batch_speed(0.001, batch_id=batch.id)  # a request every 1,000 s of the fake clock
    fake.advance_clock(5_000)  # five answered, the sixth under way

    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    assert canceling.request_counts.processing == 8  # counts move only at the end
    assert client.messages.batches.retrieve(batch.id).processing_status == "canceling"
    fake.advance_clock(1_000)  # the request under way is answered, then the batch ends

    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 3,
        "errored": 2,
        "canceled": 2,
        "expired": 1,
    }
    assert ended.ended_at > ended.cancel_initiated_at

    found = results(client, batch.id)
    assert {custom_id: result.type for custom_id, result in found.items()} == {
        "plain": "succeeded",
        "scripted": "succeeded",
        "unknown-model": "errored",
        "overloaded": "errored",
        "expired": "expired",
        "in-flight": "succeeded",
        "never-started-1": "canceled",
        "never-started-2": "canceled",
    }
    assert found["scripted"].message.content[0].text == "Scripted answer."
    assert found["unknown-model"].error.type == "error"
    assert found["unknown-model"].error.error.type == "not_found_error"
    assert found["unknown-model"].error.error.message == "model: claude-nonexistent"
    assert found["overloaded"].error.error.type == "overloaded_error"


# --- processing over time ------------------------------------------------------------------------


def test_counts_stay_processing_until_the_batch_ends_as_documented(fake, client):
    fake.set_batch_speed(0.01)  # a request every 100 s
    batch = client.messages.batches.create(requests=rows(4))
    fake.advance_clock(200)
    halfway = client.messages.batches.retrieve(batch.id)
    assert halfway.processing_status == "in_progress"
    assert halfway.request_counts.processing == 4 and halfway.request_counts.succeeded == 0
    fake.advance_clock(200)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 4
    assert ended.ended_at - ended.created_at == timedelta(seconds=400)  # when the last was


def test_live_counts_move_as_the_requests_are_answered(fake, client):
    fake.set_batch_live_counts(True)
    fake.set_batch_speed(0.01)
    batch = client.messages.batches.create(requests=rows(4))
    fake.advance_clock(250)
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.processing, counts.succeeded) == (2, 2)
    fake.set_batch_speed(None, batch_id=batch.id)  # this one at once from now on
    assert client.messages.batches.retrieve(batch.id).request_counts.succeeded == 4


def test_a_held_batch_expires_on_the_fake_clock(fake, client):
    fake.set_batch_speed(0)
    batch = client.messages.batches.create(requests=rows(3))
    fake.advance_clock(DAY - 1)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    fake.advance_clock(2)
    expired = client.messages.batches.retrieve(batch.id)
    assert expired.processing_status == "ended"
    assert expired.request_counts.expired == 3
    assert expired.ended_at == expired.expires_at
    assert {result.type for result in results(client, batch.id).values()} == {"expired"}


def test_a_slow_batch_expires_part_way(fake, client):
    fake.set_batch_speed(1 / 3600)  # one an hour: 24 in a day
    batch = client.messages.batches.create(requests=rows(30))
    fake.advance_clock(DAY + 60)
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.succeeded, counts.expired) == (24, 6)


def test_expire_batches_ends_a_batch_now_with_its_requests_expired(fake, client):
    fake.set_batch_speed(0)
    batch = client.messages.batches.create(requests=rows(2))
    other = client.messages.batches.create(requests=rows(2))
    fake.expire_batches(batch.id)
    expired = client.messages.batches.retrieve(batch.id)
    assert expired.request_counts.expired == 2 and expired.ended_at == expired.expires_at
    assert expired.expires_at < expired.created_at + timedelta(days=1)
    assert client.messages.batches.retrieve(other.id).processing_status == "in_progress"


def test_finish_batches_ends_every_batch_now(fake, client):
    fake.set_batch_speed(0)
    first = client.messages.batches.create(requests=rows(2))
    second = client.messages.batches.create(requests=rows(3))
    fake.finish_batches()
    assert [batch["request_counts"]["succeeded"] for batch in fake.batches] == [3, 2]
    assert client.messages.batches.retrieve(first.id).processing_status == "ended"
    assert client.messages.batches.retrieve(second.id).processing_status == "ended"


# --- cancel and delete ---------------------------------------------------------------------------


def test_a_canceled_batch_ends_with_its_requests_canceled(fake, client):
    fake.set_batch_speed(0)
    batch = client.messages.batches.create(requests=rows(3))
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 3
    assert {result.type for result in results(client, batch.id).values()} == {"canceled"}


def test_canceling_an_ended_batch_leaves_it_as_it_is(client):
    batch = client.messages.batches.create(requests=rows(1))
    ended = client.messages.batches.retrieve(batch.id)
    again = client.messages.batches.cancel(batch.id)
    assert again == ended and again.cancel_initiated_at is None


def test_only_an_ended_batch_can_be_deleted(fake, client):
    fake.set_batch_speed(0)
    batch = client.messages.batches.create(requests=rows(1))
    with pytest.raises(anthropic.BadRequestError, match="cannot be deleted while it is"):
        client.messages.batches.delete(batch.id)
    fake.finish_batches()
    deleted = client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)
    assert list(client.messages.batches.list()) == []


def test_an_unknown_batch_is_not_found(client):
    for call in (
        client.messages.batches.retrieve,
        client.messages.batches.cancel,
        client.messages.batches.delete,
    ):
        with pytest.raises(anthropic.NotFoundError, match="msgbatch_nope"):
            call("msgbatch_nope")


# --- list ----------------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_pages_both_ways(client):
    ids = [client.messages.batches.create(requests=rows(1)).id for _ in range(5)]
    newest_first = ids[::-1]
    page = client.messages.batches.list(limit=2)
    assert [batch.id for batch in page.data] == newest_first[:2]
    assert (page.has_more, page.first_id, page.last_id) == (True, newest_first[0], newest_first[1])
    assert [batch.id for batch in client.messages.batches.list(limit=2)] == newest_first
    before = client.messages.batches.list(before_id=newest_first[3], limit=2)
    assert [batch.id for batch in before.data] == newest_first[1:3]
    # The SDK pages backwards from there, each page newest first.
    assert [batch.id for batch in before] == [*newest_first[1:3], newest_first[0]]
    after = client.messages.batches.list(after_id=newest_first[1])
    assert [batch.id for batch in after.data] == newest_first[2:] and not after.has_more


def test_a_deleted_batch_is_still_a_cursor(client):
    ids = [client.messages.batches.create(requests=rows(1)).id for _ in range(3)]
    client.messages.batches.retrieve(ids[1])
    client.messages.batches.delete(ids[1])
    after = client.messages.batches.list(after_id=ids[1])
    assert [batch.id for batch in after.data] == [ids[0]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": 0}, "limit: Input should be between 1 and 1000"),
        ({"limit": 1001}, "limit: Input should be between 1 and 1000"),
        ({"after_id": "msgbatch_x", "before_id": "msgbatch_y"}, "cannot be used together"),
        ({"after_id": "msgbatch_unknown"}, "after_id: no message batch"),
    ],
)
def test_a_bad_list_query_is_refused(client, query, message):
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.batches.list(**query)


# --- what is checked at once ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "requests: List should have at least 1 item after validation, not 0"),
        ([request("")], "requests.0.custom_id: String should match pattern"),
        ([request("x" * 65)], "requests.0.custom_id: String should match pattern"),
        ([request("row 1")], "requests.0.custom_id: String should match pattern"),
        ([request("row.1")], "requests.0.custom_id: String should match pattern"),
        (
            [request("a"), request("b"), request("a")],
            "requests.2.custom_id: 'a' is already the custom_id of requests.0",
        ),
        ([{"custom_id": "a"}], "requests.0.params: Field required"),
        ([{"custom_id": "a", "params": "x"}], "requests.0.params: Input should be a valid"),
        ([{"custom_id": "a", "params": {}, "extra": 1}], "requests.0.extra: Extra inputs"),
        ([request("a", stream=True)], "requests.0.params.stream: streaming is not supported"),
        (
            [request("a"), {"custom_id": "b", "params": {"model": MODEL, "messages": []}}],
            "requests.1.params.max_tokens: Field required",
        ),
        ([request("a", messages="hi")], "requests.0.params.messages: Input should be a valid"),
    ],
)
def test_a_batch_of_bad_shape_is_refused_whole(fake, client, requests, message):
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.batches.create(requests=requests)
    assert fake.batches == []


def test_the_longest_custom_id_is_taken(client):
    custom_id = "A-z_9" * 12 + "abcd"
    assert len(custom_id) == 64
    batch = client.messages.batches.create(requests=[request(custom_id)])
    assert list(results(client, batch.id)) == [custom_id]


def test_more_than_100000_requests_are_refused(client):
    requests = [{"custom_id": f"r{n}", "params": {}} for n in range(100_001)]
    with pytest.raises(anthropic.BadRequestError, match="at most 100000 items"):
        client.messages.batches.create(requests=requests)


def test_a_body_over_the_size_limit_is_refused(fake, client, monkeypatch):
    monkeypatch.setattr(batch_store, "MAX_BATCH_BYTES", 2_000)  # 256 MB is a lot for a test
    with pytest.raises(anthropic.RequestTooLargeError) as refused:
        client.messages.batches.create(requests=rows(30))
    assert refused.value.status_code == 413 and refused.value.type == "request_too_large"
    assert fake.batches == []
    assert client.messages.batches.create(requests=rows(3)).request_counts.processing == 3


def test_a_body_that_is_not_json_or_has_no_key_is_refused(fake):
    status, _, body = http(fake, "POST", "/v1/messages/batches", headers={"x-api-key": "k"})
    assert status == 400 and b"not valid JSON" in body
    status, _, body = http(fake, "POST", "/v1/messages/batches", {}, headers={"x-api-key": "k"})
    assert status == 400 and b"requests: Field required" in body
    status, _, _ = http(fake, "POST", "/v1/messages/batches", {"requests": rows(1)})
    assert status == 401


# --- what makes one request errored --------------------------------------------------------------


def test_the_model_and_its_capabilities_are_checked_per_request(fake, client):
    fake.update_model("claude-haiku-4-5-20251001", capabilities={"batch": {"supported": False}})
    batch = client.messages.batches.create(
        requests=[
            request("retired", model="claude-3-7-sonnet-20250219"),
            request("too-long", max_tokens=64_001, model="claude-sonnet-4-5"),
            request("no-batches", model="claude-haiku-4-5"),
            request("thinking", thinking={"type": "enabled", "budget_tokens": 2000}),
            request("ok"),
        ]
    )
    found = results(client, batch.id)
    assert found["ok"].type == "succeeded"
    errors = {
        key: (r.error.error.type, r.error.error.message) for key, r in found.items() if key != "ok"
    }
    assert errors["retired"][0] == "not_found_error" and "was retired" in errors["retired"][1]
    assert errors["too-long"] == (
        "invalid_request_error",
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for "
        "claude-sonnet-4-5-20250929",
    )
    assert errors["no-batches"] == (
        "invalid_request_error",
        "model: claude-haiku-4-5-20251001 does not support the Message Batches API",
    )
    assert errors["thinking"][0] == "invalid_request_error"
    assert errors["thinking"][1].startswith("thinking.type.enabled is not supported")


def test_a_bad_directive_makes_its_request_errored(client):
    batch = client.messages.batches.create(
        requests=[request("bad", "Hi [[fake:{not json}]]"), request("good")]
    )
    found = results(client, batch.id)
    assert found["bad"].error.error.type == "invalid_request_error"
    assert found["bad"].error.error.message.startswith("fake: [[fake:...]] directive is not")
    assert found["good"].type == "succeeded"


# --- scenarios -----------------------------------------------------------------------------------


def test_scenarios_by_custom_id_apply_to_every_batch_until_reset(fake, client):
    fake.set_batch_scenarios(
        {
            "texted": {"kind": "reply", "text": "Exactly this."},
            "limited": {"kind": "http_error", "status": 429},
            "broken": {"kind": "stream_error", "error_type": "api_error", "message": "Boom"},
            "dropped": {"kind": "drop"},
            "hung": {"kind": "hang"},
            "recorded": {"kind": "recording", "name": "tool_use_response"},
        }
    )
    custom_ids = ["texted", "limited", "broken", "dropped", "hung", "recorded", "default"]
    for _ in range(2):
        batch = client.messages.batches.create(requests=[request(c) for c in custom_ids])
        found = results(client, batch.id)
        assert found["texted"].message.content[0].text == "Exactly this."
        assert found["limited"].error.error.type == "rate_limit_error"
        assert (found["broken"].error.error.type, found["broken"].error.error.message) == (
            "api_error",
            "Boom",
        )
        assert found["dropped"].error.error.type == "api_error"
        assert found["hung"].type == "expired"
        assert found["recorded"].message.stop_reason == "tool_use"
        assert found["recorded"].message.usage.service_tier == "batch"
        assert found["default"].type == "succeeded"
    fake.reset()
    batch = client.messages.batches.create(requests=[request("limited")])
    assert results(client, batch.id)["limited"].type == "succeeded"


def test_a_bad_scenario_by_custom_id_is_refused_in_the_test(fake):
    with pytest.raises(ValueError, match="scenario of 'x': expired scenario: unknown field"):
        fake.set_batch_scenarios({"x": {"kind": "expired", "when": "now"}})
    with pytest.raises(ValueError, match="scenario 'kind' must be one of"):
        fake.set_batch_scenarios({"x": {"kind": "nope"}})


def test_batch_requests_leave_the_scenario_queue_to_v1_messages(fake, client):
    fake.enqueue({"kind": "reply", "text": "For the chat."})
    batch = client.messages.batches.create(requests=rows(2))
    assert all(r.type == "succeeded" for r in results(client, batch.id).values())
    assert fake.pending_scenarios[0]["text"] == "For the chat."


def test_a_paused_turn_sent_back_in_a_batch_gets_its_continuation(fake, client):
    fake.enqueue(
        {
            "kind": "reply",
            "text": "Part one.",
            "stop_reason": "pause_turn",
            "continuation": "Part two.",
        }
    )
    paused = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "Go"}]
    )
    messages = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": [block.model_dump() for block in paused.content]},
    ]
    batch = client.messages.batches.create(
        requests=[
            {"custom_id": "c", "params": {"model": MODEL, "max_tokens": 100, "messages": messages}}
        ]
    )
    assert results(client, batch.id)["c"].message.content[0].text == "Part two."


# --- usage, caching, structured output -----------------------------------------------------------


def test_a_shared_system_prompt_cached_for_an_hour_is_read_by_the_later_requests(client):
    system = [
        {
            "type": "text",
            "text": "You are a careful classifier. " * 200,  # over 1,024 tokens
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    requests = [request(f"r{n}", f"Item {n}", system=system) for n in range(3)]
    found = results(client, client.messages.batches.create(requests=requests).id)
    usages = [found[f"r{n}"].message.usage for n in range(3)]
    written = usages[0].cache_creation_input_tokens
    assert written > 1024 and usages[0].cache_creation.ephemeral_1h_input_tokens == written
    assert [u.cache_read_input_tokens for u in usages[1:]] == [written, written]
    assert all(u.service_tier == "batch" for u in usages)


def test_structured_output_in_a_batch_is_json_of_the_schema(fake, client):
    class Verdict(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        label: str
        score: int

    output_config = {"format": {"type": "json_schema", "schema": FLAT}}
    fake.update_model(
        "claude-haiku-4-5-20251001", capabilities={"structured_outputs": {"supported": False}}
    )
    bad_schema = {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    batch = client.messages.batches.create(
        requests=[
            request("a", "Classify: apples", output_config=output_config),
            request("b", "Classify: bananas", output_config=output_config),
            request("haiku", output_config=output_config, model="claude-haiku-4-5"),
            request("bad-schema", output_config=bad_schema),
        ]
    )
    found = results(client, batch.id)
    for custom_id, fruit in (("a", "apples"), ("b", "bananas")):
        verdict = Verdict.model_validate_json(found[custom_id].message.content[0].text)
        assert verdict.label == f"label for “Classify: {fruit}”"
    assert "structured outputs are not supported" in found["haiku"].error.error.message
    assert "additionalProperties" in found["bad-schema"].error.error.message


# --- control -------------------------------------------------------------------------------------


def test_the_control_api_sets_the_speed_and_finishes(fake, client):
    status, _, _ = http(fake, "POST", "/_fake/batches", {"requests_per_second": 0})
    assert status == 200
    batch = client.messages.batches.create(requests=rows(2))
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    status, _, body = http(fake, "POST", "/_fake/batches", {"finish": True, "batch_id": batch.id})
    assert status == 200 and json.loads(body)[0]["processing_status"] == "ended"
    status, _, body = http(fake, "POST", "/_fake/batches", {"speed": 3})
    assert status == 400 and b"unknown key(s) speed" in body
    status, _, body = http(fake, "POST", "/_fake/batches", {"requests_per_second": -1})
    assert status == 400


def test_reset_forgets_batches_and_the_speed(fake, client):
    fake.set_batch_speed(0)
    client.messages.batches.create(requests=rows(1))
    fake.reset()
    assert fake.batches == []
    batch = client.messages.batches.create(requests=rows(1))
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


# --- a large batch -------------------------------------------------------------------------------


def test_a_10000_request_batch_completes_and_its_results_stream(client):
    batch = client.messages.batches.create(requests=rows(10_000))
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 10_000
    seen = set()
    for line in client.messages.batches.results(batch.id):
        assert line.result.type == "succeeded"
        seen.add(line.custom_id)
    assert len(seen) == 10_000
