"""``FakeAnthropicServer``: the fake API on a background thread, for tests and benchmarks.

    with FakeAnthropicServer() as fake:
        fake.enqueue({"kind": "http_error", "status": 529, "times": 2})
        client = anthropic.Anthropic(api_key="test", base_url=fake.base_url, max_retries=2)
        ...
        assert fake.requests[-1]["outcome"] == "completed"

        fake.update_model("claude-sonnet-4-5-20250929", lifecycle="retired")
        fake.advance_clock(6 * 60)  # past a 5-minute cache entry's TTL

        fake.enqueue({"kind": "web_search", "searches": 2, "pause_after": 1})
        assert fake.files[0]["mime_type"] == "application/pdf"  # what the app uploaded

        fake.set_batch_speed(0)  # batches created now stay in progress...
        fake.set_batch_scenarios({"row-3": {"kind": "http_error", "status": 529}})
        fake.finish_batches()  # ...until this; row-3 is errored, overloaded_error

The server runs its own event loop on its own thread, so it serves sync and async clients alike,
and a test's event loop never has to drive it. Every method is safe to call from any thread.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

from .batches import parse_batch_scenario
from .catalogue import change_models
from .scenarios import parse_scenarios
from .server import STATE, FakeState, runner_base_url, serve, speed_of

T = TypeVar("T")


class FakeAnthropicServer:
    def __init__(
        self,
        token_delay: float = 0.0,
        first_token_delay: float = 0.0,
        reply_tokens: int | None = None,
        *,
        batch_speed: float | None = None,
        batch_live_counts: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """``batch_speed``: requests of a message batch answered per second (None, the default
        here: at once, so a batch has ended when it is next looked at; 0: held still)."""
        self._defaults = {
            "token_delay": token_delay,
            "first_token_delay": first_token_delay,
            "reply_tokens": reply_tokens,
            "batch_speed": batch_speed,
            "batch_live_counts": batch_live_counts,
        }
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # --- lifecycle ---

    def start(self) -> FakeAnthropicServer:
        """Start serving; returns once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("FakeAnthropicServer is already started")
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="fake-anthropic", daemon=True
        )
        self._thread.start()
        started.result(timeout=10)
        return self

    def _run(self, started: Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._runner = loop.run_until_complete(
                serve(self._host, self._port, shutdown_timeout=0.5, **self._defaults)
            )
            self._base_url = runner_base_url(self._runner)
        except BaseException as error:
            started.set_exception(error)
            loop.close()
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving; streams still open are cancelled."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None
        self._runner = None

    def __enter__(self) -> FakeAnthropicServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what tests use ---

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: give it to the SDK as ``base_url``."""
        if self._base_url is None:
            raise RuntimeError("FakeAnthropicServer is not started")
        return self._base_url

    def enqueue(self, *scenarios: dict[str, Any]) -> None:
        """Queue scenarios (JSON-style dicts); a bad one raises ``ValueError`` here, in the test."""
        parsed = parse_scenarios(list(scenarios))
        self._call(lambda state: state.queue.extend(parsed))

    @property
    def count_tokens_calls(self) -> int:
        """How many count_tokens requests came in since the last reset."""
        return self._call(lambda state: state.counts)

    def fail_count_tokens(self, status: int | None = 529) -> None:
        """Every count_tokens call fails with this HTTP status (and its usual error body)
        until reset; None: they are answered again."""

        def set_failure(state: FakeState) -> None:
            state.count_tokens_failure = status

        self._call(set_failure)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copies of the /v1/messages requests received so far, oldest first."""
        return self._call(lambda state: copy.deepcopy(list(state.requests)))

    @property
    def pending_scenarios(self) -> list[dict[str, Any]]:
        return self._call(lambda state: state.queue.pending())

    @property
    def active_streams(self) -> int:
        """Answers still being produced (streams open, waits under way)."""
        return self._call(lambda state: state.active_streams)

    def reset(self) -> None:
        """Forget queued scenarios, logged requests, cache entries, uploaded files, message
        batches (and their scenarios) and paused turns; restore the default catalogue, the real
        time and the batch speed and counts given to the constructor."""
        self._call(lambda state: state.reset())

    # --- the model catalogue ---

    @property
    def models(self) -> list[dict[str, Any]]:
        """The whole catalogue (retired models too), newest first, as ``ModelInfo`` dicts."""
        return self._call(lambda state: copy.deepcopy(state.catalogue.models))

    def set_models(self, models: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace the catalogue. A model may be partial (``{"id": ..., "max_tokens": 100}``):
        the rest comes from the defaults of ``catalogue.model_defaults``. Returns the catalogue;
        a bad model raises ``ValueError`` here and changes nothing."""
        return self._change_models(list(models))

    def patch_models(
        self,
        *,
        add: Iterable[Mapping[str, Any]] = (),
        update: Mapping[str, Mapping[str, Any]] | None = None,
        remove: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        """Add models, change keys of others (nested objects merged), remove some, at once."""
        change = {"add": list(add), "update": dict(update or {}), "remove": list(remove)}
        return self._change_models(change)

    def update_model(self, model_id: str, **changes: Any) -> dict[str, Any]:
        """Change one model's keys, e.g. ``update_model(id, lifecycle="retired")`` or
        ``update_model(id, capabilities={"effort": {"supported": False}})``; returns it."""
        models = self.patch_models(update={model_id: changes})
        return next(model for model in models if model["id"] == model_id)

    def remove_model(self, model_id: str) -> None:
        self.patch_models(remove=[model_id])

    def _change_models(self, change: Any) -> list[dict[str, Any]]:
        return self._call(lambda state: copy.deepcopy(change_models(state.catalogue, change)))

    # --- the clock and the prompt cache ---

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward: cache entries expire as if the time had passed."""
        self._call(lambda state: state.clock.advance(seconds))

    @property
    def cache_entries(self) -> list[dict[str, Any]]:
        """The live prompt-cache entries: ``{model, tokens, ttl, expires_in}``."""
        return self._call(lambda state: state.cache.entries())

    # --- the Files API ---

    @property
    def files(self) -> list[dict[str, Any]]:
        """The files uploaded and not deleted, newest first, as ``FileMetadata`` dicts
        (expired ones too: their metadata stays, their content is gone)."""
        return self._call(lambda state: [f.metadata() for f in state.files.newest_first()])

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes uploaded as this file; ``KeyError`` if there is no such file."""
        stored = self._call(lambda state: state.files.get(file_id))
        if stored is None:
            raise KeyError(file_id)
        return stored.data

    def add_file(
        self, data: bytes, filename: str | None = None, *, expires_in: int | None = None
    ) -> dict[str, Any]:
        """Store a file as an upload would (type found from the content), without an upload;
        returns its ``FileMetadata`` dict, whose ``id`` image and document blocks can use."""
        return self._call(
            lambda state: state.files.add(data, filename, expires_in=expires_in).metadata()
        )

    # --- the Message Batches API ---

    @property
    def batches(self) -> list[dict[str, Any]]:
        """The batches created and not deleted, newest first, as ``GET`` shows them now
        (``MessageBatch`` dicts)."""
        base_url = self.base_url
        return self._call(
            lambda state: [
                batch.to_dict(base_url, live_counts=state.batches.live_counts)
                for batch in state.batches.newest_first()
            ]
        )

    def batch_requests(self, batch_id: str) -> list[dict[str, Any]]:
        """The ``{custom_id, params}`` requests of a batch, as they were sent (``KeyError`` if
        there is no such batch)."""
        return self._call(lambda state: copy.deepcopy(state.batches.requests_of(batch_id)))

    def set_batch_speed(
        self, requests_per_second: float | None, *, batch_id: str | None = None
    ) -> None:
        """How many requests of a batch are answered per second from now on: of every batch
        without a speed of its own (and those created later), or of ``batch_id``'s. None: at
        once; 0: held still (until ``finish_batches``, ``expire_batches`` or the clock passes
        ``expires_at``). The fake's clock counts: ``advance_clock`` moves batches on too."""
        speed = speed_of(requests_per_second)
        self._call(lambda state: state.batches.set_speed(speed, batch_id))

    def set_batch_live_counts(self, live: bool = True) -> None:
        """``request_counts`` that move while a batch runs (True), or, as the API documents
        them, every request ``processing`` until the batch ends (False, the default)."""

        def change(state: FakeState) -> None:
            state.batches.live_counts = live

        self._call(change)

    def set_batch_scenarios(self, scenarios: Mapping[str, dict[str, Any]]) -> None:
        """The scenario of every request with this ``custom_id``, in any batch, until reset:
        any kind ``enqueue`` takes (``http_error`` is an ``errored`` result with its error type
        and message, ``reply`` a succeeded one with its text...) or ``{"kind": "expired"}``.
        A bad one raises ``ValueError`` here and changes nothing."""
        parsed = {}
        for custom_id, data in scenarios.items():
            try:
                parsed[custom_id] = parse_batch_scenario(data)
            except ValueError as error:
                raise ValueError(f"scenario of {custom_id!r}: {error}") from None
        self._call(lambda state: state.batches.scenarios.update(parsed))

    def finish_batches(self, batch_id: str | None = None) -> None:
        """End every batch not ended yet (or ``batch_id``) now: all its requests answered; a
        canceling one's request under way answered and the rest canceled."""
        self._call(lambda state: state.batches.finish(batch_id))

    def expire_batches(self, batch_id: str | None = None) -> None:
        """Make every batch in progress (or ``batch_id``) reach its ``expires_at`` now: the
        requests not answered yet are ``expired``, and ``expires_at`` is now."""
        self._call(lambda state: state.batches.expire(batch_id))

    def wait_for(
        self, predicate: Callable[[FakeAnthropicServer], bool], timeout: float = 5.0
    ) -> None:
        """Poll until ``predicate(self)`` holds, e.g. until a stream's handler has ended."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met within timeout")
            time.sleep(0.01)

    def _call(self, action: Callable[[FakeState], T]) -> T:
        """Run ``action`` on the server's loop, where the state lives, and return its result."""
        if self._loop is None or self._runner is None:
            raise RuntimeError("FakeAnthropicServer is not started")
        state = self._runner.app[STATE]

        async def run() -> T:
            return action(state)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)
