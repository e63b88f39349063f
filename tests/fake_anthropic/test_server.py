"""The fake Anthropic API, exercised with the real SDK over real HTTP (nothing mocked)."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import anthropic
import httpx2
import pytest

from chatapp.fake_anthropic import runner_base_url, serve
from chatapp.fake_anthropic.scenarios import (
    RECORDINGS_DIR,
    demo_reply,
    filler_tokens,
    split_tokens,
)
from chatapp.fake_anthropic.testing import FakeAnthropicServer

from .helpers import HELLO, MODEL, SNAPSHOT, async_client, http, sse_events

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- streaming -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_streamed_deltas_join_to_the_exact_text_as_separate_events(fake):
    text = "Hello, world! Here is *Markdown*:\n\n- one\n- two\n\n```py\nx = 1\n```\n"
    fake.enqueue({"kind": "reply", "text": text})
    async with async_client(fake) as client:
        async with client.messages.stream(model=MODEL, max_tokens=500, messages=HELLO) as stream:
            deltas = [piece async for piece in stream.text_stream]
            message = await stream.get_final_message()
    assert "".join(deltas) == text
    assert deltas == split_tokens(text) and len(deltas) > 20
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert message.model == SNAPSHOT  # the alias asked for, the snapshot that answered
    assert message.usage.output_tokens == len(deltas)
    assert stream.request_id == fake.requests[-1]["request_id"]


def test_wire_format_matches_the_real_api(fake):
    fake.enqueue({"kind": "reply", "text": "Hi there!"})
    status, headers, raw = http(
        fake,
        "POST",
        "/v1/messages",
        {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True},
        {"x-api-key": "k"},
    )
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert re.fullmatch(r"req_\w{24}", headers["request-id"])
    assert raw.endswith(b"\n\n")
    events = sse_events(raw)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start == {
        "id": start["id"],
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": SNAPSHOT,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 3,  # "Hello there" is 11 characters
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    assert start["id"].startswith("msg_")
    assert events[-2][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "output_tokens": 3,
            "input_tokens": 3,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_final_message_usage_is_what_was_sent_and_message_delta_is_cumulative(fake, client):
    usage = {
        "input_tokens": 12,
        "cache_read_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 300},
    }
    fake.enqueue({"kind": "reply", "tokens": 25, "usage": usage, "chunk": 5})
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        events = list(stream)
        message = stream.get_final_message()
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) == 5  # 25 tokens, 5 per delta
    start = next(e for e in events if e.type == "message_start")
    assert start.message.usage.output_tokens == 1
    (message_delta,) = [e for e in events if e.type == "message_delta"]
    assert message_delta.usage.output_tokens == 25  # the total, not an increment
    assert message_delta.usage.cache_read_input_tokens == 2000
    assert message.usage.output_tokens == 25
    assert message.usage.input_tokens == 12
    assert message.usage.cache_read_input_tokens == 2000
    assert message.usage.cache_creation_input_tokens == 400
    assert message.usage.cache_creation.ephemeral_5m_input_tokens == 100
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == 300


def test_max_tokens_truncates_the_reply(fake, client):
    fake.enqueue({"kind": "reply", "tokens": 50})
    with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 10
    assert message.content[0].text == "".join(filler_tokens(50)[:10])


def test_stop_sequence_ends_the_reply_before_it(fake, client):
    fake.enqueue({"kind": "reply", "text": "one two STOP three four"})
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=HELLO, stop_sequences=["four", "STOP"]
    )
    assert message.content[0].text == "one two "
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"


def test_thinking_streams_before_the_text_with_a_signature(fake, client):
    fake.enqueue({"kind": "reply", "thinking": "Let me think about it.", "text": "Answer."})
    thinking = {"type": "adaptive", "display": "summarized"}
    with client.messages.stream(
        model=MODEL, max_tokens=100, messages=HELLO, thinking=thinking
    ) as stream:
        thoughts = [e.thinking for e in stream if e.type == "thinking"]
        message = stream.get_final_message()
    assert "".join(thoughts) == "Let me think about it."
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.signature
    assert text.text == "Answer."
    assert message.usage.output_tokens == len(split_tokens("Let me think about it.")) + 2


def test_scenario_delays_pace_the_stream(fake, client):
    fake.enqueue({"kind": "reply", "tokens": 6, "first_token_delay": 0.15, "token_delay": 0.03})
    started = time.monotonic()
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        arrivals = [time.monotonic() - started for _ in stream.text_stream]
    assert arrivals[0] >= 0.15
    assert arrivals[-1] - arrivals[0] >= 5 * 0.03 * 0.8


# --- recordings --------------------------------------------------------------------------------


RECORDED = {
    "basic_response": ("end_turn", 11, 6, ["Hello there!"]),
    "extra_fields_response": ("end_turn", 11, 3, ["Hello!"]),
    "refusal_response": ("refusal", 20, 120, [""]),
    "tool_use_response": (
        "tool_use",
        377,
        65,
        ["I'll check the current weather in Paris for you.", {"location": "Paris"}],
    ),
    "server_tool_use_response": (
        "end_turn",
        42,
        40,
        ["Let me search for that.", {"query": "weather in Paris"}],
    ),
    "message_delta_omitted_usage_response": ("end_turn", 25, 8, ["Hello there!"]),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recordings_replay_through_the_async_stream_helper(fake, name):
    stop_reason, input_tokens, output_tokens, contents = RECORDED[name]
    fake.enqueue({"kind": "recording", "name": name})
    async with async_client(fake) as client:
        async with client.messages.stream(model=MODEL, max_tokens=500, messages=HELLO) as stream:
            message = await stream.get_final_message()
    assert message.stop_reason == stop_reason
    assert message.usage.input_tokens == input_tokens
    assert message.usage.output_tokens == output_tokens
    assert [b.text if b.type == "text" else b.input for b in message.content] == contents
    assert stream.request_id == fake.requests[-1]["request_id"]
    if name == "refusal_response":
        assert message.stop_details.category == "cyber"
        assert message.usage.output_tokens_details.thinking_tokens == 67
    if name == "message_delta_omitted_usage_response":
        assert message.usage.cache_creation_input_tokens == 10
        assert message.usage.cache_read_input_tokens == 5
        assert message.usage.cache_creation.ephemeral_5m_input_tokens == 10
        assert message.usage.service_tier == "priority"


@pytest.mark.parametrize("path", sorted(RECORDINGS_DIR.glob("*.sse")), ids=lambda p: p.stem)
def test_recordings_are_sent_byte_for_byte_with_a_fresh_request_id(fake, path, client):
    fake.enqueue({"kind": "recording", "name": path.stem})
    body = {"model": MODEL, "max_tokens": 100, "messages": HELLO, "stream": True}
    status, headers, raw = http(fake, "POST", "/v1/messages", body, {"x-api-key": "k"})
    assert status == 200
    # Every event ends with a blank line, as the API sends it (the files drop the last one).
    assert raw == path.read_bytes().rstrip(b"\n") + b"\n\n"
    assert headers["request-id"] == fake.requests[-1]["request_id"]
    fake.enqueue({"kind": "recording", "name": path.stem})
    events = list(client.messages.create(model=MODEL, max_tokens=9, messages=HELLO, stream=True))
    assert events[-1].type == "message_stop"


def test_recording_without_usage_in_message_start(fake, client):
    # The raw stream reads fine; the SDK 2.13 stream helper cannot accumulate it (see __init__).
    fake.enqueue({"kind": "recording", "name": "missing_usage_response"})
    events = list(client.messages.create(model=MODEL, max_tokens=9, messages=HELLO, stream=True))
    message_delta = next(e for e in events if e.type == "message_delta")
    assert message_delta.usage.input_tokens == 11
    assert message_delta.usage.cache_read_input_tokens == 5
    fake.enqueue({"kind": "recording", "name": "missing_usage_response"})
    with pytest.raises(AttributeError):
        with client.messages.stream(model=MODEL, max_tokens=9, messages=HELLO) as stream:
            stream.get_final_message()


def test_non_streaming_request_for_a_recording_gets_the_message_it_adds_up_to(fake, client):
    fake.enqueue({"kind": "recording", "name": "tool_use_response"})
    message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert message.stop_reason == "tool_use"
    assert message.content[1].input == {"location": "Paris"}


# --- errors and retries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.RequestTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_http_errors_map_to_the_sdk_exception_classes(
    fake, client, status, error_class, error_type
):
    fake.enqueue({"kind": "http_error", "status": status, "message": "boom"})
    with pytest.raises(error_class) as caught:
        with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            stream.get_final_message()
    assert caught.value.status_code == status
    assert caught.value.type == error_type
    assert caught.value.api_message == "boom"
    assert caught.value.request_id == fake.requests[-1]["request_id"]
    assert caught.value.body["request_id"] == caught.value.request_id


def test_http_error_sends_retry_headers(fake):
    fake.enqueue({"kind": "http_error", "status": 429, "retry_after": 7, "should_retry": False})
    body = {"model": MODEL, "max_tokens": 10, "messages": HELLO}
    status, headers, raw = http(fake, "POST", "/v1/messages", body, {"x-api-key": "k"})
    assert status == 429
    assert headers["retry-after"] == "7"
    assert headers["x-should-retry"] == "false"
    assert json.loads(raw)["error"]["type"] == "rate_limit_error"


def test_sdk_retries_past_two_overloaded_errors(fake):
    fake.enqueue({"kind": "http_error", "status": 529, "times": 2, "retry_after": 0.01})
    started = time.monotonic()
    with anthropic.Anthropic(api_key="k", base_url=fake.base_url, max_retries=2) as client:
        with client.messages.stream(model=MODEL, max_tokens=300, messages=HELLO) as stream:
            message = stream.get_final_message()
    assert "simulated reply" in message.content[0].text
    assert time.monotonic() - started < 0.7  # retry-after was honoured, not the 0.5 s+ backoff
    requests = fake.requests
    assert [r["headers"]["x-stainless-retry-count"] for r in requests] == ["0", "1", "2"]
    assert [r["status"] for r in requests] == [529, 529, 200]


def test_without_retries_the_first_overloaded_error_is_raised(fake, client):
    fake.enqueue({"kind": "http_error", "status": 529, "times": 2})
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert len(fake.requests) == 1
    assert fake.pending_scenarios[0]["remaining"] == 1


def test_x_should_retry_false_stops_sdk_retries(fake):
    fake.enqueue({"kind": "http_error", "status": 500, "should_retry": False, "times": 3})
    with anthropic.Anthropic(api_key="k", base_url=fake.base_url, max_retries=2) as client:
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_stream_error_raises_api_status_error_after_some_text(fake):
    fake.enqueue({"kind": "stream_error", "text": "one two three four five", "after_tokens": 2})
    received = []
    async with async_client(fake, max_retries=2) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as s:
                async for piece in s.text_stream:
                    received.append(piece)
    assert received == ["one", " two"]
    assert type(caught.value) is anthropic.APIStatusError  # HTTP 200: no status subclass
    assert caught.value.type == "overloaded_error"
    assert caught.value.api_message == "Overloaded"
    assert len(fake.requests) == 1  # a stream under way is never retried
    assert fake.requests[-1]["outcome"] == "stream_error"


@pytest.mark.asyncio
async def test_drop_raises_the_httpx2_protocol_error_not_an_api_error(fake):
    fake.enqueue({"kind": "drop", "text": "one two three four", "after_tokens": 2})
    received = []
    async with async_client(fake, max_retries=2) as client:
        with pytest.raises(httpx2.RemoteProtocolError) as caught:
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as s:
                async for piece in s.text_stream:
                    received.append(piece)
    assert received == ["one", " two"]
    assert not isinstance(caught.value, anthropic.APIError)
    assert fake.requests[-1]["outcome"] == "dropped"


def test_drop_on_a_non_streaming_request_is_a_connection_error(fake, client):
    fake.enqueue({"kind": "drop"})
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=MODEL, max_tokens=50, messages=HELLO)


@pytest.mark.asyncio
async def test_closing_a_hanging_stream_ends_the_server_handler(fake):
    fake.enqueue({"kind": "hang"})
    async with async_client(fake) as client:
        async with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as stream:
            first = await stream.__anext__()
            assert first.type == "message_start"
            assert fake.active_streams == 1
    fake.wait_for(lambda f: f.active_streams == 0, timeout=3)
    assert fake.requests[-1]["outcome"] == "client_disconnected"


def test_a_short_hang_stalls_then_the_reply_goes_on(fake, client):
    fake.enqueue({"kind": "hang", "seconds": 0.2, "after_tokens": 1, "text": "a b c"})
    started = time.monotonic()
    with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO) as stream:
        text = stream.get_final_text()
    assert text == "a b c"
    assert time.monotonic() - started >= 0.2


# --- validation and auth ------------------------------------------------------------------------


def test_missing_api_key_is_an_authentication_error(fake):
    omit = {"X-Api-Key": anthropic.Omit(), "Authorization": anthropic.Omit()}
    with anthropic.Anthropic(
        api_key="unused", base_url=fake.base_url, max_retries=0, default_headers=omit
    ) as client:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert caught.value.type == "authentication_error"
    assert caught.value.request_id.startswith("req_")


def test_bearer_token_is_accepted(fake, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with anthropic.Anthropic(
        api_key=None, auth_token="tok", base_url=fake.base_url, max_retries=0
    ) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert fake.requests[-1]["headers"]["authorization"] == "Bearer ***"


def test_invalid_request_is_a_bad_request_error_naming_the_field(client):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=MODEL, max_tokens=0, messages=HELLO)
    assert caught.value.api_message.startswith("max_tokens:")
    assert caught.value.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": HELLO}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": HELLO}, "model: Field required"),
        ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages: at least one"),
        ({"model": MODEL, "max_tokens": "5", "messages": HELLO}, "max_tokens: Input should be"),
        ({"model": MODEL, "max_tokens": 5, "messages": "hi"}, "messages: Input should be"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
            "messages.0.role",
        ),
        ({"model": MODEL, "max_tokens": 5, "messages": HELLO, "system": 3}, "system:"),
    ],
)
def test_validation_errors_have_the_real_error_shape(fake, body, message):
    status, headers, raw = http(fake, "POST", "/v1/messages", body, {"x-api-key": "k"})
    assert status == 400
    error = json.loads(raw)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message)
    assert error["request_id"] == headers["request-id"]


def test_unknown_parameters_and_block_content_are_accepted(fake, client):
    message = client.messages.create(
        model=MODEL,
        max_tokens=300,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        metadata={"user_id": "u1"},
        thinking={"type": "adaptive"},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
        ],
        extra_body={"some_future_param": True},
    )
    assert "> And 3+3?" in message.content[-1].text
    texts = ("Be brief.", "What is 2+2?", "4", "And 3+3?")
    assert message.usage.input_tokens == sum(math.ceil(len(text) / 4) for text in texts)


# --- scenario routing ---------------------------------------------------------------------------


def test_inline_directive_triggers_a_failure_when_nothing_is_queued(fake, client):
    prompt = 'please fail [[fake:{"kind": "http_error", "status": 529}]]'
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": prompt}]
        )
    fake.enqueue({"kind": "reply", "text": "queued wins"})
    message = client.messages.create(
        model=MODEL, max_tokens=10, messages=[{"role": "user", "content": prompt}]
    )
    assert message.content[0].text == "queued wins"


def test_bad_inline_directive_is_a_bad_request(client):
    with pytest.raises(anthropic.BadRequestError, match="fake:"):
        client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": '[[fake:{"kind": "explode"}]]'}],
        )


def test_match_routes_a_scenario_to_the_request_that_mentions_it(fake, client):
    fake.enqueue(
        {"kind": "reply", "text": "A Short Title", "match": "Write a title"},
        {"kind": "reply", "text": "the chat reply"},
    )
    chat = client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    title = client.messages.create(
        model=MODEL,
        max_tokens=10,
        messages=[
            {"role": "user", "content": "Write a title for this conversation"},
        ],
    )
    assert chat.content[0].text == "the chat reply"
    assert title.content[0].text == "A Short Title"
    assert fake.pending_scenarios == []


def test_bad_scenarios_are_refused_with_a_clear_message(fake):
    with pytest.raises(ValueError, match="unknown field"):
        fake.enqueue({"kind": "reply", "txt": "typo"})
    with pytest.raises(ValueError, match="'status' must be"):
        fake.enqueue({"kind": "http_error"})
    with pytest.raises(ValueError, match="'name' must be one of"):
        fake.enqueue({"kind": "recording", "name": "nope"})
    assert fake.pending_scenarios == []


# --- non-streaming, other endpoints -------------------------------------------------------------


def test_default_reply_is_a_deterministic_demo_reply(client):
    prompt = "How do I read a CSV file in Python?"
    messages = [{"role": "user", "content": prompt}]
    first = client.messages.create(model=MODEL, max_tokens=1000, messages=messages)
    second = client.messages.create(model=MODEL, max_tokens=1000, messages=messages)
    text = first.content[0].text
    assert text == second.content[0].text == demo_reply(prompt)
    assert "simulated reply" in text and "no API key" in text
    assert f"> {prompt}" in text
    assert "\n- " in text and "```python\n" in text
    assert 80 <= first.usage.output_tokens <= 150
    assert first.usage.input_tokens == math.ceil(len(prompt) / 4)
    assert first.stop_reason == "end_turn" and first.id.startswith("msg_")


def test_reply_tokens_default_is_exactly_that_many_tokens():
    with FakeAnthropicServer(reply_tokens=7) as fake:
        with anthropic.Anthropic(api_key="k", base_url=fake.base_url, max_retries=0) as client:
            message = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    assert message.usage.output_tokens == 7
    assert message.content[0].text == "".join(filler_tokens(7))


def test_responses_carry_request_id_and_rate_limit_headers(client):
    first = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HELLO)
    second = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert first.headers["request-id"] != second.headers["request-id"]
    assert first.parse()._request_id == first.headers["request-id"]
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        limit = int(first.headers[f"anthropic-ratelimit-{kind}-limit"])
        assert 0 < int(first.headers[f"anthropic-ratelimit-{kind}-remaining"]) <= limit
        datetime.fromisoformat(first.headers[f"anthropic-ratelimit-{kind}-reset"])
    reset, remaining = (f"anthropic-ratelimit-requests-{k}" for k in ("reset", "remaining"))
    if first.headers[reset] == second.headers[reset]:  # same minute window
        assert int(second.headers[remaining]) == int(first.headers[remaining]) - 1


def test_count_tokens(client):
    result = client.messages.count_tokens(
        model=MODEL, system="You are terse.", messages=[{"role": "user", "content": "x" * 41}]
    )
    # One token per 4 characters, block by block: 14 characters, then 41.
    assert result.input_tokens == math.ceil(14 / 4) + math.ceil(41 / 4)


def test_control_api_over_http(fake, client):
    status, _, raw = http(
        fake, "POST", "/_fake/scenarios", [{"kind": "reply", "text": "from http"}, {"kind": "drop"}]
    )
    assert status == 200 and json.loads(raw) == {"queued": 2, "pending": 2}
    status, _, raw = http(fake, "POST", "/_fake/scenarios", {"kind": "reply", "chunk": 0})
    assert status == 400 and "'chunk' must be an integer >= 1" in json.loads(raw)["error"]
    status, _, raw = http(fake, "GET", "/_fake/scenarios")
    assert [s["kind"] for s in json.loads(raw)] == ["reply", "drop"]

    client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, metadata={"user_id": "7"})
    status, _, raw = http(fake, "GET", "/_fake/requests")
    (logged,) = json.loads(raw)
    assert logged["body"]["metadata"] == {"user_id": "7"}
    # SDK 2.13 sends the key as a bearer token; keys are never echoed back in full
    assert logged["headers"]["authorization"] == "Bearer ***"
    assert logged["headers"]["anthropic-version"]
    assert logged["scenario"] == "reply" and logged["status"] == 200
    assert isinstance(logged["time"], float)

    status, _, raw = http(fake, "GET", "/_fake/health")
    assert json.loads(raw) == {
        "status": "ok",
        "active_streams": 0,
        "queued": 1,
        "requests": 1,
        "count_tokens_calls": 0,
    }
    http(fake, "POST", "/_fake/reset")
    status, _, raw = http(fake, "GET", "/_fake/health")
    assert json.loads(raw)["queued"] == 0 and json.loads(raw)["requests"] == 0


# --- running it ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_serve_runs_in_process_on_the_callers_loop():
    runner = await serve("127.0.0.1", 0, token_delay=0.0, first_token_delay=0.0, reply_tokens=4)
    try:
        async with anthropic.AsyncAnthropic(
            api_key="k", base_url=runner_base_url(runner), max_retries=0
        ) as client:
            async with client.messages.stream(model=MODEL, max_tokens=9, messages=HELLO) as s:
                message = await s.get_final_message()
        assert message.usage.output_tokens == 4
    finally:
        await runner.cleanup()


def test_cli_prints_its_address_and_serves_until_sigterm():
    command = [sys.executable, "-m", "chatapp.fake_anthropic", "--port", "0"]
    command += ["--reply-tokens", "5", "--token-delay", "0", "--first-token-delay", "0"]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"Fake Anthropic API listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        with anthropic.Anthropic(api_key="k", base_url=match[1], max_retries=0) as client:
            with client.messages.stream(model=MODEL, max_tokens=9, messages=HELLO) as stream:
                assert stream.get_final_message().usage.output_tokens == 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    "text",
    ["", "word", "  leading and trailing  ", "a\n\n- b\n```py\nx=1\n```", "élan, naïve — ok?"],
)
def test_split_tokens_round_trips(text):
    assert "".join(split_tokens(text)) == text


def test_unparsable_body_and_unknown_path_get_api_errors(fake):
    request = urllib.request.Request(
        fake.base_url + "/v1/messages", data=b"{nope", method="POST", headers={"x-api-key": "k"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["error"]["message"] == "Request body is not valid JSON"
    status, headers, raw = http(fake, "GET", "/v1/nothing-here", headers={"x-api-key": "k"})
    assert status == 404 and json.loads(raw)["error"]["type"] == "not_found_error"
    assert headers["request-id"].startswith("req_")


def test_stream_error_on_a_non_streaming_request_is_the_matching_http_error(fake, client):
    fake.enqueue({"kind": "stream_error", "error_type": "rate_limit_error", "message": "slow"})
    with pytest.raises(anthropic.RateLimitError, match="slow"):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
