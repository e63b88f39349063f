"""What a call costs: pure functions on Decimals, no database. The one place where a
token becomes money."""

from dataclasses import dataclass, fields
from decimal import Decimal

PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Prices:
    """USD per million tokens of each kind, and the Batch API's multiplier."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    batch_multiplier: Decimal = Decimal("0.5")

    @property
    def highest_input_rate(self) -> Decimal:
        return max(self.input, self.cache_write_5m, self.cache_write_1h, self.cache_read)


@dataclass
class TokenUsage:
    """A call's tokens, by the kinds it is billed for: the one declaration of them (the
    ledger's columns, its daily roll-up's and the report's sums all follow it).
    `input_tokens` is the uncached remainder only: cache writes and reads are counted
    apart and never added into it. Output includes thinking."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @classmethod
    def from_api(cls, usage: dict, cache_creation: dict | None = None) -> "TokenUsage":
        """From the API's usage block. Cache writes are split by `cache_creation`
        (ephemeral_5m / ephemeral_1h) where the API gives it; a write it does not
        split is a 5-minute write, the API's default lifetime."""
        cache_creation = cache_creation or usage.get("cache_creation") or {}
        written = usage.get("cache_creation_input_tokens") or 0
        one_hour = cache_creation.get("ephemeral_1h_input_tokens") or 0
        return cls(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_write_5m_tokens=max(written - one_hour, 0),
            cache_write_1h_tokens=one_hour,
            cache_read_input_tokens=usage.get("cache_read_input_tokens") or 0,
        )


TOKEN_FIELDS = tuple(field.name for field in fields(TokenUsage))


def cost_of(usage: TokenUsage, prices: Prices, *, batch: bool = False) -> Decimal:
    """The exact cost in USD."""
    total = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_write_5m_tokens * prices.cache_write_5m
        + usage.cache_write_1h_tokens * prices.cache_write_1h
        + usage.cache_read_input_tokens * prices.cache_read
    ) / PER_MILLION
    if batch:
        total *= prices.batch_multiplier
    return total


def cache_savings(usage: TokenUsage, prices: Prices) -> Decimal:
    """What the cache reads saved against paying the full input price for them, less what
    the cache writes cost above it."""
    read_saving = usage.cache_read_input_tokens * (prices.input - prices.cache_read)
    write_premium = usage.cache_write_5m_tokens * (
        prices.cache_write_5m - prices.input
    ) + usage.cache_write_1h_tokens * (prices.cache_write_1h - prices.input)
    return (read_saving - write_premium) / PER_MILLION


def most_it_can_cost(*, input_tokens_at_most: int, max_tokens: int, prices: Prices) -> Decimal:
    """An upper bound on a call's cost, reserved against the budget before it is made."""
    return (
        input_tokens_at_most * prices.highest_input_rate + max_tokens * prices.output
    ) / PER_MILLION
