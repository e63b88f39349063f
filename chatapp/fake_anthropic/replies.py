"""What a reply says and how it goes on the wire: the plan, decided before anything is sent, and
its SSE frames in the real API's order.

Nothing here does I/O. The per-event path is kept cheap for benchmarks: frames are encoded once
and cached per text piece.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .caching import CacheUsage
from .scenarios import (
    ReplyScenario,
    demo_reply,
    filler_tokens,
    recording_events,
    split_tokens,
)
from .thinking import default_thinking, redacted_data, sign
from .validation import MessagesRequest

DEFAULT_CONTINUATION = "…and that is the rest of the answer."
_ID_ALPHABET = string.ascii_letters + string.digits


def random_id(prefix: str) -> str:
    return prefix + "".join(random.choices(_ID_ALPHABET, k=24))


@dataclass
class Block:
    kind: str  # "thinking", "redacted_thinking" or "text"
    deltas: list[str]
    text: str  # the text shown; a redacted block's data
    signature: str = ""

    def whole(self) -> dict[str, Any]:
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        if self.kind == "redacted_thinking":
            return {"type": "redacted_thinking", "data": self.text}
        return {"type": "text", "text": self.text}


@dataclass
class ReplyPlan:
    """One reply, decided before anything is sent."""

    message_id: str
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    stop_details: dict[str, Any] | None
    usage: dict[str, Any]
    first_token_delay: float
    token_delay: float

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.blocks if block.kind == "text")

    def message(self) -> dict[str, Any]:
        """The whole Message, as a non-streaming request gets it."""
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [block.whole() for block in self.blocks],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }
        if self.stop_details is not None:
            message["stop_details"] = self.stop_details
        return message


def _cut_at_stop_sequence(tokens: list[str], stops: list[str]) -> tuple[list[str], str | None]:
    text = "".join(tokens)
    found = [(text.find(stop), stop) for stop in stops if stop in text]
    if not found:
        return tokens, None
    cut, stop = min(found)
    kept: list[str] = []
    length = 0
    for token in tokens:
        if length + len(token) >= cut:
            if cut > length:
                kept.append(token[: cut - length])
            break
        kept.append(token)
        length += len(token)
    return kept, stop


def _chunked(tokens: list[str] | tuple[str, ...], size: int) -> list[str]:
    if size == 1:
        return list(tokens)
    return ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]


def _merged_usage(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    usage = {**base, "cache_creation": dict(base["cache_creation"])}
    if not overrides:
        return usage
    for key, value in overrides.items():
        if key == "cache_creation":
            usage["cache_creation"].update(value)
        else:
            usage[key] = value
    split = usage["cache_creation"]
    if "cache_creation_input_tokens" in overrides and "cache_creation" not in overrides:
        split["ephemeral_5m_input_tokens"] = usage["cache_creation_input_tokens"]
        split["ephemeral_1h_input_tokens"] = 0
    elif "cache_creation" in overrides and "cache_creation_input_tokens" not in overrides:
        usage["cache_creation_input_tokens"] = sum(split.values())
    return usage


def _text_tokens(
    scenario: ReplyScenario,
    req: MessagesRequest,
    continuation: str | None,
    reply_tokens: int | None,
) -> list[str]:
    if continuation is not None:
        return split_tokens(continuation)
    if scenario.text is not None:
        return split_tokens(scenario.text)
    if scenario.tokens is not None:
        return list(filler_tokens(scenario.tokens))
    if scenario.stop_reason == "refusal":
        return []  # like the recorded refusal: an empty text block, billed output
    if reply_tokens is not None:
        return list(filler_tokens(reply_tokens))
    return split_tokens(demo_reply(req.user_text))


def _stop_sequence(scenario: ReplyScenario, req: MessagesRequest) -> str | None:
    if scenario.stop_sequence is not None or scenario.stop_reason != "stop_sequence":
        return scenario.stop_sequence
    if not req.stop_sequences:
        raise ValueError(
            "a stop_sequence reply needs the scenario's 'stop_sequence' or the request's "
            "stop_sequences"
        )
    return req.stop_sequences[0]


def build_plan(
    scenario: ReplyScenario | None,
    req: MessagesRequest,
    *,
    cache: CacheUsage,
    continuation: str | None = None,
    reply_tokens: int | None = None,
    first_token_delay: float = 0.0,
    token_delay: float = 0.0,
) -> ReplyPlan:
    """Decide the reply: thinking, text, where it stops (stop sequence, max_tokens, the context
    window, the scenario's stop reason), and its usage. ``ValueError``: the scenario cannot
    answer this request."""
    scenario = scenario or ReplyScenario()
    text_tokens = _text_tokens(scenario, req, continuation, reply_tokens)
    thinking = req.thinking
    hidden_thinking = ""
    if thinking is not None:
        hidden_thinking = scenario.thinking
        if hidden_thinking is None:
            hidden_thinking = default_thinking(req.user_text)
    thinking_tokens = split_tokens(hidden_thinking)

    stop_reason = scenario.stop_reason or "end_turn"
    stop_sequence = _stop_sequence(scenario, req)
    if stop_sequence is not None:
        stop_reason = "stop_sequence"
    text_tokens, found_stop = _cut_at_stop_sequence(text_tokens, req.stop_sequences)
    if found_stop is not None:
        stop_reason, stop_sequence = "stop_sequence", found_stop
    room = req.model["max_input_tokens"] - req.input_tokens
    limit = min(req.max_tokens, room)
    if len(thinking_tokens) + len(text_tokens) > limit:
        thinking_tokens = thinking_tokens[:limit]
        text_tokens = text_tokens[: limit - len(thinking_tokens)]
        stop_reason = "max_tokens" if limit == req.max_tokens else "model_context_window_exceeded"
        stop_sequence = None

    blocks = []
    if thinking_tokens:
        shown = thinking_tokens if thinking.display == "summarized" else []
        thinking_text = "".join(shown)
        deltas = _chunked(shown, scenario.chunk)
        blocks.append(Block("thinking", deltas, thinking_text, sign(thinking_text)))
    if thinking is not None and scenario.redacted_thinking:
        blocks.append(Block("redacted_thinking", [], redacted_data()))
    if text_tokens or not thinking_tokens or stop_reason != "max_tokens":
        blocks.append(Block("text", _chunked(text_tokens, scenario.chunk), "".join(text_tokens)))

    stop_details = dict(scenario.stop_details) if scenario.stop_details else None
    if stop_reason == "refusal" and stop_details is None:
        stop_details = {"type": "refusal", "category": None, "explanation": None}
    base_usage = {
        **cache.usage_fields(),
        "output_tokens": len(thinking_tokens) + len(text_tokens),
        "service_tier": "standard",
    }
    return ReplyPlan(
        message_id=random_id("msg_01"),
        model=req.model_id,
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        stop_details=stop_details,
        usage=_merged_usage(base_usage, dict(scenario.usage) if scenario.usage else None),
        first_token_delay=pick(scenario.first_token_delay, first_token_delay),
        token_delay=pick(scenario.token_delay, token_delay),
    )


def pick(value: float | None, default: float) -> float:
    return default if value is None else value


# --- frames --------------------------------------------------------------------------------------


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sse_frame(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {_json(data)}\n\n".encode()


PING_FRAME = b'event: ping\ndata: {"type": "ping"}\n\n'
MESSAGE_STOP_FRAME = sse_frame("message_stop", {"type": "message_stop"})
_DELTA_FIELDS = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking")}


@lru_cache(maxsize=8192)
def _delta_frame(index: int, kind: str, piece: str) -> bytes:
    delta_type, key = _DELTA_FIELDS[kind]
    return sse_frame(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, key: piece}},
    )


def _block_start_frame(index: int, block: Block) -> bytes:
    """A text or thinking block starts empty; a redacted one arrives whole."""
    start = block.whole() if block.kind == "redacted_thinking" else _EMPTY_BLOCKS[block.kind]
    return sse_frame(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": start},
    )


_EMPTY_BLOCKS = {
    "text": {"type": "text", "text": ""},
    "thinking": {"type": "thinking", "thinking": "", "signature": ""},
}


@lru_cache(maxsize=16)
def _block_stop_frame(index: int) -> bytes:
    return sse_frame("content_block_stop", {"type": "content_block_stop", "index": index})


# Frame roles in a stream, for pacing and for where a disruption may happen.
START, OTHER, DELTA, FINAL = range(4)


def stream_frames(plan: ReplyPlan) -> Iterator[tuple[bytes, int]]:
    """The reply as SSE frames, in the real API's order, each tagged with its role."""
    message = plan.message()
    message["content"] = []
    message["stop_reason"] = None
    message["stop_sequence"] = None
    message.pop("stop_details", None)
    message["usage"] = {**plan.usage, "output_tokens": 1}
    yield sse_frame("message_start", {"type": "message_start", "message": message}), START
    for index, block in enumerate(plan.blocks):
        yield _block_start_frame(index, block), OTHER
        if index == 0:
            yield PING_FRAME, OTHER
        for piece in block.deltas:
            yield _delta_frame(index, block.kind, piece), DELTA
        if block.kind == "thinking":
            signature = {"type": "signature_delta", "signature": block.signature}
            yield (
                sse_frame(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": signature},
                ),
                OTHER,
            )
        yield _block_stop_frame(index), OTHER
    usage = {
        key: plan.usage[key]
        for key in (
            "output_tokens",
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        )
    }
    delta: dict[str, Any] = {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence}
    if plan.stop_details is not None:
        delta["stop_details"] = plan.stop_details
    yield (
        sse_frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}),
        FINAL,
    )
    yield MESSAGE_STOP_FRAME, OTHER


def accumulate_recording(name: str) -> dict[str, Any]:
    """The Message a recording adds up to, for a non-streaming request that names it."""
    message: dict[str, Any] = {}
    json_parts: dict[int, str] = {}
    for frame in recording_events(name):
        data_lines = [
            line[len("data:") :].strip()
            for line in frame.decode().splitlines()
            if line.startswith("data:")
        ]
        if not data_lines:
            continue
        event = json.loads("\n".join(data_lines))
        if event["type"] == "message_start":
            message = event["message"]
        elif event["type"] == "content_block_start":
            message["content"].append(event["content_block"])
        elif event["type"] == "content_block_delta":
            block, delta = message["content"][event["index"]], event["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                json_parts[event["index"]] = (
                    json_parts.get(event["index"], "") + delta["partial_json"]
                )
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif delta["type"] == "signature_delta":
                block["signature"] = delta["signature"]
        elif event["type"] == "message_delta":
            message.update(event["delta"])
            message["usage"] = {**message.get("usage", {}), **event["usage"]}
    for index, partial in json_parts.items():
        message["content"][index]["input"] = json.loads(partial) if partial else {}
    return message
