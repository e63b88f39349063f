import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
# Django must be set up before the routing (and so the models) is imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.exceptions import SuspiciousOperation  # noqa: E402
from django.http import Http404  # noqa: E402

from chatapp.chat.middleware import SameOriginValidator, SessionUserMiddleware  # noqa: E402
from chatapp.routing import websocket_urlpatterns  # noqa: E402


class StaticFiles(ASGIStaticFilesHandler):
    """/static/ from the app server. A path that tries to leave the static folders (e.g.
    `/static/%2e%2e/chatapp/settings.py`) is a plain 404, not a server error."""

    def serve(self, request):
        try:
            return super().serve(request)
        except SuspiciousOperation:
            raise Http404("No such file.") from None


http_app = django_asgi_app
if settings.SERVE_STATIC:
    http_app = StaticFiles(django_asgi_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": SameOriginValidator(SessionUserMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
