"""A fake Anthropic Messages API that speaks the real wire protocol over HTTP.

Point the real ``anthropic`` SDK at it (``base_url=`` or ``ANTHROPIC_BASE_URL``) and it works
unchanged: SSE streams, errors, retries, usage. Three uses: the app's tests (every failure on
demand), demo mode without an API key (simulated Markdown replies), and benchmarks (many paced
streams at once).

- ``server.py``: ``build_app(config)``, ``serve(host, port, **defaults)``: the HTTP handlers,
  the Files API's and the Message Batches API's too.
- ``catalogue.py``: the ``MODELS`` catalogue (``ModelInfo``-shaped), aliases, paging, test patches.
- ``validation.py``: a request checked for shape and against its model's capabilities.
- ``media.py``: images and documents read (Pillow, pypdf), checked and counted.
- ``server_tools.py``: web search and web fetch: tool definitions, made-up results, the checks
  on their blocks sent back.
- ``files.py``: the Files API's store.
- ``batches.py``: the Message Batches API's store: checks at creation, processing over time on
  the fake's clock, expiry, cancel, the JSONL results.
- ``structured.py``: structured outputs: the schema checked, the JSON a reply gives.
- ``prompt.py``: the tokenizer and a prompt's blocks in cache order, with their breakpoints.
- ``caching.py``: the prompt cache by prefix and the clock its TTLs run on.
- ``thinking.py``: thinking signatures and redacted thinking, checked when sent back.
- ``blocks.py``: a reply's content blocks, streamed or whole.
- ``answers.py``: what a reply that cites, searches or fetches says.
- ``replies.py``: a reply's plan (blocks, stop reason, usage) and its SSE frames.
- ``scenarios.py``: the scenario kinds and their JSON form, the demo reply, token splitting.
- ``testing.py``: ``FakeAnthropicServer``, the server on a background thread.
- ``recordings/``: real SSE streams from the SDK's own test fixtures (MIT, see SOURCES.md).
- ``python -m chatapp.fake_anthropic --port 8765``: the same server as a process.

How failures reach a caller of the SDK (anthropic 2.13.0 over httpx2), checked by the tests:

- ``http_error``: the status's ``APIStatusError`` subclass (529 ``OverloadedError``, 429
  ``RateLimitError``, ...) with ``request_id``; 408/409/429/5xx are retried first, following
  ``retry-after`` and ``x-should-retry``.
- ``stream_error``: a plain ``anthropic.APIStatusError`` raised while iterating, after the text
  already sent; never retried.
- ``drop`` on a stream: **``httpx2.RemoteProtocolError``** ("peer closed connection without
  sending complete message body"), raised while iterating. It is *not* an ``anthropic.APIError``:
  a relay must catch it (or ``httpx2.HTTPError``) as well. On a non-streaming request the drop
  happens before the response, so the SDK retries and then raises ``anthropic.APIConnectionError``.
- ``hang``: nothing arrives; closing the stream (leaving ``async with``, ``await stream.close()``)
  ends the server's handler at once.

Recordings are replayed byte for byte. Six of the seven files end with a single newline, so the
SDK never dispatches their last event (``message_stop``): the stream simply ends after
``message_delta``. ``missing_usage_response`` has no ``usage`` in ``message_start``, and the
SDK's ``messages.stream`` helper fails on it with ``AttributeError`` (2.13.0); the raw stream
(``messages.create(stream=True)``) reads fine.
"""

from .catalogue import MODELS
from .scenarios import parse_scenario, parse_scenarios
from .server import FakeConfig, build_app, runner_base_url, serve

__all__ = [
    "MODELS",
    "FakeConfig",
    "build_app",
    "parse_scenario",
    "parse_scenarios",
    "runner_base_url",
    "serve",
]
