"""Prompt caching by prefix, as the real API does it, and count_tokens counting as usage does.

The fake's tokenizer is one token per 4 characters, block by block: a 5,000-character system
prompt is 1,250 tokens, over Sonnet's 1,024-token minimum, under Haiku's 2,048."""

from __future__ import annotations

import json

import anthropic
import pytest

from .helpers import MODEL, http

LONG = "x" * 5000  # 1,250 tokens
FIVE_MINUTES = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}


def cached_system(text=LONG, cache_control=FIVE_MINUTES):
    return [{"type": "text", "text": text, "cache_control": cache_control}]


def ask(question):
    return [{"role": "user", "content": question}]


def usage_of(client, model=MODEL, **params):
    """(uncached input, cache write, cache read) of a whole-message request."""
    params = {"max_tokens": 50, "messages": ask("Hello there"), **params}
    usage = client.messages.create(model=model, **params).usage
    assert usage.cache_creation_input_tokens == (
        usage.cache_creation.ephemeral_5m_input_tokens
        + usage.cache_creation.ephemeral_1h_input_tokens
    )
    return usage.input_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens


def test_a_second_request_reads_the_prefix_the_first_wrote_in_every_usage_event(client):
    reports = []
    for question in ("Hello there", "And a second question?"):  # 3 tokens, then 6
        with client.messages.stream(
            model=MODEL, max_tokens=50, system=cached_system(), messages=ask(question)
        ) as stream:
            events = list(stream)
            message = stream.get_final_message()
        start = next(e for e in events if e.type == "message_start").message.usage
        delta = next(e for e in events if e.type == "message_delta").usage
        for usage in (start, delta, message.usage):
            reports.append(
                (
                    usage.input_tokens,
                    usage.cache_creation_input_tokens,
                    usage.cache_read_input_tokens,
                )
            )
        split = message.usage.cache_creation
        reports.append((split.ephemeral_5m_input_tokens, split.ephemeral_1h_input_tokens))
    written, read = (3, 1250, 0), (6, 0, 1250)
    assert reports == [written] * 3 + [(1250, 0)] + [read] * 3 + [(0, 0)]


def test_a_prefix_shorter_than_the_models_minimum_is_not_cached(client):
    short = cached_system("x" * 4000)  # 1,000 tokens: under Sonnet's 1,024
    assert usage_of(client, system=short) == usage_of(client, system=short) == (1003, 0, 0)
    # 1,250 tokens: enough for Sonnet, not for Haiku (2,048)
    assert usage_of(client, "claude-haiku-4-5", system=cached_system()) == (1253, 0, 0)
    assert usage_of(client, "claude-haiku-4-5", system=cached_system()) == (1253, 0, 0)
    assert usage_of(client, "claude-haiku-4-5", system=cached_system("x" * 8192)) == (3, 2048, 0)
    assert usage_of(client, "claude-haiku-4-5", system=cached_system("x" * 8192)) == (3, 0, 2048)


def test_an_entry_expires_after_its_ttl_and_each_read_refreshes_it(fake, client):
    assert usage_of(client, system=cached_system()) == (3, 1250, 0)
    fake.advance_clock(299)
    assert usage_of(client, system=cached_system()) == (3, 0, 1250)
    fake.advance_clock(299)  # ten minutes after the write, five since the read
    assert usage_of(client, system=cached_system()) == (3, 0, 1250)
    fake.advance_clock(301)
    assert usage_of(client, system=cached_system()) == (3, 1250, 0)


def test_a_one_hour_entry_outlives_a_five_minute_one_and_the_split_shows_each(fake, client):
    tools = [
        {
            "name": "lookup",
            "description": "y" * 4200,
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": ONE_HOUR,
        }
    ]
    # "Hi" is one token; the rest of the count is the tool's definition.
    tool_tokens = client.messages.count_tokens(model=MODEL, tools=tools, messages=ask("Hi"))
    tool_tokens = tool_tokens.input_tokens - 1
    first = client.messages.create(
        model=MODEL, max_tokens=50, tools=tools, system=cached_system(), messages=ask("Hi")
    ).usage
    assert first.cache_creation.ephemeral_1h_input_tokens == tool_tokens
    assert first.cache_creation.ephemeral_5m_input_tokens == 1250
    assert first.cache_creation_input_tokens == tool_tokens + 1250
    assert sorted((e["ttl"], e["tokens"]) for e in fake.cache_entries) == [
        ("1h", tool_tokens),
        ("5m", tool_tokens + 1250),
    ]
    fake.advance_clock(30 * 60)
    later = client.messages.create(
        model=MODEL, max_tokens=50, tools=tools, system=cached_system(), messages=ask("Hi")
    ).usage
    assert later.cache_read_input_tokens == tool_tokens
    assert later.cache_creation.ephemeral_5m_input_tokens == 1250
    assert later.cache_creation.ephemeral_1h_input_tokens == 0


def test_caches_are_per_model(client):
    assert usage_of(client, system=cached_system()) == (3, 1250, 0)
    assert usage_of(client, "claude-opus-4-8", system=cached_system()) == (3, 1250, 0)
    assert usage_of(client, "claude-sonnet-5-20260929", system=cached_system()) == (3, 0, 1250)


def test_a_breakpoint_moving_forward_each_turn_reads_the_last_turns_prefix(client):
    def turn(text):
        return {
            "role": "user",
            "content": [{"type": "text", "text": text, "cache_control": FIVE_MINUTES}],
        }

    first = [turn(LONG)]
    assert usage_of(client, messages=first) == (0, 1250, 0)
    plain_first = {"role": "user", "content": [{"type": "text", "text": LONG}]}
    second = [plain_first, {"role": "assistant", "content": "x" * 400}, turn("y" * 40)]
    assert usage_of(client, messages=second) == (0, 100 + 10, 1250)


def test_top_level_cache_control_marks_the_last_block(client):
    history = [
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "Go on."},
    ]
    assert usage_of(client, messages=history, cache_control=FIVE_MINUTES) == (0, 1254, 0)
    longer = [
        *history,
        {"role": "assistant", "content": "More."},
        {"role": "user", "content": "Yes?"},
    ]
    assert usage_of(client, messages=longer, cache_control=FIVE_MINUTES) == (0, 3, 1254)


def test_changing_thinking_keeps_the_cached_system_but_not_the_cached_messages(client):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": LONG, "cache_control": FIVE_MINUTES}]}
    ]
    system = cached_system("s" * 4400)  # 1,100 tokens
    assert usage_of(client, system=system, messages=messages) == (0, 2350, 0)
    thinking = {"type": "adaptive"}
    assert usage_of(client, system=system, messages=messages, thinking=thinking) == (0, 1250, 1100)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {
                "system": [
                    {"type": "text", "text": f"s{i}", "cache_control": FIVE_MINUTES}
                    for i in range(5)
                ]
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
        (
            {"system": cached_system("a", FIVE_MINUTES) + cached_system("b", ONE_HOUR)},
            "system.1.cache_control.ttl: a ttl='1h' cache_control block must not come after",
        ),
        (
            {"system": cached_system("a", {"type": "ephemeral", "ttl": "10m"})},
            "system.0.cache_control.ttl: Input should be '5m' or '1h'",
        ),
        (
            {"system": cached_system("")},
            "system.0: cache_control cannot be set for empty text blocks",
        ),
        ({"cache_control": {"type": "persistent"}}, "cache_control.type: Input should be"),
    ],
)
def test_breakpoints_the_api_refuses(client, params, message):
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(model=MODEL, max_tokens=50, messages=ask("Hi"), **params)
    assert refused.value.api_message.startswith(message)


def test_count_tokens_equals_the_input_each_following_call_reports(fake, client):
    params = {
        "model": "claude-opus-4-8",
        "system": cached_system(),
        "tools": [
            {"name": "clock", "description": "The time.", "input_schema": {"type": "object"}}
        ],
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "user", "content": "What time is it?"},
            {"role": "assistant", "content": "Let me look."},
            {"role": "user", "content": [{"type": "text", "text": "Please hurry."}]},
        ],
    }
    count = client.messages.count_tokens(**params).input_tokens
    assert count > 1250
    totals = []
    for _ in range(2):  # the first writes the cache, the second reads it
        usage = client.messages.create(max_tokens=50, **params).usage
        totals.append(
            usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        )
    assert totals == [count, count]
    fake.reset()
    without_cache = {**params, "system": "Be brief."}
    count = client.messages.count_tokens(**without_cache).input_tokens
    assert client.messages.create(max_tokens=50, **without_cache).usage.input_tokens == count


def test_count_tokens_can_be_made_to_fail_until_reset(fake, client):
    fake.fail_count_tokens(529)
    with pytest.raises(anthropic.OverloadedError):
        client.messages.count_tokens(model=MODEL, messages=ask("Hi"))
    assert fake.count_tokens_calls == 1
    assert client.messages.create(model=MODEL, max_tokens=50, messages=ask("Hi")).content
    fake.reset()
    assert client.messages.count_tokens(model=MODEL, messages=ask("Hi")).input_tokens > 0


def test_the_clock_and_the_cache_over_http(fake, client):
    usage_of(client, system=cached_system())
    status, _, raw = http(fake, "GET", "/_fake/cache")
    (entry,) = json.loads(raw)
    assert entry["model"] == "claude-sonnet-5-20260929" and entry["tokens"] == 1250
    assert 299 < entry["expires_in"] <= 300
    status, _, raw = http(fake, "POST", "/_fake/clock", {"advance": 301})
    assert status == 200 and json.loads(raw)["offset"] == 301
    assert json.loads(http(fake, "GET", "/_fake/cache")[2]) == []
    status, _, raw = http(fake, "POST", "/_fake/clock", {"advance": -5})
    assert status == 400 and "forward" in json.loads(raw)["error"]
    fake.reset()
    assert json.loads(http(fake, "GET", "/_fake/clock")[2])["offset"] == 0
