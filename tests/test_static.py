"""Static files served by the app server itself (DJANGO_SERVE_STATIC)."""

import pytest
from channels.testing import HttpCommunicator

from chatapp.asgi import application


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/chatapp/settings.py",
        "/static/../chatapp/settings.py",
        "/static/..%2fmanage.py",
    ],
)
async def test_a_path_out_of_the_static_folders_is_a_404(path, db):
    response = await HttpCommunicator(application, "GET", path).get_response(timeout=10)
    assert response["status"] == 404
    assert b"SECRET_KEY" not in response["body"]


async def test_a_static_file_is_served(db):
    communicator = HttpCommunicator(application, "GET", "/static/chat/main.js")
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    assert start["status"] == 200
    body = b""
    while True:
        message = await communicator.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    assert b"import" in body
