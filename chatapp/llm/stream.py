"""Streams one reply from the Messages API: the raw events, the reply accumulated from
them, and every way it can fail turned into one error with a code and a readable text."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import NoReturn

import anthropic
import httpx2

from chatapp.errors import AppError

from .client import async_client

USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


@dataclass(frozen=True)
class ReplyRequest:
    model: str
    max_tokens: int
    messages: list[dict]
    system: str = ""
    stop_sequences: tuple[str, ...] = ()
    # {"type": "adaptive"} or {"type": "enabled", "budget_tokens": N}, as the model takes.
    thinking: dict | None = None
    effort: str = ""
    # Prompt caching: the top-level marker's lifetime ("5m", "1h"), or empty for none.
    cache_ttl: str = ""
    # Server tools (web search, web fetch), as the API takes them.
    tools: tuple[dict, ...] = ()
    # A bound of the tokens of the image and document blocks (attachments.tokens_at_most):
    # their base64 says nothing of their tokens.
    attachment_tokens: int = 0

    def input_tokens_at_most(self) -> int:
        """A bound no tokenizer exceeds: one token per UTF-8 byte of what is sent, the
        attachments' own bound for image and document blocks, and each server tool's
        definition."""
        messages = [
            {**message, "content": _without_files(message["content"])} for message in self.messages
        ]
        sent = json.dumps(messages, ensure_ascii=False) + self.system
        tools = TOOL_DEFINITION_TOKENS * len(self.tools)
        return len(sent.encode()) + self.attachment_tokens + tools

    def params(self) -> dict:
        params = {"model": self.model, "max_tokens": self.max_tokens, "messages": self.messages}
        if self.system:
            params["system"] = self.system
        if self.stop_sequences:
            params["stop_sequences"] = list(self.stop_sequences)
        if self.thinking:
            params["thinking"] = self.thinking
        if self.effort:
            params["output_config"] = {"effort": self.effort}
        if self.cache_ttl:
            # Automatic placement on the last cacheable block: turn N+1 reads turn N.
            params["cache_control"] = {"type": "ephemeral", "ttl": self.cache_ttl}
        if self.tools:
            params["tools"] = list(self.tools)
        return params


def _without_files(content):
    if isinstance(content, str):
        return content
    return [block for block in content if block.get("type") not in ("image", "document")]


# What a server tool's definition adds to the input (the API's own prompt for it). The
# results a tool brings into the turn are billed as they come and are not bounded here,
# except a fetch's, which `max_content_tokens` caps.
TOOL_DEFINITION_TOKENS = 1_000
WEB_FETCH_CONTENT_TOKENS = 25_000


def web_search_tools(max_uses: int) -> tuple[dict, ...]:
    """Web search and web fetch, as a conversation with web search on sends them."""
    return (
        {"type": "web_search_20250305", "name": "web_search", "max_uses": max_uses},
        {
            "type": "web_fetch_20250910",
            "name": "web_fetch",
            "max_uses": max_uses,
            "max_content_tokens": WEB_FETCH_CONTENT_TOKENS,
            "citations": {"enabled": True},
        },
    )


def web_searches_at_most(tools) -> int:
    """The searches a request may be billed for."""
    return sum(tool.get("max_uses") or 0 for tool in tools if tool.get("name") == "web_search")


class UpstreamError(AppError):
    """A reply that failed upstream, with a stable code and a message for a person."""

    def __init__(self, code: str, message: str, *, request_id: str | None = None, body=None):
        super().__init__(code, message)
        self.request_id = request_id
        # The API's own error body, kept for diagnosis by staff.
        self.body = body


_STATUS_CODES = {
    400: ("upstream_invalid_request", "The API rejected the request"),
    401: ("upstream_authentication", "The API key was not accepted"),
    403: ("upstream_permission", "The API key is not allowed to do this"),
    404: ("upstream_not_found", "The model or endpoint was not found"),
    413: ("upstream_invalid_request", "The conversation is too large for the API"),
    429: ("upstream_rate_limited", "The API's rate limit was reached; try again shortly"),
    529: ("upstream_overloaded", "The API is overloaded; try again shortly"),
}
_ERROR_TYPE_CODES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


def upstream_error(exc: BaseException) -> UpstreamError:
    """Turns whatever the SDK or its HTTP library raised into an UpstreamError."""
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, anthropic.APIStatusError):
        detail = exc.api_message or str(exc)
        code, text = _STATUS_CODES.get(
            exc.status_code, ("upstream_server_error", "The API had an internal error")
        )
        return UpstreamError(
            code,
            f"{text} (HTTP {exc.status_code}: {detail})",
            request_id=exc.request_id,
            body=exc.body if isinstance(exc.body, dict | list | str) else None,
        )
    if isinstance(exc, anthropic.APITimeoutError):
        return UpstreamError("upstream_timeout", "The API did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return UpstreamError("upstream_connection", "The API could not be reached")
    if isinstance(exc, httpx2.HTTPError):
        # A connection dropped mid-stream surfaces as the HTTP library's own error.
        return UpstreamError(
            "upstream_connection", f"The connection to the API was lost mid-reply ({exc})"
        )
    if isinstance(exc, anthropic.CredentialsError) or (
        isinstance(exc, TypeError) and "authentication method" in str(exc)
    ):
        # The SDK raises a plain TypeError when it finds no API key at all.
        return UpstreamError(
            "not_configured", "No Anthropic API key is configured (set ANTHROPIC_API_KEY)."
        )
    return UpstreamError("upstream_error", f"The reply failed unexpectedly: {exc!r}")


@dataclass
class ReplyState:
    """The reply as accumulated from raw events: what is saved and what a resync shows."""

    content: list[dict] = field(default_factory=list)
    usage: dict = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))
    cache_creation: dict = field(default_factory=dict)
    stop_reason: str = ""
    stop_sequence: str = ""
    upstream_id: str = ""
    model: str = ""
    request_id: str = ""
    rate_limits: dict = field(default_factory=dict)
    _partial_json: dict = field(default_factory=dict)
    # A turn continued after `pause_turn`: the earlier calls' usage, and where the
    # continuation's blocks go (its indices start at 0 again).
    _usage_before: dict = field(default_factory=dict)
    _cache_creation_before: dict = field(default_factory=dict)
    index_offset: int = 0
    # The API's usage.server_tool_use of the current call (cumulative, like the tokens).
    server_tool_use: dict = field(default_factory=dict)
    _server_tool_use_before: dict = field(default_factory=dict)
    # Deltas of text, thinking and tool input seen: each is at least one output token, a
    # floor for the output billed while the API has not yet said (a crash's checkpoint).
    deltas_seen: int = 0

    def continue_turn(self) -> list[dict]:
        """Ready for the call that continues a paused turn; returns the assistant turn to
        send back as it is (the API continues from it)."""
        self._usage_before = self.total_usage()
        self._cache_creation_before = self.total_cache_creation()
        self._server_tool_use_before = self.total_server_tool_use()
        self.usage = dict.fromkeys(USAGE_FIELDS, 0)
        self.cache_creation = {}
        self.server_tool_use = {}
        self.index_offset = len(self.content)
        return self.saved_content()

    def total_usage(self) -> dict:
        """Every call of the reply (a paused turn continued is billed per call)."""
        return {name: self._usage_before.get(name, 0) + self.usage[name] for name in USAGE_FIELDS}

    def usage_so_far(self) -> dict:
        """What the reply has used until now, for a checkpoint: every call's usage as the
        API reported it, with the output no lower than the deltas seen (the API says the
        output tokens only at the end of each call)."""
        usage = self.total_usage()
        usage["output_tokens"] = max(usage["output_tokens"], self.deltas_seen)
        return usage

    def total_server_tool_use(self) -> dict:
        """The server tools' requests (web searches, fetches) over every call."""
        before, now = self._server_tool_use_before, self.server_tool_use
        return {name: before.get(name, 0) + (now.get(name) or 0) for name in {*before, *now}}

    def total_cache_creation(self) -> dict:
        """The cache writes by lifetime (ephemeral_5m / 1h), over every call."""
        before = self._cache_creation_before
        return {
            name: before.get(name, 0) + (self.cache_creation.get(name) or 0)
            for name in {*before, *self.cache_creation}
        }

    def apply(self, event: dict) -> None:
        kind = event["type"]
        if "index" in event and self.index_offset:
            event = {**event, "index": event["index"] + self.index_offset}
        if kind == "content_block_delta":
            self.deltas_seen += 1
            block = self.content[event["index"]]
            delta = event["delta"]
            delta_type = delta.get("type")
            if delta_type == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta_type == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif delta_type == "signature_delta":
                block["signature"] = delta["signature"]
            elif delta_type == "input_json_delta":
                index = event["index"]
                self._partial_json[index] = self._partial_json.get(index, "") + delta.get(
                    "partial_json", ""
                )
            elif delta_type == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
        elif kind == "content_block_start":
            index = event["index"]
            while len(self.content) <= index:
                self.content.append({})
            self.content[index] = dict(event["content_block"])
        elif kind == "content_block_stop":
            index = event["index"]
            if index in self._partial_json:
                raw = self._partial_json.pop(index)
                try:
                    self.content[index]["input"] = json.loads(raw) if raw else {}
                except ValueError:
                    self.content[index]["input"] = {"_unparsed": raw}
        elif kind == "message_start":
            message = event["message"]
            self.upstream_id = self.upstream_id or message.get("id", "")
            self.model = message.get("model", "")
            self._merge_usage(message.get("usage"))
        elif kind == "message_delta":
            self.stop_reason = event["delta"].get("stop_reason") or ""
            self.stop_sequence = event["delta"].get("stop_sequence") or ""
            self._merge_usage(event.get("usage"))

    def _merge_usage(self, usage: dict | None) -> None:
        # Usage is cumulative: each report replaces the counts it carries, never adds.
        if not usage:
            return
        for name in USAGE_FIELDS:
            if usage.get(name) is not None:
                self.usage[name] = usage[name]
        if usage.get("cache_creation"):
            self.cache_creation = dict(usage["cache_creation"])
        if isinstance(usage.get("server_tool_use"), dict):
            self.server_tool_use = {
                name: count
                for name, count in usage["server_tool_use"].items()
                if isinstance(count, int)
            }

    def saved_content(self) -> list[dict]:
        """Blocks worth keeping: ones that were started and are not empty placeholders."""
        return [block for block in self.content if block and not _is_empty_text(block)]


def _is_empty_text(block: dict) -> bool:
    return block.get("type") == "text" and not block.get("text")


def rate_limit_headers(response) -> dict:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("anthropic-ratelimit-") or name == "retry-after"
    }


class RawEvent:
    """An upstream event: parsed (`data`) and as the upstream sent it (`json`)."""

    __slots__ = ("data", "json")

    def __init__(self, data: dict, json_text: str):
        self.data = data
        self.json = json_text


async def stream_events(request: ReplyRequest, state: ReplyState) -> AsyncIterator[RawEvent]:
    """Yields the upstream events of one reply, after applying each to `state`.

    Reads the SDK's raw server-sent events (`with_streaming_response` + `raw_events`):
    the request, its retries before the first byte and its HTTP errors are the SDK's, but
    no event is built into a pydantic model, since the app only needs each event's JSON
    (to relay) and a few of its fields (to accumulate the reply, ReplyState). Raises
    UpstreamError for every failure; cancelling the caller closes the upstream response."""
    client = async_client()
    try:
        async with client.messages.with_streaming_response.create(
            **request.params(), stream=True
        ) as response:
            http_response = response.http_response
            state.request_id = http_response.headers.get("request-id", "")
            state.rate_limits = rate_limit_headers(http_response)
            async for sse in anthropic.AsyncStream.raw_events(http_response):
                name = sse.event
                if name == "ping" or not sse.data:
                    continue
                data = json.loads(sse.data)
                if name == "error":
                    raise _stream_error(data, state.request_id)
                state.apply(data)
                yield RawEvent(data, sse.data)
    except anthropic.APIStatusError as exc:
        state.rate_limits = state.rate_limits or rate_limit_headers(exc.response)
        raise upstream_error(exc) from exc
    except Exception as exc:
        raise_upstream(exc)


def raise_upstream(exc: Exception) -> NoReturn:
    """Raises what the SDK or its HTTP library raised as an UpstreamError; anything else
    (a bug of ours) as it was."""
    if isinstance(exc, anthropic.AnthropicError | httpx2.HTTPError):
        raise upstream_error(exc) from exc
    failure = upstream_error(exc) if isinstance(exc, TypeError) else None
    if failure is None or failure.code != "not_configured":
        raise exc
    raise failure from exc


def _stream_error(body: dict, request_id: str) -> UpstreamError:
    """An `error` event after the stream had started (HTTP 200)."""
    error = body.get("error") or {}
    status = _ERROR_TYPE_CODES.get(error.get("type") or "", 500)
    code, text = _STATUS_CODES.get(status, ("upstream_server_error", "The API failed"))
    if status >= 500:
        code = "upstream_stream_error"
    detail = error.get("message") or error.get("type") or "unknown error"
    return UpstreamError(
        code, f"{text} (the reply was cut off: {detail})", request_id=request_id, body=body
    )
