"""The cost function against hand-computed cases, token kind by token kind, and web
searches on top of the tokens."""

from dataclasses import replace
from decimal import Decimal

import pytest

from chatapp.usage.pricing import (
    LEDGER_FIELDS,
    SERVER_TOOL_FIELDS,
    TOKEN_FIELDS,
    Prices,
    TokenUsage,
    cache_savings,
    cost_of,
    most_it_can_cost,
)

# claude-sonnet-5: $3 in, $15 out; cache writes 1.25x / 2x input, reads 0.1x.
SONNET = Prices(
    input=Decimal("3"),
    output=Decimal("15"),
    cache_write_5m=Decimal("3.75"),
    cache_write_1h=Decimal("6"),
    cache_read=Decimal("0.30"),
)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (TokenUsage(input_tokens=1_000_000), "3"),
        (TokenUsage(output_tokens=1_000_000), "15"),
        (TokenUsage(cache_write_5m_tokens=1_000_000), "3.75"),
        (TokenUsage(cache_write_1h_tokens=1_000_000), "6"),
        (TokenUsage(cache_read_input_tokens=1_000_000), "0.30"),
        # 1 token of each kind: (3 + 15 + 3.75 + 6 + 0.30) / 1e6, to the last digit.
        (
            TokenUsage(1, 1, 1, 1, 1),
            "0.00002805",
        ),
        (TokenUsage(input_tokens=11, output_tokens=6), "0.000123"),
    ],
)
def test_each_token_kind_has_its_own_rate(usage, expected):
    assert cost_of(usage, SONNET) == Decimal(expected)


def test_batch_calls_cost_half():
    usage = TokenUsage(input_tokens=2_000, output_tokens=1_000)
    assert cost_of(usage, SONNET, batch=True) == Decimal("0.0105")  # (0.006 + 0.015) / 2


def test_cached_tokens_are_not_counted_in_input_again():
    """The API's input_tokens is only the uncached remainder: adding the cache tokens
    into it would bill them twice (a known bug in other chat apps)."""
    usage = TokenUsage.from_api(
        {
            "input_tokens": 25,
            "cache_creation_input_tokens": 10,
            "cache_read_input_tokens": 5,
            "output_tokens": 8,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 0},
        }
    )
    assert usage.input_tokens == 25
    assert usage.total_input_tokens == 40
    # 25*3 + 10*3.75 + 5*0.30 + 8*15 = 75 + 37.5 + 1.5 + 120 = 234 per million
    assert cost_of(usage, SONNET) == Decimal("0.000234")


def test_cache_writes_are_split_into_5_minute_and_1_hour():
    usage = TokenUsage.from_api(
        {
            "input_tokens": 0,
            "cache_creation_input_tokens": 300,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        }
    )
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (100, 200)
    assert cost_of(usage, SONNET) == Decimal("0.001575")  # (100*3.75 + 200*6) / 1e6


def test_cache_writes_without_a_split_are_5_minute_writes():
    usage = TokenUsage.from_api({"input_tokens": 11, "cache_creation_input_tokens": 3})
    assert (usage.cache_write_5m_tokens, usage.cache_write_1h_tokens) == (3, 0)


def test_output_includes_thinking_tokens():
    """The refusal recording: 120 output tokens of which 67 thinking, billed as 120."""
    usage = TokenUsage.from_api(
        {"input_tokens": 20, "output_tokens": 120, "output_tokens_details": {"thinking_tokens": 67}}
    )
    assert cost_of(usage, SONNET) == Decimal("0.00186")  # (20*3 + 120*15) / 1e6


def test_missing_and_null_fields_count_as_zero():
    usage = TokenUsage.from_api({"output_tokens": 4, "cache_read_input_tokens": None})
    assert usage == TokenUsage(output_tokens=4)


def test_cache_savings_are_reads_saved_less_the_write_premium():
    usage = TokenUsage(cache_read_input_tokens=1_000_000, cache_write_5m_tokens=100_000)
    # reads: 1M * (3 - 0.30) = 2.70; writes cost 100k * (3.75 - 3) = 0.075 more
    assert cache_savings(usage, SONNET) == Decimal("2.625")


def test_the_worst_case_covers_any_input_at_the_highest_input_rate():
    worst = most_it_can_cost(input_tokens_at_most=1_000, max_tokens=2_000, prices=SONNET)
    assert worst == Decimal("0.036")  # 1000 * 6 (1-hour write) + 2000 * 15, per million
    actual = cost_of(TokenUsage(cache_write_1h_tokens=1_000, output_tokens=2_000), SONNET)
    assert actual <= worst


# --- web searches: $10 per 1,000 on top of the tokens; web fetches cost only tokens ------


def test_prices_carry_the_apis_web_search_price_unless_given_another():
    assert SONNET.web_search_per_1k == Decimal("10.00")


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (TokenUsage(web_search_requests=1), "0.01"),
        (TokenUsage(web_search_requests=1_000), "10"),
        # 11*3 + 6*15 per million, and 3 searches at a cent each.
        (TokenUsage(input_tokens=11, output_tokens=6, web_search_requests=3), "0.030123"),
        # A fetch costs the tokens it brings in, and nothing of its own.
        (TokenUsage(input_tokens=11, output_tokens=6, web_fetch_requests=5), "0.000123"),
    ],
)
def test_each_web_search_costs_its_price_per_1000_on_top_of_the_tokens(usage, expected):
    assert cost_of(usage, SONNET) == Decimal(expected)


def test_a_changed_search_price_is_used_to_the_last_digit():
    dearer = replace(SONNET, web_search_per_1k=Decimal("12.345678"))
    usage = TokenUsage(output_tokens=1, web_search_requests=7)
    # 15 / 1e6 + 7 * 12.345678 / 1000
    assert cost_of(usage, dearer) == Decimal("0.000015") + Decimal("0.086419746")


def test_the_batch_multiplier_halves_the_tokens_not_the_searches():
    usage = TokenUsage(input_tokens=2_000, output_tokens=1_000, web_search_requests=2)
    assert cost_of(usage, SONNET, batch=True) == Decimal("0.0105") + Decimal("0.02")


def test_server_tool_requests_are_read_from_the_apis_usage_block():
    usage = TokenUsage.from_api(
        {
            "input_tokens": 40,
            "output_tokens": 9,
            "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 2},
        }
    )
    assert (usage.web_search_requests, usage.web_fetch_requests) == (3, 2)
    assert usage.total_input_tokens == 40  # requests are not tokens
    for block in (
        {},
        {"server_tool_use": None},
        {"server_tool_use": {"web_search_requests": None}},
    ):
        assert TokenUsage.from_api(block) == TokenUsage()


def test_one_declaration_names_the_token_kinds_and_the_request_counts_apart():
    assert TOKEN_FIELDS == (
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_input_tokens",
    )
    assert SERVER_TOOL_FIELDS == ("web_search_requests", "web_fetch_requests")
    assert LEDGER_FIELDS == TOKEN_FIELDS + SERVER_TOOL_FIELDS


def test_the_worst_case_holds_as_many_searches_as_the_call_may_make():
    worst = most_it_can_cost(
        input_tokens_at_most=1_000, max_tokens=2_000, web_searches_at_most=5, prices=SONNET
    )
    assert worst == Decimal("0.036") + Decimal("0.05")
    used_them_all = TokenUsage(
        cache_write_1h_tokens=1_000, output_tokens=2_000, web_search_requests=5
    )
    assert cost_of(used_them_all, SONNET) == worst
    assert most_it_can_cost(input_tokens_at_most=1_000, max_tokens=2_000, prices=SONNET) == Decimal(
        "0.036"
    )  # no searches unless asked for
