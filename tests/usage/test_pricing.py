"""The cost function against hand-computed cases, token kind by token kind."""

from decimal import Decimal

import pytest

from chatapp.usage.pricing import (
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
