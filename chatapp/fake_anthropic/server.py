"""The fake Messages API over HTTP, built on aiohttp.web.

``build_app(config)`` gives the application; ``serve(host, port, ...)`` starts it on the running
event loop and returns the ``AppRunner`` (``await runner.cleanup()`` stops it). The per-event
path of a stream is kept cheap for benchmarks: frames are encoded once and cached per text piece,
each SSE event is one ``await resp.write()``, pacing is ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import string
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aiohttp import web

from .scenarios import (
    DropScenario,
    HangScenario,
    HttpErrorScenario,
    RecordingScenario,
    ReplyScenario,
    ScenarioQueue,
    StreamErrorScenario,
    default_error_message,
    demo_reply,
    estimate_tokens,
    filler_tokens,
    find_inline_directive,
    parse_scenarios,
    recording_events,
    split_tokens,
    status_for_error_type,
)

# What GET /v1/models answers, newest first like the real API.
MODELS: tuple[dict[str, Any], ...] = (
    {
        "type": "model",
        "id": "claude-sonnet-5",
        "display_name": "Claude Sonnet 5",
        "created_at": "2026-09-29T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 1_000_000,
        "max_tokens": 64_000,
    },
    {
        "type": "model",
        "id": "claude-opus-4-8",
        "display_name": "Claude Opus 4.8",
        "created_at": "2026-06-24T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    },
    {
        "type": "model",
        "id": "claude-haiku-4-5",
        "display_name": "Claude Haiku 4.5",
        "created_at": "2025-10-15T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    },
)

MAX_BODY_BYTES = 32 * 1024 * 1024  # the real API's limit for /v1/messages
LOGGED_HEADERS = (
    "anthropic-version",
    "anthropic-beta",
    "content-type",
    "user-agent",
    "x-stainless-retry-count",
    "x-stainless-timeout",
)
SECRET_HEADERS = ("x-api-key", "authorization")


@dataclass
class FakeConfig:
    """Server-wide defaults; a scenario's own delays win over these."""

    token_delay: float = 0.02
    first_token_delay: float = 0.2
    reply_tokens: int | None = None
    max_logged_requests: int = 1000


# --- ids, headers, rate limits ---------------------------------------------------------------

_ID_ALPHABET = string.ascii_letters + string.digits


def _random_id(prefix: str) -> str:
    return prefix + "".join(random.choices(_ID_ALPHABET, k=24))


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RateLimiter:
    """Plausible ``anthropic-ratelimit-*`` headers: budgets that count down within each minute."""

    LIMITS = {"requests": 4_000, "input-tokens": 2_000_000, "output-tokens": 400_000}

    def __init__(self) -> None:
        self._window = -1
        self._used = dict.fromkeys(self.LIMITS, 0)

    def charge(self, input_tokens: int, output_tokens: int) -> dict[str, str]:
        now = time.time()
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self._used = dict.fromkeys(self.LIMITS, 0)
        self._used["requests"] += 1
        self._used["input-tokens"] += input_tokens
        self._used["output-tokens"] += output_tokens
        reset = _rfc3339((window + 1) * 60)
        remaining = {name: max(0, limit - self._used[name]) for name, limit in self.LIMITS.items()}
        limits = dict(self.LIMITS)
        limits["tokens"] = limits["input-tokens"] + limits["output-tokens"]
        remaining["tokens"] = remaining["input-tokens"] + remaining["output-tokens"]
        headers = {}
        for name, limit in limits.items():
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining[name])
            headers[f"anthropic-ratelimit-{name}-reset"] = reset
        return headers


@dataclass
class FakeState:
    """Everything the server remembers; only touched from the server's event loop."""

    config: FakeConfig
    queue: ScenarioQueue = field(default_factory=ScenarioQueue)
    requests: deque[dict[str, Any]] = field(default_factory=deque)
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    active_streams: int = 0

    def __post_init__(self) -> None:
        self.requests = deque(maxlen=self.config.max_logged_requests)

    def reset(self) -> None:
        self.queue.clear()
        self.requests.clear()


STATE = web.AppKey("fake_anthropic_state", FakeState)
REQUEST_ID = web.RequestKey("fake_anthropic_request_id", str)
API_HEADERS = web.RequestKey("fake_anthropic_api_headers", dict)


def _api_headers(request: web.Request, input_tokens: int = 0, output_tokens: int = 0) -> dict:
    """request-id and rate-limit headers, charged once per request."""
    if API_HEADERS not in request:
        headers = request.app[STATE].rate_limiter.charge(input_tokens, output_tokens)
        headers["request-id"] = request[REQUEST_ID]
        request[API_HEADERS] = headers
    return request[API_HEADERS]


def error_body(error_type: str, message: str, request_id: str | None) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def _error_response(
    request: web.Request, status: int, error_type: str, message: str
) -> web.Response:
    return web.json_response(
        error_body(error_type, message, request.get(REQUEST_ID)), status=status
    )


@web.middleware
async def _api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    request[REQUEST_ID] = _random_id("req_")
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = _error_response(request, 404, "not_found_error", f"Not found: {request.path}")
    except web.HTTPMethodNotAllowed:
        response = _error_response(
            request, 405, "invalid_request_error", f"Method {request.method} not allowed"
        )
    except web.HTTPRequestEntityTooLarge:
        response = _error_response(
            request, 413, "request_too_large", default_error_message("request_too_large")
        )
    if not response.prepared:
        response.headers.update(_api_headers(request))
    return response


def _auth_error(request: web.Request) -> web.Response | None:
    if request.headers.get("x-api-key"):
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    return _error_response(request, 401, "authentication_error", "x-api-key header is required")


# --- request validation ----------------------------------------------------------------------


class InvalidRequest(Exception):
    """A 400 invalid_request_error; the message names the field like the real API."""


@dataclass
class MessagesRequest:
    model: str
    max_tokens: int
    stream: bool
    stop_sequences: list[str]
    input_tokens: int
    user_text: str


def _block_text(block: Any) -> str:
    """The text a content block contributes to the input-token estimate."""
    if not isinstance(block, dict):
        return ""
    parts = []
    for key in ("text", "thinking"):
        if isinstance(block.get(key), str):
            parts.append(block[key])
    if "input" in block:
        parts.append(json.dumps(block["input"]))
    content = block.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(_block_text(inner) for inner in content)
    return "".join(parts)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(_block_text(block) for block in content)


def _user_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message: what ``match`` and inline directives look at."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message["content"]
            if isinstance(content, str):
                return content
            return "\n".join(
                block["text"]
                for block in content
                if block.get("type") == "text" and isinstance(block.get("text"), str)
            )
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_request(body: Any, *, require_max_tokens: bool = True) -> MessagesRequest:
    """Check a /v1/messages (or count_tokens) body the way the real API does."""
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    required = ("model", "max_tokens", "messages") if require_max_tokens else ("model", "messages")
    for name in required:
        if name not in body:
            raise InvalidRequest(f"{name}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise InvalidRequest("model: Input should be a valid string")
    max_tokens = body.get("max_tokens", 1)
    if not _is_int(max_tokens):
        raise InvalidRequest("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise InvalidRequest("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    chars = 0
    for position, message in enumerate(messages):
        where = f"messages.{position}"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise InvalidRequest(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise InvalidRequest(f"{where}.content: Field required")
        content = message["content"]
        if isinstance(content, list):
            for index, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise InvalidRequest(f"{where}.content.{index}.type: Field required")
        elif not isinstance(content, str):
            raise InvalidRequest(f"{where}.content: Input should be a valid string or list")
        chars += len(_content_text(content))
    system = body.get("system")
    if system is not None:
        if isinstance(system, list):
            chars += len(_content_text(system))
        elif isinstance(system, str):
            chars += len(system)
        else:
            raise InvalidRequest("system: Input should be a valid string or list")
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream: Input should be a valid boolean")
    stop_sequences = body.get("stop_sequences") or []
    if not isinstance(stop_sequences, list) or not all(
        isinstance(item, str) for item in stop_sequences
    ):
        raise InvalidRequest("stop_sequences: Input should be a valid list of strings")
    return MessagesRequest(
        model=body["model"],
        max_tokens=max_tokens,
        stream=bool(stream),
        stop_sequences=[item for item in stop_sequences if item],
        input_tokens=estimate_tokens(chars),
        user_text=_user_text(messages),
    )


# --- reply plans and their frames ------------------------------------------------------------


@dataclass
class Block:
    kind: str  # "thinking" or "text"
    deltas: list[str]
    text: str
    signature: str = ""


@dataclass
class ReplyPlan:
    """One reply, decided before anything is sent."""

    message_id: str
    model: str
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    usage: dict[str, Any]
    first_token_delay: float
    token_delay: float

    def message(self) -> dict[str, Any]:
        """The whole Message, as a non-streaming request gets it."""
        content = []
        for block in self.blocks:
            if block.kind == "thinking":
                content.append(
                    {"type": "thinking", "thinking": block.text, "signature": block.signature}
                )
            else:
                content.append({"type": "text", "text": block.text})
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage,
        }


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


def build_plan(
    scenario: ReplyScenario | None, req: MessagesRequest, config: FakeConfig
) -> ReplyPlan:
    """Decide the reply: text, thinking, truncation by stop sequence or max_tokens, usage."""
    scenario = scenario or ReplyScenario()
    if scenario.text is not None:
        text_tokens = split_tokens(scenario.text)
    elif scenario.tokens is not None:
        text_tokens = list(filler_tokens(scenario.tokens))
    elif config.reply_tokens is not None:
        text_tokens = list(filler_tokens(config.reply_tokens))
    else:
        text_tokens = split_tokens(demo_reply(req.user_text))
    thinking_tokens = split_tokens(scenario.thinking) if scenario.thinking else []

    stop_reason = scenario.stop_reason or "end_turn"
    text_tokens, stop_sequence = _cut_at_stop_sequence(text_tokens, req.stop_sequences)
    if stop_sequence is not None:
        stop_reason = "stop_sequence"
    if len(thinking_tokens) + len(text_tokens) > req.max_tokens:
        thinking_tokens = thinking_tokens[: req.max_tokens]
        text_tokens = text_tokens[: req.max_tokens - len(thinking_tokens)]
        stop_reason, stop_sequence = "max_tokens", None

    blocks = []
    if scenario.thinking:
        thinking = "".join(thinking_tokens)
        signature = base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()
        blocks.append(
            Block("thinking", _chunked(thinking_tokens, scenario.chunk), thinking, signature)
        )
    if text_tokens or not thinking_tokens or stop_reason != "max_tokens":
        blocks.append(Block("text", _chunked(text_tokens, scenario.chunk), "".join(text_tokens)))

    base_usage = {
        "input_tokens": req.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": len(thinking_tokens) + len(text_tokens),
        "service_tier": "standard",
    }
    return ReplyPlan(
        message_id=_random_id("msg_01"),
        model=req.model,
        blocks=blocks,
        stop_reason=stop_reason,
        stop_sequence=stop_sequence,
        usage=_merged_usage(base_usage, dict(scenario.usage) if scenario.usage else None),
        first_token_delay=_pick(scenario.first_token_delay, config.first_token_delay),
        token_delay=_pick(scenario.token_delay, config.token_delay),
    )


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


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


@lru_cache(maxsize=16)
def _block_start_frame(index: int, kind: str) -> bytes:
    block = {"type": "thinking", "thinking": "", "signature": ""}
    if kind == "text":
        block = {"type": "text", "text": ""}
    return sse_frame(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


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
    message["usage"] = {**plan.usage, "output_tokens": 1}
    yield sse_frame("message_start", {"type": "message_start", "message": message}), START
    for index, block in enumerate(plan.blocks):
        yield _block_start_frame(index, block.kind), OTHER
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
    delta = {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence}
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


# --- handlers --------------------------------------------------------------------------------


class ClientGone(Exception):
    """The client closed the connection while we were waiting or writing."""


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _sleep_while_connected(request: web.Request, seconds: float) -> None:
    """Sleep, but notice a client that goes away even when aiohttp does not cancel us."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        if _client_gone(request):
            raise ClientGone
        await asyncio.sleep(min(remaining, 0.1))


def _mask(secret_header: str) -> str:
    """Hide a key in the request log, keeping the scheme and, for a long key, its last 4."""
    scheme, space, secret = secret_header.rpartition(" ")
    return f"{scheme}{space}***{secret[-4:] if len(secret) >= 20 else ''}"


def _log_entry(request: web.Request, body: Any) -> dict[str, Any]:
    headers = {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers}
    for name in SECRET_HEADERS:
        if name in request.headers:
            headers[name] = _mask(request.headers[name])
    entry = {
        "request_id": request[REQUEST_ID],
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "headers": headers,
        "body": body,
        "scenario": None,
        "status": None,
        "outcome": "in_progress",
    }
    request.app[STATE].requests.append(entry)
    return entry


class _NotJson(str):
    """A request body that did not parse, kept as text for the request log."""


async def _read_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _NotJson(raw.decode("utf-8", "replace"))


async def messages_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    body = await _read_json(request)
    entry = _log_entry(request, body)
    response = await _answer_messages(request, state, body, entry)
    entry["status"] = response.status
    if entry["outcome"] == "in_progress":
        entry["outcome"] = "completed" if response.status < 400 else "http_error"
    return response


async def _answer_messages(
    request: web.Request, state: FakeState, body: Any, entry: dict[str, Any]
) -> web.StreamResponse:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    if isinstance(body, _NotJson):
        return _error_response(
            request, 400, "invalid_request_error", "Request body is not valid JSON"
        )
    try:
        req = validate_request(body)
    except InvalidRequest as error:
        return _error_response(request, 400, "invalid_request_error", str(error))
    _api_headers(request, req.input_tokens, req.max_tokens)

    scenario = state.queue.take(req.user_text)
    if scenario is None:
        try:
            scenario = find_inline_directive(req.user_text)
        except ValueError as error:
            return _error_response(request, 400, "invalid_request_error", f"fake: {error}")
    entry["scenario"] = scenario.kind if scenario else None

    if isinstance(scenario, HttpErrorScenario):
        return _http_error_response(request, scenario)
    if isinstance(scenario, RecordingScenario):
        if req.stream:
            return await _track_stream(request, state, entry, _stream_recording(request, scenario))
        return web.json_response(accumulate_recording(scenario.name))
    assert scenario is None or isinstance(scenario, ReplyScenario)
    plan = build_plan(scenario, req, state.config)
    if req.stream:
        return await _track_stream(request, state, entry, _stream_reply(request, plan, scenario))
    return await _track_stream(request, state, entry, _whole_reply(request, plan, scenario))


def _http_error_response(request: web.Request, scenario: HttpErrorScenario) -> web.Response:
    response = _error_response(
        request, scenario.status, scenario.resolved_error_type, scenario.resolved_message
    )
    if scenario.retry_after is not None:
        seconds = scenario.retry_after
        response.headers["retry-after"] = (
            str(int(seconds)) if seconds.is_integer() else str(seconds)
        )
    if scenario.should_retry is not None:
        response.headers["x-should-retry"] = "true" if scenario.should_retry else "false"
    return response


async def _track_stream(
    request: web.Request, state: FakeState, entry: dict[str, Any], work: Any
) -> web.StreamResponse:
    """Run one answer, counting it as active and recording how it ended."""
    state.active_streams += 1
    try:
        response = await work
    except (ClientGone, ConnectionError):
        entry["outcome"] = "client_disconnected"
        entry["status"] = 200
        return web.Response(status=200)  # the client is gone: nothing will be sent
    except asyncio.CancelledError:
        entry["outcome"] = "client_disconnected"
        entry["status"] = 200
        raise
    finally:
        state.active_streams -= 1
    if isinstance(response, _Outcome):
        entry["outcome"] = response.outcome
        return response.response
    return response


@dataclass
class _Outcome:
    response: web.StreamResponse
    outcome: str


async def _start_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            **_api_headers(request),
        },
    )
    await response.prepare(request)
    return response


async def _stream_reply(
    request: web.Request, plan: ReplyPlan, scenario: ReplyScenario | None
) -> web.StreamResponse | _Outcome:
    response = await _start_stream(request)
    disruption = scenario if isinstance(scenario, StreamErrorScenario | DropScenario) else None
    hang = scenario if isinstance(scenario, HangScenario) else None
    loop = asyncio.get_running_loop()
    # Deltas keep to a schedule, so sleep overhead does not add up over a long reply.
    next_delta_at = loop.time()
    deltas_sent = 0
    for frame, role in stream_frames(plan):
        if role != START:
            due = role == FINAL
            if hang is not None and (deltas_sent >= hang.after_tokens or due):
                await _sleep_while_connected(request, hang.seconds)
                next_delta_at = loop.time()
                hang = None
            if disruption is not None and (deltas_sent >= disruption.after_tokens or due):
                return await _disrupt(request, response, disruption)
        if role == DELTA:
            next_delta_at += plan.first_token_delay if deltas_sent == 0 else plan.token_delay
            if (wait := next_delta_at - loop.time()) > 0:
                await asyncio.sleep(wait)
            deltas_sent += 1
        await response.write(frame)
    await response.write_eof()
    return response


async def _disrupt(
    request: web.Request,
    response: web.StreamResponse,
    scenario: StreamErrorScenario | DropScenario,
) -> _Outcome:
    if isinstance(scenario, DropScenario):
        _abort(request)
        return _Outcome(response, "dropped")
    message = scenario.message or default_error_message(scenario.error_type)
    error = {"type": "error", "error": {"type": scenario.error_type, "message": message}}
    await response.write(sse_frame("error", error))
    await response.write_eof()
    return _Outcome(response, "stream_error")


def _abort(request: web.Request) -> None:
    """Cut the TCP connection without finishing the body (no final chunk, no FIN handshake)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _whole_reply(
    request: web.Request, plan: ReplyPlan, scenario: ReplyScenario | None
) -> web.StreamResponse | _Outcome:
    """A non-streaming answer: wait as long as the stream would have taken, then send it."""
    delay = plan.first_token_delay + plan.token_delay * max(
        0, sum(len(block.deltas) for block in plan.blocks) - 1
    )
    if isinstance(scenario, HangScenario):
        delay += scenario.seconds
    if delay:
        await _sleep_while_connected(request, delay)
    if isinstance(scenario, DropScenario):
        _abort(request)
        return _Outcome(web.Response(status=200), "dropped")
    if isinstance(scenario, StreamErrorScenario):
        message = scenario.message or default_error_message(scenario.error_type)
        return _Outcome(
            _error_response(
                request, status_for_error_type(scenario.error_type), scenario.error_type, message
            ),
            "http_error",
        )
    return web.json_response(plan.message())


async def _stream_recording(
    request: web.Request, scenario: RecordingScenario
) -> web.StreamResponse:
    delay = _pick(scenario.token_delay, request.app[STATE].config.token_delay)
    response = await _start_stream(request)
    for position, frame in enumerate(recording_events(scenario.name)):
        if position and delay:
            await asyncio.sleep(delay)
        await response.write(frame)
    await response.write_eof()
    return response


async def count_tokens_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    body = await _read_json(request)
    try:
        req = validate_request(body, require_max_tokens=False)
    except InvalidRequest as error:
        return _error_response(request, 400, "invalid_request_error", str(error))
    return web.json_response({"input_tokens": req.input_tokens})


async def models_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        return _error_response(
            request, 400, "invalid_request_error", "limit: Input should be between 1 and 1000"
        )
    ids = [model["id"] for model in MODELS]
    models = list(MODELS)
    if (after := request.query.get("after_id")) in ids:
        models = models[ids.index(after) + 1 :]
    elif (before := request.query.get("before_id")) in ids:
        models = models[: ids.index(before)]
        models = models[-limit:]
    page = models[:limit]
    return web.json_response(
        {
            "data": page,
            "has_more": len(models) > len(page),
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


async def model_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    model_id = request.match_info["model_id"]
    for model in MODELS:
        if model["id"] == model_id:
            return web.json_response(model)
    return _error_response(request, 404, "not_found_error", f"model: {model_id}")


# --- the control API (not part of the real API) ------------------------------------------------


async def control_add_scenarios(request: web.Request) -> web.Response:
    try:
        scenarios = parse_scenarios(json.loads(await request.read()))
    except json.JSONDecodeError as error:
        return web.json_response({"error": f"body is not valid JSON: {error.msg}"}, status=400)
    except ValueError as error:
        return web.json_response({"error": str(error)}, status=400)
    queue = request.app[STATE].queue
    queue.extend(scenarios)
    return web.json_response({"queued": len(scenarios), "pending": len(queue)})


async def control_list_scenarios(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].queue.pending())


async def control_requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE].requests))


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"status": "reset"})


async def control_health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "active_streams": state.active_streams,
            "queued": len(state.queue),
            "requests": len(state.requests),
        }
    )


def build_app(config: FakeConfig | None = None) -> web.Application:
    """The fake API as an aiohttp application (serve it with ``serve`` or your own runner)."""
    app = web.Application(middlewares=[_api_middleware], client_max_size=MAX_BODY_BYTES)
    app[STATE] = FakeState(config or FakeConfig())
    app.router.add_post("/v1/messages", messages_handler)
    app.router.add_post("/v1/messages/count_tokens", count_tokens_handler)
    app.router.add_get("/v1/models", models_handler)
    app.router.add_get("/v1/models/{model_id}", model_handler)
    app.router.add_post("/_fake/scenarios", control_add_scenarios)
    app.router.add_get("/_fake/scenarios", control_list_scenarios)
    app.router.add_get("/_fake/requests", control_requests)
    app.router.add_post("/_fake/reset", control_reset)
    app.router.add_get("/_fake/health", control_health)
    return app


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_timeout: float = 1.0,
    **defaults: Any,
) -> web.AppRunner:
    """Start the fake API on the running loop; ``defaults`` are ``FakeConfig`` fields.

    Port 0 picks a free port: read it back with ``runner_base_url(runner)``.
    ``await runner.cleanup()`` stops the server.
    """
    runner = web.AppRunner(
        build_app(FakeConfig(**defaults)),
        handler_cancellation=True,  # a client that goes away cancels its paced stream
        shutdown_timeout=shutdown_timeout,
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def runner_base_url(runner: web.AppRunner) -> str:
    """``http://host:port`` of the first socket a runner from ``serve`` listens on."""
    host, port = runner.addresses[0][:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
