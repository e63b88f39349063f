"""The one place that builds Anthropic clients."""

import asyncio
import weakref

import anthropic
from django.conf import settings

# An httpx client belongs to the event loop that opened its connections, so the app keeps
# one SDK client per loop (daphne has one; each test has its own).
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


def async_client() -> anthropic.AsyncAnthropic:
    """The SDK's async client, configured from settings (falling back on the SDK's own
    reading of ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL when those are empty)."""
    loop = asyncio.get_running_loop()
    key = (
        settings.ANTHROPIC_API_KEY,
        settings.ANTHROPIC_BASE_URL,
        settings.ANTHROPIC_MAX_RETRIES,
        settings.ANTHROPIC_TIMEOUT,
    )
    per_loop = _clients.setdefault(loop, {})
    client = per_loop.get(key)
    if client is None:
        client = anthropic.AsyncAnthropic(
            api_key=settings.ANTHROPIC_API_KEY or None,
            base_url=settings.ANTHROPIC_BASE_URL or None,
            max_retries=settings.ANTHROPIC_MAX_RETRIES,
            timeout=settings.ANTHROPIC_TIMEOUT,
        )
        per_loop[key] = client
    return client


def sync_client() -> anthropic.Anthropic:
    """The SDK's blocking client, for the rare call made inside a database transaction
    (count_tokens near the context window); one per configuration."""
    key = (
        settings.ANTHROPIC_API_KEY,
        settings.ANTHROPIC_BASE_URL,
        settings.ANTHROPIC_MAX_RETRIES,
        settings.ANTHROPIC_TIMEOUT,
    )
    client = _sync_clients.get(key)
    if client is None:
        client = _sync_clients[key] = anthropic.Anthropic(
            api_key=settings.ANTHROPIC_API_KEY or None,
            base_url=settings.ANTHROPIC_BASE_URL or None,
            max_retries=settings.ANTHROPIC_MAX_RETRIES,
            timeout=settings.ANTHROPIC_TIMEOUT,
        )
    return client


_sync_clients: dict = {}
