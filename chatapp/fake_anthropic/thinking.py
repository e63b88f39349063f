"""Thinking blocks' signatures and redacted thinking's data, which only the fake can make.

The real API refuses a thinking block sent back with a signature it did not issue for that text.
The fake signs with a fixed key (so a conversation outlives a restart of the fake, as it outlives
a deploy of the real API): a random nonce and an HMAC of nonce and text, base64 encoded. Checking
needs no memory of what was sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from .scenarios import strip_inline_directives

_KEY = b"fake-anthropic thinking signatures"
_NONCE_BYTES = 12
_REDACTED_PREFIX = b"redacted:"


def _mac(nonce: bytes, payload: bytes) -> bytes:
    return hmac.new(_KEY, nonce + payload, hashlib.sha256).digest()


def _seal(payload: bytes) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    return base64.b64encode(nonce + _mac(nonce, payload)).decode()


def _opens(sealed: object, payload: bytes) -> bool:
    if not isinstance(sealed, str):
        return False
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        return False
    nonce, mac = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    return len(nonce) == _NONCE_BYTES and hmac.compare_digest(mac, _mac(nonce, payload))


def sign(thinking: str) -> str:
    """The ``signature`` of a thinking block with this (shown) text."""
    return _seal(thinking.encode())


def signature_matches(thinking: object, signature: object) -> bool:
    return isinstance(thinking, str) and _opens(signature, thinking.encode())


def redacted_data() -> str:
    """The opaque ``data`` of a ``redacted_thinking`` block."""
    return _seal(_REDACTED_PREFIX)


def redacted_data_matches(data: object) -> bool:
    return _opens(data, _REDACTED_PREFIX)


def default_thinking(prompt: str) -> str:
    """What the fake "thinks" when a request asks for thinking and no scenario says what."""
    words = " ".join(strip_inline_directives(prompt).split()[:12]) or "(nothing)"
    return (
        f"The user wrote: {words}. A short, direct answer comes first, then an example, "
        "then what to do next."
    )
