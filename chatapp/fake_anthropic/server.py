"""The fake Messages API over HTTP, built on aiohttp.web.

``build_app(config)`` gives the application; ``serve(host, port, ...)`` starts it on the running
event loop and returns the ``AppRunner`` (``await runner.cleanup()`` stops it). The handlers
check a request (``validation.py``), pick its scenario, plan the reply (``replies.py``) with the
prompt cache's split of the input (``caching.py``) and send it. Each SSE event is one
``await resp.write()``, pacing is ``asyncio.sleep``. The Files API keeps uploads in memory
(``files.py``); the Message Batches API keeps batches in memory and answers their requests with
the same machinery as a non-streaming ``/v1/messages`` (``batches.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import batches
from .batches import INSTANT, BatchStore, ExpiredScenario, parse_batch_scenario, parse_requests
from .blocks import turn_key
from .caching import FakeClock, PromptCache
from .catalogue import LIFECYCLES, Catalogue, change_models, min_cacheable_tokens
from .files import MAX_EXPIRES_IN, MAX_FILE_BYTES, MIN_EXPIRES_IN, FileStore
from .replies import (
    DEFAULT_CONTINUATION,
    DELTA,
    FINAL,
    START,
    Continuation,
    ReplyPlan,
    accumulate_recording,
    build_plan,
    pick,
    random_id,
    sse_frame,
    stream_frames,
)
from .scenarios import (
    DropScenario,
    HangScenario,
    HttpErrorScenario,
    RecordingScenario,
    ReplyScenario,
    Scenario,
    ScenarioQueue,
    StreamErrorScenario,
    default_error_message,
    error_type_for_status,
    find_inline_directive,
    inline_directive,
    parse_scenarios,
    recording_events,
    status_for_error_type,
)
from .validation import ApiRefusal, MessagesRequest, validate_request

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
    # Requests of a message batch answered per second (None: at once; 0: held still).
    batch_speed: float | None = 2.0
    # Request counts that move while a batch runs, instead of at its end (as documented).
    batch_live_counts: bool = False


# --- headers, rate limits -------------------------------------------------------------------


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
    catalogue: Catalogue = field(default_factory=Catalogue)
    clock: FakeClock = field(default_factory=FakeClock)
    cache: PromptCache = field(init=False)
    files: FileStore = field(init=False)
    batches: BatchStore = field(init=False)
    # The end of a turn that stopped with pause_turn (``blocks.turn_key``) -> what finishes it
    # (None: the next queued scenario, else the default continuation).
    continuations: dict[str, Continuation | None] = field(default_factory=dict)
    active_streams: int = 0
    # count_tokens calls since the last reset (a client should make few: benchmarks read it).
    counts: int = 0
    # The HTTP status every count_tokens call fails with until the next reset (None: none).
    count_tokens_failure: int | None = None

    def __post_init__(self) -> None:
        self.requests = deque(maxlen=self.config.max_logged_requests)
        self.cache = PromptCache(self.clock)
        self.files = FileStore(self.clock)
        self.batches = BatchStore(
            self.clock,
            lambda custom_id, params, scenario: batch_result(self, params, scenario),
            speed=speed_of(self.config.batch_speed),
            live_counts=self.config.batch_live_counts,
        )

    def reset(self) -> None:
        """Back to a fresh server: no scenarios, requests, cache entries, files, batches or
        paused turns; the default catalogue; the clock at the real time; the batch speed and
        counts of the config."""
        self.queue.clear()
        self.requests.clear()
        self.counts = 0
        self.count_tokens_failure = None
        self.catalogue.reset()
        self.clock.reset()
        self.cache.clear()
        self.files.clear()
        self.batches.clear()
        self.continuations.clear()


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


def error_body(
    error_type: str,
    message: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": request_id}


def _error_response(
    request: web.Request,
    status: int,
    error_type: str,
    message: str,
    details: dict[str, Any] | None = None,
) -> web.Response:
    return web.json_response(
        error_body(error_type, message, request.get(REQUEST_ID), details), status=status
    )


def _refusal_response(request: web.Request, refusal: ApiRefusal) -> web.Response:
    return _error_response(
        request, refusal.status, refusal.error_type, str(refusal), refusal.details
    )


@web.middleware
async def _api_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    request[REQUEST_ID] = random_id("req_")
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
        req = validate_request(body, state.catalogue, files=state.files)
    except ApiRefusal as error:
        return _refusal_response(request, error)
    _api_headers(request, req.input_tokens, req.max_tokens)

    # A paused turn sent back gets its continuation, whatever is queued; a turn paused by a
    # scenario without one goes on with the next queued scenario (or the default).
    key = turn_key(req.continued_blocks) if req.continued_blocks is not None else None
    paused = key is not None and key in state.continuations
    continuation = state.continuations[key] if paused else None
    scenario = None
    if paused and continuation is None:
        scenario = state.queue.take(req.user_text)
        continuation = None if scenario is not None else DEFAULT_CONTINUATION
    elif not paused:
        scenario = state.queue.take(req.user_text)
        try:
            scenario = scenario or find_inline_directive(req.user_text)
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
    try:
        plan = _plan_reply(state, req, scenario, continuation)
    except ValueError as error:
        return _error_response(request, 400, "invalid_request_error", f"fake: {error}")
    if req.stream:
        return await _track_stream(request, state, entry, _stream_reply(request, plan, scenario))
    return await _track_stream(request, state, entry, _whole_reply(request, plan, scenario))


def _plan_reply(
    state: FakeState,
    req: MessagesRequest,
    scenario: ReplyScenario | None,
    continuation: Continuation | None,
    service_tier: str = "standard",
) -> ReplyPlan:
    """The reply's plan, with the prompt cache read and written as the real API would; a reply
    that pauses is remembered, so that sending it back (after what the turn already held) gets
    its continuation: the rest of its server tool calls, the scenario's ``continuation``, or
    (None) the next queued scenario."""
    config = state.config
    cache = state.cache.use(req.model_id, req.prompt, min_cacheable_tokens(req.model))
    plan = build_plan(
        scenario,
        req,
        cache=cache,
        continuation=continuation,
        reply_tokens=config.reply_tokens,
        first_token_delay=config.first_token_delay,
        token_delay=config.token_delay,
        service_tier=service_tier,
    )
    if plan.stop_reason == "pause_turn":
        rest: Continuation | None = plan.rest
        if rest is None and scenario is not None:
            rest = scenario.continuation
        turn = [*(req.continued_blocks or []), *(block.whole() for block in plan.blocks)]
        state.continuations[turn_key(turn)] = rest
    return plan


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
    delay = plan.first_token_delay + plan.token_delay * max(0, plan.delta_count - 1)
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
    delay = pick(scenario.token_delay, request.app[STATE].config.token_delay)
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
    state = request.app[STATE]
    state.counts += 1
    if (status := state.count_tokens_failure) is not None:
        error_type = error_type_for_status(status)
        return _error_response(request, status, error_type, default_error_message(error_type))
    body = await _read_json(request)
    try:
        req = validate_request(body, state.catalogue, files=state.files, counting=True)
    except ApiRefusal as error:
        return _refusal_response(request, error)
    return web.json_response({"input_tokens": req.input_tokens})


def _models_page_query(query: Any, catalogue: Catalogue) -> dict[str, Any]:
    """``GET /v1/models``' query as ``Catalogue.page`` arguments; ``ApiRefusal`` if wrong."""
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise ApiRefusal("limit: Input should be between 1 and 1000")
    # The SDK sends a list as `lifecycle[]=a&lifecycle[]=b`.
    lifecycles = query.getall("lifecycle[]", []) + query.getall("lifecycle", [])
    for lifecycle in lifecycles:
        if lifecycle not in LIFECYCLES:
            raise ApiRefusal("lifecycle: Input should be 'active', 'deprecated' or 'retired'")
    cursors = {name: query[name] for name in ("after_id", "before_id") if name in query}
    if len(cursors) > 1:
        raise ApiRefusal("after_id and before_id cannot be used together")
    known = {model["id"] for model in catalogue.models}
    for name, model_id in cursors.items():
        if model_id not in known:
            raise ApiRefusal(f"{name}: no model {model_id!r}")
    return {"limit": limit, "lifecycles": lifecycles or ("active", "deprecated"), **cursors}


async def models_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    catalogue = request.app[STATE].catalogue
    try:
        query = _models_page_query(request.query, catalogue)
    except ApiRefusal as error:
        return _refusal_response(request, error)
    return web.json_response(catalogue.page(**query))


async def model_handler(request: web.Request) -> web.Response:
    """One model by id or alias; a retired one too (the catalogue keeps their record)."""
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    model_id = request.match_info["model_id"]
    model = request.app[STATE].catalogue.get(model_id)
    if model is None:
        return _error_response(request, 404, "not_found_error", f"model: {model_id}")
    return web.json_response(model)


# --- the Files API ---------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


async def _read_part(part: Any, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await part.read_chunk(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload_form(request: web.Request) -> tuple[bytes, str | None, int | None]:
    """The ``file`` part (its bytes and filename) and ``expires_in_seconds`` of an upload;
    ``ApiRefusal`` when they are missing or wrong."""
    if request.content_type != "multipart/form-data":
        raise ApiRefusal("Content-Type must be multipart/form-data")
    data, filename, expires_in = None, None, None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if part.name == "file":
            try:
                data = await _read_part(part, MAX_FILE_BYTES)
            except _TooLarge:
                raise ApiRefusal(
                    f"file: the file exceeds the maximum size of {MAX_FILE_BYTES} bytes",
                    status=413,
                    error_type="request_too_large",
                ) from None
            filename = part.filename
        elif part.name == "expires_in_seconds":
            text = (await part.read(decode=True)).decode("utf-8", "replace").strip()
            expires_in = int(text) if text.isdigit() else -1
            if not MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
                raise ApiRefusal(
                    f"expires_in_seconds: Input should be between {MIN_EXPIRES_IN} and "
                    f"{MAX_EXPIRES_IN}"
                )
        else:
            await part.release()
    if data is None:
        raise ApiRefusal("file: Field required")
    if not data:
        raise ApiRefusal("file: the file is empty")
    return data, filename, expires_in


async def files_upload_handler(request: web.Request) -> web.Response:
    """``POST /v1/files``, as ``client.files.upload`` sends it (multipart, no beta header
    needed; the beta client's ``anthropic-beta: files-api-2025-04-14`` is taken too)."""
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    try:
        data, filename, expires_in = await _upload_form(request)
    except ApiRefusal as error:
        return _refusal_response(request, error)
    stored = request.app[STATE].files.add(data, filename, expires_in=expires_in)
    return web.json_response(stored.metadata())


def _files_page_query(query: Any) -> dict[str, Any]:
    ids = query.getall("ids[]", []) + query.getall("ids", [])
    if ids and ("page" in query or "limit" in query):
        raise ApiRefusal("ids cannot be used together with page or limit")
    if len(set(ids)) > 100:
        raise ApiRefusal("ids: at most 100 ids may be given")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise ApiRefusal("limit: Input should be between 1 and 1000")
    page = query.get("page")
    if page is not None and not page.startswith("page_"):
        raise ApiRefusal("page: not a page cursor this API gave")
    return {"limit": limit, "start_id": page[len("page_") :] if page else None, "ids": ids or None}


async def files_list_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    try:
        query = _files_page_query(request.query)
    except ApiRefusal as error:
        return _refusal_response(request, error)
    return web.json_response(request.app[STATE].files.page(**query))


def _file_not_found(request: web.Request, file_id: str) -> web.Response:
    return _error_response(request, 404, "not_found_error", f"File not found: {file_id}")


def _stored_file(request: web.Request):
    """The file the path names, or the response that says why there is none."""
    if (auth_error := _auth_error(request)) is not None:
        return None, auth_error
    file_id = request.match_info["file_id"]
    stored = request.app[STATE].files.get(file_id)
    if stored is None:
        return None, _file_not_found(request, file_id)
    return stored, None


async def file_handler(request: web.Request) -> web.Response:
    """``GET`` a file's metadata, or ``DELETE`` it."""
    stored, refusal = _stored_file(request)
    if refusal is not None:
        return refusal
    files, file_id = request.app[STATE].files, stored.id
    if request.method == "DELETE":
        files.delete(file_id)
        return web.json_response({"id": file_id, "type": "file_deleted"})
    return web.json_response(stored.metadata())


async def file_content_handler(request: web.Request) -> web.Response:
    """Uploads are never downloadable: the SDK raises ``FileNotDownloadableError``."""
    stored, refusal = _stored_file(request)
    if refusal is not None:
        return refusal
    files, file_id = request.app[STATE].files, stored.id
    if files.expired(stored):
        return _error_response(
            request,
            404,
            "not_found_error",
            f"File {file_id} has expired; its content is no longer available",
            {"error_code": "file_expired"},
        )
    return _error_response(
        request,
        400,
        "invalid_request_error",
        f"File {file_id} is not downloadable: only files that a tool created can be downloaded",
        {"error_code": "file_not_downloadable"},
    )


# --- the Message Batches API ----------------------------------------------------------------


def speed_of(requests_per_second: float | None) -> float:
    """A batch speed as the store keeps it: None is at once."""
    return INSTANT if requests_per_second is None else float(requests_per_second)


def _errored(error_type: str, message: str, details: dict[str, Any] | None = None) -> dict:
    error = error_body(error_type, message, None, details)
    del error["request_id"]
    return {"type": "errored", "error": error}


def batch_result(state: FakeState, params: dict[str, Any], scenario: Scenario | None) -> dict:
    """One request of a batch answered: the ``result`` of its results line. Checked as
    ``/v1/messages`` checks a request (a refusal is its ``errored`` result), then answered by its
    scenario (given by custom_id, else a ``[[fake:...]]`` directive; the queue is left to
    ``/v1/messages``) or the default reply, as a non-streaming request would be."""
    try:
        req = validate_request(params, state.catalogue, files=state.files)
    except ApiRefusal as error:
        return _errored(error.error_type, str(error), error.details)
    if not req.model["capabilities"]["batch"]["supported"]:
        return _errored(
            "invalid_request_error",
            f"model: {req.model_id} does not support the Message Batches API",
        )
    key = turn_key(req.continued_blocks) if req.continued_blocks is not None else None
    continuation = None
    if key is not None and key in state.continuations:
        continuation = state.continuations[key]
        if continuation is not None or scenario is None:
            scenario, continuation = None, continuation or DEFAULT_CONTINUATION
    elif scenario is None:
        try:
            directive = inline_directive(req.user_text)
            scenario = None if directive is None else parse_batch_scenario(directive)
        except ValueError as error:
            return _errored("invalid_request_error", f"fake: {error}")
    if isinstance(scenario, ExpiredScenario | HangScenario):
        return {"type": "expired"}
    if isinstance(scenario, HttpErrorScenario):
        return _errored(scenario.resolved_error_type, scenario.resolved_message)
    if isinstance(scenario, StreamErrorScenario):
        message = scenario.message or default_error_message(scenario.error_type)
        return _errored(scenario.error_type, message)
    if isinstance(scenario, DropScenario):
        return _errored("api_error", default_error_message("api_error"))
    if isinstance(scenario, RecordingScenario):
        message = accumulate_recording(scenario.name)
        message["usage"] = {**message.get("usage", {}), "service_tier": "batch"}
        return {"type": "succeeded", "message": message}
    assert scenario is None or isinstance(scenario, ReplyScenario)
    try:
        plan = _plan_reply(state, req, scenario, continuation, service_tier="batch")
    except ValueError as error:
        return _errored("invalid_request_error", f"fake: {error}")
    return {"type": "succeeded", "message": plan.message()}


def _base_url(request: web.Request) -> str:
    """Where the client reached us: a batch's ``results_url`` points back here."""
    return f"{request.scheme}://{request.host}"


def _batch_json(request: web.Request, batch: batches.Batch) -> web.Response:
    store = request.app[STATE].batches
    return web.json_response(batch.to_dict(_base_url(request), live_counts=store.live_counts))


async def _read_batch_body(request: web.Request) -> Any:
    """A create's body (up to ``MAX_BATCH_BYTES``, more than ``/v1/messages`` takes), read
    whole before any answer, then parsed."""
    limit = batches.MAX_BATCH_BYTES
    chunks, size = [], 0
    while chunk := await request.content.read(1024 * 1024):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise ApiRefusal(
            f"Request exceeds the maximum size of a message batch ({limit} bytes)",
            status=413,
            error_type="request_too_large",
        )
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError):
        raise ApiRefusal("Request body is not valid JSON") from None


async def batches_create_handler(request: web.Request) -> web.Response:
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    try:
        requests = parse_requests(await _read_batch_body(request))
    except ApiRefusal as error:
        return _refusal_response(request, error)
    return _batch_json(request, request.app[STATE].batches.create(requests))


def _batches_page_query(query: Any) -> dict[str, Any]:
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise ApiRefusal("limit: Input should be between 1 and 1000")
    cursors = {name: query[name] for name in ("after_id", "before_id") if name in query}
    if len(cursors) > 1:
        raise ApiRefusal("after_id and before_id cannot be used together")
    return {"limit": limit, **cursors}


async def batches_list_handler(request: web.Request) -> web.Response:
    """Newest first, ``{data, has_more, first_id, last_id}``: the SDK's ``SyncPage``."""
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    store = request.app[STATE].batches
    try:
        chosen, has_more = store.page(**_batches_page_query(request.query))
    except ApiRefusal as error:
        return _refusal_response(request, error)
    base_url = _base_url(request)
    data = [batch.to_dict(base_url, live_counts=store.live_counts) for batch in chosen]
    return web.json_response(
        {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


def _found_batch(request: web.Request) -> batches.Batch | web.Response:
    """The batch the path names, as it is now, or the answer to give instead."""
    if (auth_error := _auth_error(request)) is not None:
        return auth_error
    batch_id = request.match_info["batch_id"]
    batch = request.app[STATE].batches.get(batch_id)
    if batch is None:
        return _error_response(
            request, 404, "not_found_error", f"Message batch not found: {batch_id}"
        )
    return batch


async def batch_handler(request: web.Request) -> web.Response:
    """``GET`` a batch, or ``DELETE`` one that has ended."""
    batch = _found_batch(request)
    if isinstance(batch, web.Response):
        return batch
    if request.method == "DELETE":
        if not batch.ended:
            return _error_response(
                request,
                400,
                "invalid_request_error",
                f"Message batch {batch.id} cannot be deleted while it is {batch.status}: "
                "only a batch that has ended can be (cancel it first)",
            )
        request.app[STATE].batches.delete(batch.id)
        return web.json_response({"id": batch.id, "type": "message_batch_deleted"})
    return _batch_json(request, batch)


async def batch_cancel_handler(request: web.Request) -> web.Response:
    batch = _found_batch(request)
    if isinstance(batch, web.Response):
        return batch
    return _batch_json(request, request.app[STATE].batches.cancel(batch))


async def batch_results_handler(request: web.Request) -> web.StreamResponse:
    """The JSONL results of an ended batch, written a line at a time."""
    batch = _found_batch(request)
    if isinstance(batch, web.Response):
        return batch
    if not batch.ended:
        return _error_response(
            request,
            400,
            "invalid_request_error",
            f"Message batch {batch.id} has not ended: its results are available once its "
            "processing_status is ended",
        )
    response = web.StreamResponse(
        status=200, headers={"content-type": "application/binary", **_api_headers(request)}
    )
    await response.prepare(request)
    for line in batch.result_lines():
        await response.write(line)
    await response.write_eof()
    return response


# --- the control API (not part of the real API) ------------------------------------------------


def _control_error(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _control_body(request: web.Request) -> Any:
    """The JSON body of a control request; ``ValueError`` with a message for the caller."""
    try:
        return json.loads(await request.read())
    except json.JSONDecodeError as error:
        raise ValueError(f"body is not valid JSON: {error.msg}") from None


async def control_add_scenarios(request: web.Request) -> web.Response:
    try:
        scenarios = parse_scenarios(await _control_body(request))
    except ValueError as error:
        return _control_error(str(error))
    queue = request.app[STATE].queue
    queue.extend(scenarios)
    return web.json_response({"queued": len(scenarios), "pending": len(queue)})


async def control_list_models(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].catalogue.models)


async def control_change_models(request: web.Request) -> web.Response:
    """A list replaces the catalogue; ``{"add": [...], "update": {id: {...}}, "remove": [ids]}``
    patches it. Answers the catalogue as it now is."""
    try:
        change_models(request.app[STATE].catalogue, await _control_body(request))
    except ValueError as error:
        return _control_error(str(error))
    return web.json_response(request.app[STATE].catalogue.models)


async def control_clock(request: web.Request) -> web.Response:
    """``POST {"advance": seconds}`` moves the clock the prompt cache's TTLs run on."""
    clock = request.app[STATE].clock
    if request.method == "POST":
        try:
            body = await _control_body(request)
            seconds = body.get("advance") if isinstance(body, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise ValueError('body must be {"advance": seconds}')
            clock.advance(float(seconds))
        except ValueError as error:
            return _control_error(str(error))
    return web.json_response({"now": clock.now(), "offset": clock.offset})


def _fake_batches(state: FakeState, base_url: str) -> list[dict[str, Any]]:
    store = state.batches
    return [
        batch.to_dict(base_url, live_counts=store.live_counts) for batch in store.newest_first()
    ]


def change_batches(state: FakeState, change: Any) -> None:
    """Apply ``POST /_fake/batches``' body (each key optional, in this order):
    ``{"scenarios": {custom_id: scenario}, "requests_per_second": n | null, "batch_id": id,
    "live_counts": bool, "finish": true, "expire": true}``; ``batch_id`` narrows the speed,
    finish and expire to one batch. ``ValueError`` (nothing changed) or ``KeyError``."""
    if not isinstance(change, dict):
        raise ValueError("the body is a JSON object")
    known = {"scenarios", "requests_per_second", "batch_id", "live_counts", "finish", "expire"}
    if extra := sorted(set(change) - known):
        raise ValueError(f"unknown key(s) {', '.join(extra)}; known: {', '.join(sorted(known))}")
    store = state.batches
    batch_id = change.get("batch_id")
    if batch_id is not None and batch_id not in {b.id for b in store.newest_first()}:
        raise ValueError(f"no message batch {batch_id!r}")
    scenarios = change.get("scenarios", {})
    if not isinstance(scenarios, dict):
        raise ValueError("'scenarios' is an object: custom_id -> scenario")
    parsed = {}
    for custom_id, data in scenarios.items():
        try:
            parsed[custom_id] = parse_batch_scenario(data)
        except ValueError as error:
            raise ValueError(f"scenario of {custom_id!r}: {error}") from None
    speed = change.get("requests_per_second")
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0
    ):
        raise ValueError("'requests_per_second' is a number >= 0, or null for at once")
    store.scenarios.update(parsed)
    if "requests_per_second" in change:
        store.set_speed(speed_of(speed), batch_id)
    if "live_counts" in change:
        store.live_counts = bool(change["live_counts"])
    if change.get("finish"):
        store.finish(batch_id)
    if change.get("expire"):
        store.expire(batch_id)


async def control_batches(request: web.Request) -> web.Response:
    """``GET``: every batch as the API shows it, newest first; ``POST``: see
    ``change_batches``."""
    state = request.app[STATE]
    if request.method == "POST":
        try:
            change_batches(state, await _control_body(request))
        except ValueError as error:
            return _control_error(str(error))
    return web.json_response(_fake_batches(state, _base_url(request)))


async def control_cache(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].cache.entries())


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
            "count_tokens_calls": state.counts,
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
    app.router.add_post("/v1/files", files_upload_handler)
    app.router.add_get("/v1/files", files_list_handler)
    app.router.add_get("/v1/files/{file_id}", file_handler)
    app.router.add_delete("/v1/files/{file_id}", file_handler)
    app.router.add_get("/v1/files/{file_id}/content", file_content_handler)
    app.router.add_post("/v1/messages/batches", batches_create_handler)
    app.router.add_get("/v1/messages/batches", batches_list_handler)
    app.router.add_get("/v1/messages/batches/{batch_id}", batch_handler)
    app.router.add_delete("/v1/messages/batches/{batch_id}", batch_handler)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", batch_cancel_handler)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", batch_results_handler)
    app.router.add_post("/_fake/scenarios", control_add_scenarios)
    app.router.add_get("/_fake/scenarios", control_list_scenarios)
    app.router.add_get("/_fake/requests", control_requests)
    app.router.add_get("/_fake/models", control_list_models)
    app.router.add_post("/_fake/models", control_change_models)
    app.router.add_route("*", "/_fake/clock", control_clock)
    app.router.add_get("/_fake/cache", control_cache)
    app.router.add_route("*", "/_fake/batches", control_batches)
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
