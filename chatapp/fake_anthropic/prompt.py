"""A request's prompt as the fake counts and caches it: one tokenizer, one order of blocks.

The blocks come in the order the real API builds its cache prefix: tool definitions, then the
system prompt, then each message's content blocks; a structured output's schema comes before
them all (its text plus ``STRUCTURED_OUTPUT_TOKENS``), never a breakpoint itself. Each block
has a token count (one token per 4 characters of its text, rounded up, counted block by block;
images and documents as ``media.py`` counts them; a search result by its URL, title and page
text) and a chained hash of everything up to it, so a prefix is identified by the hash of its
last block. ``/v1/messages`` usage and ``count_tokens`` both add up these same blocks, so a
count equals the input a call then reports.

A breakpoint is a block with ``cache_control`` (or the last cacheable block, for the top-level
``cache_control``); the checks that the real API makes on them are here, raising ``ValueError``
with the message a 400 carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .server_tools import search_result_text

MAX_BREAKPOINTS = 4
CACHE_TTLS = {"5m": 5 * 60, "1h": 60 * 60}
# What structured output adds to the input besides the schema's own text: the instructions the
# API gives the model with it (the fake's choice of a number).
STRUCTURED_OUTPUT_TOKENS = 300
# Blocks that cannot carry a breakpoint, and that automatic caching passes over (the schema of
# a structured output is counted as a block of its own, before everything else).
_SCHEMA_TYPE = "output_config.format"
_UNCACHEABLE_TYPES = ("thinking", "redacted_thinking", _SCHEMA_TYPE)


def text_tokens(char_count: int) -> int:
    """The fake's tokenizer: one token per 4 characters, rounded up."""
    return -(-char_count // 4)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_NO_MEDIA: Mapping[int, int] = {}


def block_tokens(block: Any, media: Mapping[int, int] = _NO_MEDIA) -> int:
    """A content block's input tokens: its text's, plus its images' and documents' (``media``:
    the tokens of each image or document block, by ``id()``, as ``media.read_media`` counts
    them)."""
    return text_tokens(len(block_text(block, media))) + _media_tokens(block, media)


def _media_tokens(block: Any, media: Mapping[int, int]) -> int:
    if not isinstance(block, dict):
        return 0
    if id(block) in media:
        return media[id(block)]
    content = block.get("content")
    return sum(_media_tokens(inner, media) for inner in content) if isinstance(content, list) else 0


def block_text(block: Any, media: Mapping[int, int] = _NO_MEDIA) -> str:
    """The text a content block is counted by, leaving out the blocks in ``media``."""
    if not isinstance(block, dict) or id(block) in media:
        return ""
    parts = [block[key] for key in ("text", "thinking") if isinstance(block.get(key), str)]
    if "input" in block:
        parts.append(_canonical(block["input"]))
    if block.get("type") == "web_search_result":
        parts.append(search_result_text(block))
    elif block.get("type") == "web_fetch_result" and isinstance(block.get("url"), str):
        parts.append(block["url"])
    content = block.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(block_text(inner, media) for inner in content)
    elif isinstance(content, dict):
        parts.append(block_text(content, media))
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "text":
        parts.append(str(source.get("data", "")))
    parts.extend(str(block[key]) for key in ("title", "context") if block.get(key))
    return "".join(parts)


def _tool_text(tool: dict[str, Any]) -> str:
    return _canonical({key: value for key, value in tool.items() if key != "cache_control"})


@dataclass(frozen=True)
class PromptBlock:
    where: str  # how an error names it: "system.0", "messages.2.content.1", "tools.0"
    tokens: int
    prefix_tokens: int  # this block and all before it
    prefix_key: str  # chained hash of this block and all before it
    ttl: str | None  # the cache_control TTL of a breakpoint, else None


@dataclass(frozen=True)
class Prompt:
    blocks: tuple[PromptBlock, ...]

    @property
    def tokens(self) -> int:
        """The whole input, as count_tokens reports it (never 0, like the real API)."""
        return max(1, self.blocks[-1].prefix_tokens if self.blocks else 0)

    @property
    def breakpoints(self) -> list[PromptBlock]:
        return [block for block in self.blocks if block.ttl is not None]


def _as_blocks(content: Any) -> list[Any]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _ttl(where: str, control: Any) -> str:
    """The TTL of a ``cache_control`` object (``where`` names the object itself)."""
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise ValueError(f"{where}.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in CACHE_TTLS:
        raise ValueError(f"{where}.ttl: Input should be '5m' or '1h'")
    return ttl


def _cache_ttl(where: str, block: Any) -> str | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    if control is None:
        return None
    ttl = _ttl(f"{where}.cache_control", control)
    if block.get("type") in _UNCACHEABLE_TYPES:
        raise ValueError(f"{where}.cache_control: {block['type']} blocks cannot be cached")
    if block.get("type") == "text" and not block.get("text"):
        raise ValueError(f"{where}: cache_control cannot be set for empty text blocks")
    return ttl


def build_prompt(body: dict[str, Any], media: Mapping[int, int] = _NO_MEDIA) -> Prompt:
    """The prompt of a request already checked for shape (``validation.py``); ``media`` as for
    ``block_tokens``."""
    # Changing thinking or tool_choice invalidates the cached messages, not tools or system.
    messages_marker = _canonical([body.get("thinking"), body.get("tool_choice")])
    entries: list[tuple[str, int, str, Any]] = []  # (where, tokens, hashed text, block)
    output_format = (body.get("output_config") or {}).get("format")
    if isinstance(output_format, dict) and isinstance(output_format.get("schema"), dict):
        text = _canonical(output_format["schema"])
        tokens = text_tokens(len(text)) + STRUCTURED_OUTPUT_TOKENS
        entries.append((_SCHEMA_TYPE, tokens, "format:" + text, {"type": _SCHEMA_TYPE}))
    for index, tool in enumerate(body.get("tools") or []):
        text = _tool_text(tool)
        entries.append((f"tools.{index}", text_tokens(len(text)), "tool:" + text, tool))
    system = body.get("system")
    if system:
        for index, block in enumerate(_as_blocks(system)):
            hashed = "system:" + _hashed(block)
            entries.append((f"system.{index}", block_tokens(block), hashed, block))
    for position, message in enumerate(body["messages"]):
        for index, block in enumerate(_as_blocks(message["content"])):
            where = f"messages.{position}.content.{index}"
            hashed = f"{message['role']}:{_hashed(block)}"
            if position == 0 and index == 0:
                hashed = messages_marker + hashed
            entries.append((where, block_tokens(block, media), hashed, block))

    ttls = [_cache_ttl(where, block) for where, _, _, block in entries]
    automatic = body.get("cache_control")
    if automatic is not None:
        ttl = _ttl("cache_control", automatic)
        last = _last_cacheable(entries)
        if last is not None and ttls[last] is None:
            ttls[last] = ttl
    _check_breakpoints(entries, ttls)

    blocks = []
    total, key = 0, hashlib.sha256()
    for (where, tokens, hashed, _), ttl in zip(entries, ttls, strict=True):
        total += tokens
        key.update(hashed.encode())
        key.update(b"\0")
        blocks.append(PromptBlock(where, tokens, total, key.copy().hexdigest(), ttl))
    return Prompt(tuple(blocks))


def _hashed(block: Any) -> str:
    if isinstance(block, dict):
        block = {key: value for key, value in block.items() if key != "cache_control"}
    return _canonical(block)


def _last_cacheable(entries: list[tuple[str, int, str, Any]]) -> int | None:
    for position in range(len(entries) - 1, -1, -1):
        block = entries[position][3]
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _UNCACHEABLE_TYPES and not (kind == "text" and not block.get("text")):
            return position
    return None


def _check_breakpoints(entries: list[tuple[str, int, str, Any]], ttls: list[str | None]) -> None:
    found = [(entries[i][0], ttl) for i, ttl in enumerate(ttls) if ttl is not None]
    if len(found) > MAX_BREAKPOINTS:
        raise ValueError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(found)}."
        )
    seen_5m = False
    for where, ttl in found:
        if ttl == "1h" and seen_5m:
            raise ValueError(
                f"{where}.cache_control.ttl: a ttl='1h' cache_control block must not come after "
                "a ttl='5m' cache_control block. Note that blocks are processed in the following "
                "order: `tools`, `system`, `messages`."
            )
        seen_5m = seen_5m or ttl == "5m"
