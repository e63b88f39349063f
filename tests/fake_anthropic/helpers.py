"""What the fake's test modules share: the usual request, raw HTTP, SSE parsing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import anthropic

MODEL = "claude-sonnet-5"
SNAPSHOT = "claude-sonnet-5-20260929"
HELLO = [{"role": "user", "content": "Hello there"}]


def async_client(fake, max_retries=0):
    return anthropic.AsyncAnthropic(
        api_key="test-key", base_url=fake.base_url, max_retries=max_retries
    )


def http(fake, method, path, body=None, headers=None):
    """A plain HTTP call (for what the SDK cannot send); returns (status, headers, bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        fake.base_url + path,
        data=data,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def sse_events(raw: bytes) -> list[tuple[str, dict]]:
    events = []
    for frame in raw.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events
