from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.http.cookie import parse_cookie

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
