"""Prompt caching as the real API does it, by prefix, on a clock the tests can move.

Each breakpoint whose prefix is long enough for the model writes that prefix to the cache; a
later request reads the longest live prefix it finds at one of its breakpoints or up to 20 blocks
before one (so a breakpoint that moves forward each turn reads the previous turn's prefix and
writes only the new part). A read refreshes the entry's TTL. Entries are per model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .prompt import CACHE_TTLS, Prompt

LOOKBACK_BLOCKS = 20


class FakeClock:
    """Wall time plus an offset that ``POST /_fake/clock`` moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset += seconds

    def reset(self) -> None:
        self.offset = 0.0


@dataclass(frozen=True)
class CacheUsage:
    """How a prompt's tokens split, as the usage fields report them."""

    uncached: int
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def total(self) -> int:
        return self.uncached + self.read + self.write_5m + self.write_1h

    def usage_fields(self) -> dict[str, Any]:
        return {
            "input_tokens": self.uncached,
            "cache_creation_input_tokens": self.write_5m + self.write_1h,
            "cache_read_input_tokens": self.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.write_5m,
                "ephemeral_1h_input_tokens": self.write_1h,
            },
        }


@dataclass
class _Entry:
    model: str
    tokens: int
    ttl: str
    expires_at: float


class PromptCache:
    """Touched only from the server's event loop."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}

    def clear(self) -> None:
        self._entries.clear()

    def entries(self) -> list[dict[str, Any]]:
        """The live entries, for tests: model, prefix tokens, TTL, seconds left."""
        now = self._clock.now()
        return [
            {
                "model": entry.model,
                "tokens": entry.tokens,
                "ttl": entry.ttl,
                "expires_in": entry.expires_at - now,
            }
            for entry in self._entries.values()
            if entry.expires_at > now
        ]

    def use(self, model: str, prompt: Prompt, minimum: int) -> CacheUsage:
        """Read the longest cached prefix, write the breakpoints beyond it, say what was what."""
        breakpoints = [b for b in prompt.breakpoints if b.prefix_tokens >= minimum]
        if not breakpoints:
            return CacheUsage(uncached=prompt.tokens)
        now = self._clock.now()
        self._entries = {key: e for key, e in self._entries.items() if e.expires_at > now}

        blocks = prompt.blocks
        hit: _Entry | None = None
        read = 0
        for breakpoint in breakpoints:
            position = blocks.index(breakpoint)
            for earlier in blocks[max(0, position - LOOKBACK_BLOCKS + 1) : position + 1][::-1]:
                if earlier.prefix_tokens <= read:
                    break
                if entry := self._entries.get((model, earlier.prefix_key)):
                    hit, read = entry, earlier.prefix_tokens
                    break
        if hit is not None:
            hit.expires_at = now + CACHE_TTLS[hit.ttl]

        covered = read
        written = dict.fromkeys(CACHE_TTLS, 0)
        for breakpoint in breakpoints:
            if breakpoint.prefix_tokens <= covered:
                continue
            written[breakpoint.ttl] += breakpoint.prefix_tokens - covered
            covered = breakpoint.prefix_tokens
            self._entries[(model, breakpoint.prefix_key)] = _Entry(
                model, covered, breakpoint.ttl, now + CACHE_TTLS[breakpoint.ttl]
            )
        return CacheUsage(
            uncached=prompt.tokens - covered,
            read=read,
            write_5m=written["5m"],
            write_1h=written["1h"],
        )
