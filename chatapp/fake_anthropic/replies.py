"""What a reply says and how it goes on the wire: the plan, decided before anything is sent, and
its SSE frames in the real API's order.

A plan's blocks: thinking (when asked for), then what the reply says (``answers.py`` for one
that cites or uses server tools, JSON made from the schema for a structured output, else text),
cut at a stop sequence, at ``max_tokens`` or at the end of the context window. Nothing here
does I/O. The per-event path is kept cheap for benchmarks: frames are encoded once and cached
per text piece.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .answers import (
    Answer,
    ToolScript,
    cite_answer,
    default_script,
    run_script,
    script_for,
)
from .blocks import Block, random_id, text_block
from .caching import CacheUsage
from .prompt import block_tokens
from .scenarios import (
    CiteScenario,
    ReplyScenario,
    WebFetchScenario,
    WebSearchScenario,
    demo_reply,
    filler_tokens,
    recording_events,
    split_tokens,
    strip_inline_directives,
)
from .structured import example_value
from .thinking import default_thinking, redacted_data, sign
from .validation import MessagesRequest

__all__ = ["random_id"]  # the server's request ids come from here too

DEFAULT_CONTINUATION = "…and that is the rest of the answer."
# What a paused turn sent back continues with: the rest of a tool script, or text.
Continuation = ToolScript | str


@dataclass
class ReplyPlan:
    """One reply, decided before anything is sent."""

    message_id: str
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    stop_details: dict[str, Any] | None
    usage: dict[str, Any]  # as message_delta and the whole message give it
    start_usage: dict[str, Any]  # as message_start gives it
    first_token_delay: float
    token_delay: float
    chunk: int = 1
    rest: ToolScript | None = None  # what a pause_turn's continuation does

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.blocks if block.kind == "text")

    def deltas(self, block: Block) -> list[str]:
        return _chunked(block.tokens, self.chunk)

    @property
    def delta_count(self) -> int:
        return sum(len(self.deltas(block)) for block in self.blocks)

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


def _cut_at_stop(blocks: list[Block], stops: list[str]) -> tuple[list[Block], str | None]:
    """The blocks up to the first stop sequence in a text block, cut before it."""
    for position, block in enumerate(blocks):
        if block.kind == "text":
            kept, stop = _cut_at_stop_sequence(block.tokens, stops)
            if stop is not None:
                block.tokens = kept
                return blocks[: position + 1], stop
    return blocks, None


def _fit(blocks: list[Block], limit: int) -> tuple[list[Block], bool]:
    """The blocks that fit in ``limit`` output tokens (the last one cut), and whether any
    were cut. A server tool call is never cut in half: it is left out whole."""
    used = 0
    kept: list[Block] = []
    for block in blocks:
        cost = block.output_tokens
        if used + cost <= limit:
            kept.append(block)
            used += cost
            continue
        room = limit - used
        if room > 0 and block.kind in ("thinking", "text"):
            if block.hidden:
                block.hidden = room
            else:
                block.tokens = block.tokens[:room]
            kept.append(block)
        if not kept:
            kept.append(text_block([]))
        return kept, True
    return kept, False


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


def _text_tokens(scenario: ReplyScenario, req: MessagesRequest, reply_tokens: int | None) -> list:
    if scenario.text is not None:
        return split_tokens(scenario.text)
    if scenario.tokens is not None:
        return list(filler_tokens(scenario.tokens))
    if scenario.stop_reason == "refusal":
        return []  # like the recorded refusal: an empty text block, billed output
    if req.output_schema is not None:
        return split_tokens(_structured_text(req))
    if reply_tokens is not None:
        return list(filler_tokens(reply_tokens))
    latest = req.last_user_message
    images = [image for image in req.images if image.message == latest]
    documents = [document for document in req.documents if document.message == latest]
    return split_tokens(demo_reply(req.user_text, images, documents))


def _structured_text(req: MessagesRequest) -> str:
    """A structured output's reply: JSON valid for the request's schema, made from its prompt."""
    assert req.output_schema is not None
    value = example_value(req.output_schema, strip_inline_directives(req.user_text))
    return json.dumps(value, ensure_ascii=False)


def _answer(
    scenario: ReplyScenario | None,
    req: MessagesRequest,
    continuation: Continuation | None,
    reply_tokens: int | None,
) -> Answer:
    """What the reply says after any thinking."""
    if isinstance(continuation, ToolScript):
        return run_script(continuation, req)
    if continuation is not None:
        return Answer([text_block(split_tokens(continuation))])
    if isinstance(scenario, WebSearchScenario | WebFetchScenario):
        return run_script(script_for(scenario, req), req)
    if isinstance(scenario, CiteScenario):
        return cite_answer(req, scenario)
    if scenario is None and req.output_schema is None:
        script = default_script(req)
        if script is not None:
            return run_script(script, req)
        if any(doc.citations and doc.message == req.last_user_message for doc in req.documents):
            return cite_answer(req)
    return Answer([text_block(_text_tokens(scenario or ReplyScenario(), req, reply_tokens))])


def _thinking_blocks(scenario: ReplyScenario, req: MessagesRequest) -> list[Block]:
    thinking = req.thinking
    if thinking is None:
        return []
    hidden = scenario.thinking
    if hidden is None:
        hidden = default_thinking(req.user_text)
    tokens = split_tokens(hidden)
    blocks = []
    if tokens:
        if thinking.display == "summarized":
            blocks.append(Block("thinking", tokens))
        else:
            blocks.append(Block("thinking", hidden=len(tokens)))
    if scenario.redacted_thinking:
        blocks.append(Block("redacted_thinking", data={"type": "redacted_thinking"}))
    return blocks


def _stop_sequence(scenario: ReplyScenario, req: MessagesRequest) -> str | None:
    if scenario.stop_sequence is not None or scenario.stop_reason != "stop_sequence":
        return scenario.stop_sequence
    if not req.stop_sequences:
        raise ValueError(
            "a stop_sequence reply needs the scenario's 'stop_sequence' or the request's "
            "stop_sequences"
        )
    return req.stop_sequences[0]


_RESULTS = ("web_search_tool_result", "web_fetch_tool_result")


def _server_tool_use(blocks: list[Block]) -> dict[str, int]:
    """The calls billed: those whose result is not an error."""
    counts = {"web_search_requests": 0, "web_fetch_requests": 0}
    for block in blocks:
        content = (block.data or {}).get("content")
        if block.kind == "web_search_tool_result" and isinstance(content, list):
            counts["web_search_requests"] += 1
        elif block.kind == "web_fetch_tool_result" and content.get("type") == "web_fetch_result":
            counts["web_fetch_requests"] += 1
    return counts


def build_plan(
    scenario: ReplyScenario | None,
    req: MessagesRequest,
    *,
    cache: CacheUsage,
    continuation: Continuation | None = None,
    reply_tokens: int | None = None,
    first_token_delay: float = 0.0,
    token_delay: float = 0.0,
    service_tier: str = "standard",
) -> ReplyPlan:
    """Decide the reply: thinking, what it says, where it stops (stop sequence, max_tokens, the
    context window, a pause, the scenario's stop reason), and its usage (``service_tier``:
    ``batch`` for a batch's request). ``ValueError``: the scenario cannot answer this
    request."""
    answer = _answer(scenario, req, continuation, reply_tokens)
    scenario = scenario or ReplyScenario()
    blocks = _thinking_blocks(scenario, req) + answer.blocks
    rest = answer.rest

    stop_reason = scenario.stop_reason or ("pause_turn" if rest is not None else "end_turn")
    stop_sequence = _stop_sequence(scenario, req)
    if stop_sequence is not None:
        stop_reason = "stop_sequence"
    blocks, found_stop = _cut_at_stop(blocks, req.stop_sequences)
    if found_stop is not None:
        stop_reason, stop_sequence, rest = "stop_sequence", found_stop, None
    room = req.model["max_input_tokens"] - req.input_tokens
    limit = min(req.max_tokens, room)
    blocks, cut = _fit(blocks, limit)
    if cut:
        stop_reason = "max_tokens" if limit == req.max_tokens else "model_context_window_exceeded"
        stop_sequence, rest = None, None
    for block in blocks:
        if block.kind == "thinking":
            block.signature = sign(block.text)
        elif block.kind == "redacted_thinking":
            block.data = {"type": "redacted_thinking", "data": redacted_data()}

    stop_details = dict(scenario.stop_details) if scenario.stop_details else None
    if stop_reason == "refusal" and stop_details is None:
        stop_details = {"type": "refusal", "category": None, "explanation": None}
    # The results the model read in this turn are input too, billed once the turn is over.
    read = sum(block_tokens(block.data) for block in blocks if block.kind in _RESULTS)
    fields = cache.usage_fields()
    base_usage = {
        **fields,
        "input_tokens": fields["input_tokens"] + read,
        "output_tokens": sum(block.output_tokens for block in blocks),
        "service_tier": service_tier,
    }
    if req.server_tools:
        base_usage["server_tool_use"] = _server_tool_use(blocks)
    overrides = dict(scenario.usage) if scenario.usage else None
    usage = _merged_usage(base_usage, overrides)
    start_usage = {**usage, "output_tokens": 1}
    if "input_tokens" not in (overrides or {}):
        start_usage["input_tokens"] = usage["input_tokens"] - read
    if "server_tool_use" in usage and "server_tool_use" not in (overrides or {}):
        start_usage["server_tool_use"] = {"web_search_requests": 0, "web_fetch_requests": 0}
    return ReplyPlan(
        message_id=random_id("msg_01"),
        model=req.model_id,
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        stop_details=stop_details,
        usage=usage,
        start_usage=start_usage,
        first_token_delay=pick(scenario.first_token_delay, first_token_delay),
        token_delay=pick(scenario.token_delay, token_delay),
        chunk=scenario.chunk,
        rest=rest,
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
_DELTA_FIELDS = {
    "text": ("text_delta", "text"),
    "thinking": ("thinking_delta", "thinking"),
    "server_tool_use": ("input_json_delta", "partial_json"),
}


@lru_cache(maxsize=8192)
def _delta_frame(index: int, kind: str, piece: str) -> bytes:
    delta_type, key = _DELTA_FIELDS[kind]
    return sse_frame(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": delta_type, key: piece}},
    )


def _delta_event(index: int, delta: dict[str, Any]) -> bytes:
    return sse_frame(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


@lru_cache(maxsize=16)
def _block_stop_frame(index: int) -> bytes:
    return sse_frame("content_block_stop", {"type": "content_block_stop", "index": index})


# Frame roles in a stream, for pacing and for where a disruption may happen.
START, OTHER, DELTA, FINAL = range(4)


def _block_frames(plan: ReplyPlan, index: int, block: Block) -> Iterator[tuple[bytes, int]]:
    """A block's frames: it starts empty (or whole), its citations come before its text, a
    thinking block's signature last, a server tool's input after an empty first piece."""
    start = {"type": "content_block_start", "index": index, "content_block": block.start()}
    yield sse_frame("content_block_start", start), OTHER
    if index == 0:
        yield PING_FRAME, OTHER
    for citation in block.citations or ():
        yield _delta_event(index, {"type": "citations_delta", "citation": citation}), OTHER
    if block.kind == "server_tool_use":
        yield _delta_frame(index, block.kind, ""), OTHER
    for piece in plan.deltas(block):
        yield _delta_frame(index, block.kind, piece), DELTA
    if block.kind == "thinking":
        yield _delta_event(index, {"type": "signature_delta", "signature": block.signature}), OTHER
    yield _block_stop_frame(index), OTHER


_DELTA_USAGE = (
    "output_tokens",
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "server_tool_use",
)


def stream_frames(plan: ReplyPlan) -> Iterator[tuple[bytes, int]]:
    """The reply as SSE frames, in the real API's order, each tagged with its role."""
    message = plan.message()
    message["content"] = []
    message["stop_reason"] = None
    message["stop_sequence"] = None
    message.pop("stop_details", None)
    message["usage"] = plan.start_usage
    yield sse_frame("message_start", {"type": "message_start", "message": message}), START
    for index, block in enumerate(plan.blocks):
        yield from _block_frames(plan, index, block)
    usage = {key: plan.usage[key] for key in _DELTA_USAGE if key in plan.usage}
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
