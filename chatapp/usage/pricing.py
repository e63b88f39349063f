"""What a call costs: pure functions on Decimals, no database. The one place where a
token, or a web search, becomes money."""

from dataclasses import dataclass, field, fields
from decimal import Decimal

PER_MILLION = Decimal(1_000_000)
PER_THOUSAND = Decimal(1_000)
# The API's price of web searches, per 1,000 (ANTHROPIC_NOTES.md): a price row's default.
WEB_SEARCH_PER_1K = Decimal("10.00")


@dataclass(frozen=True)
class Prices:
    """USD per million tokens of each kind, USD per 1,000 web searches, and the Batch
    API's multiplier (on tokens only: a search is priced on top of the tokens, batch or
    not)."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    batch_multiplier: Decimal = Decimal("0.5")
    web_search_per_1k: Decimal = WEB_SEARCH_PER_1K

    @property
    def highest_input_rate(self) -> Decimal:
        return max(self.input, self.cache_write_5m, self.cache_write_1h, self.cache_read)


# Marks a field of TokenUsage that counts server-tool requests, not tokens.
_SERVER_TOOL = {"server_tool": True}


def _token_kind(label: str):
    """A field of TokenUsage that counts tokens, with its column's name in the report."""
    return field(default=0, metadata={"label": label})


@dataclass
class TokenUsage:
    """What a call used, by the kinds it is billed for: the one declaration of them (the
    ledger's columns, its daily roll-up's and the report's sums all follow it). Tokens
    first; then the server tools' requests (the API's `usage.server_tool_use`), which the
    same call bills, so that one value costs the whole call.
    `input_tokens` is the uncached remainder only: cache writes and reads are counted
    apart and never added into it. Output includes thinking. A web search costs its own
    price on top of the tokens; a web fetch costs only the tokens it brings in."""

    input_tokens: int = _token_kind("input tokens")
    output_tokens: int = _token_kind("output tokens")
    cache_write_5m_tokens: int = _token_kind("cache write 5m tokens")
    cache_write_1h_tokens: int = _token_kind("cache write 1h tokens")
    cache_read_input_tokens: int = _token_kind("cache read tokens")
    web_search_requests: int = field(default=0, metadata=_SERVER_TOOL)
    web_fetch_requests: int = field(default=0, metadata=_SERVER_TOOL)

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
        server_tools = usage.get("server_tool_use") or {}
        return cls(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_write_5m_tokens=max(written - one_hour, 0),
            cache_write_1h_tokens=one_hour,
            cache_read_input_tokens=usage.get("cache_read_input_tokens") or 0,
            **{name: server_tools.get(name) or 0 for name in SERVER_TOOL_FIELDS},
        )


# The token kinds (what "tokens" add up), the server tools' request counts, and both: every
# count the ledger keeps of a call.
TOKEN_FIELDS = tuple(f.name for f in fields(TokenUsage) if not f.metadata.get("server_tool"))
SERVER_TOOL_FIELDS = tuple(f.name for f in fields(TokenUsage) if f.metadata.get("server_tool"))
LEDGER_FIELDS = TOKEN_FIELDS + SERVER_TOOL_FIELDS
# The report's name for each token kind, in the order of TOKEN_FIELDS.
TOKEN_LABELS = {f.name: f.metadata["label"] for f in fields(TokenUsage) if f.name in TOKEN_FIELDS}


def cost_of(usage: TokenUsage, prices: Prices, *, batch: bool = False) -> Decimal:
    """The exact cost in USD: the tokens (at the Batch API's multiplier for a batch call)
    and the web searches."""
    tokens = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_write_5m_tokens * prices.cache_write_5m
        + usage.cache_write_1h_tokens * prices.cache_write_1h
        + usage.cache_read_input_tokens * prices.cache_read
    ) / PER_MILLION
    if batch:
        tokens *= prices.batch_multiplier
    return tokens + web_search_cost(usage.web_search_requests, prices)


def web_search_cost(searches: int, prices: Prices) -> Decimal:
    return searches * prices.web_search_per_1k / PER_THOUSAND


def cache_savings(usage: TokenUsage, prices: Prices) -> Decimal:
    """What the cache reads saved against paying the full input price for them, less what
    the cache writes cost above it."""
    read_saving = usage.cache_read_input_tokens * (prices.input - prices.cache_read)
    write_premium = usage.cache_write_5m_tokens * (
        prices.cache_write_5m - prices.input
    ) + usage.cache_write_1h_tokens * (prices.cache_write_1h - prices.input)
    return (read_saving - write_premium) / PER_MILLION


def most_it_can_cost(
    *,
    input_tokens_at_most: int,
    max_tokens: int,
    prices: Prices,
    web_searches_at_most: int = 0,
    batch: bool = False,
) -> Decimal:
    """An upper bound on a call's cost, reserved against the budget before it is made: its
    tokens at the dearest rates (at the Batch API's multiplier for a batch call), and as
    many web searches as it may make."""
    tokens = (
        input_tokens_at_most * prices.highest_input_rate + max_tokens * prices.output
    ) / PER_MILLION
    if batch:
        tokens *= prices.batch_multiplier
    return tokens + web_search_cost(web_searches_at_most, prices)
