from importlib import import_module
from types import SimpleNamespace
from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib import auth
from django.http.cookie import parse_cookie
from django.http.request import validate_host

from .db import run_db


class SessionUserMiddleware:
    """Puts the user logged in by the session cookie into a socket's scope (AnonymousUser
    if none), as Channels' AuthMiddlewareStack does, but without wrapping `send`: that
    stack's SessionMiddleware runs a wrapper around every frame the server sends, to save
    a session that a chat socket never changes, and the relay sends thousands a second."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        session_key = None
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                session_key = parse_cookie(value.decode("latin-1")).get(
                    settings.SESSION_COOKIE_NAME
                )
        user = await run_db(_session_user, session_key=session_key)
        return await self.inner({**scope, "user": user}, receive, send)


def _session_user(*, session_key):
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return auth.get_user(SimpleNamespace(session=store(session_key)))


def _origin(scheme: str, netloc: str) -> str:
    """scheme://host[:port] in lower case, without the scheme's default port."""
    netloc = netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{scheme}://{netloc}"


class SameOriginValidator:
    """Accepts a socket only from the page's own origin: the `Origin` header's scheme,
    host and port must be those the socket was opened on (its `Host` header, and https
    for wss, or behind a proxy the scheme SECURE_PROXY_SSL_HEADER says), with the host in
    ALLOWED_HOSTS, or be one of CSRF_TRUSTED_ORIGINS. Channels' AllowedHostsOriginValidator
    compares host names only, so another port or scheme of the same host passed."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not self.allowed(scope):
            return await WebsocketDenier()(scope, receive, send)  # refused at the handshake
        return await self.inner(scope, receive, send)

    @staticmethod
    def allowed(scope) -> bool:
        headers = {name: value.decode("latin-1") for name, value in scope.get("headers", ())}
        origin = headers.get(b"origin")
        if not origin:
            return False
        parsed = urlparse(origin)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            return False
        claimed = _origin(parsed.scheme, parsed.netloc)
        if claimed in {o.lower().rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS}:
            return True
        if not validate_host(parsed.hostname or "", settings.ALLOWED_HOSTS):
            return False
        host = headers.get(b"host")
        if host is None:  # only a test client opens a socket without Host: hosts compared
            return True
        scheme = "https" if scope.get("scheme") == "wss" else "http"
        proxy = settings.SECURE_PROXY_SSL_HEADER
        if proxy:
            name = proxy[0].lower().removeprefix("http_").replace("_", "-").encode()
            forwarded = headers.get(name)
            if forwarded is not None:
                scheme = "https" if forwarded == proxy[1] else "http"
        return claimed == _origin(scheme, host)
