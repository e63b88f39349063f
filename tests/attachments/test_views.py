"""Over HTTP: the upload's answers, and serving a file to its owner and staff only, with
headers that keep a browser from taking it for anything but what it was checked to be."""

import pytest
from django.urls import reverse

from chatapp.attachments.models import Attachment
from chatapp.attachments.services import attachment_create

from .conftest import halves_jpeg, image_bytes, pdf_bytes, stored_files, upload

UPLOAD = "/attachments/"


def test_the_urls_are_the_documented_ones():
    assert reverse("attachments:upload") == UPLOAD
    assert reverse("attachments:file", args=[7]) == "/attachments/7/"
    assert reverse("attachments:thumbnail", args=[7]) == "/attachments/7/thumbnail/"


def test_an_upload_answers_201_with_the_attachment(client, owner):
    client.force_login(owner)
    response = client.post(UPLOAD, {"file": upload("photo.jpg", halves_jpeg(6))})
    assert response.status_code == 201
    data = response.json()
    attachment = Attachment.objects.get()
    assert attachment.owner == owner
    assert data == {
        "id": attachment.pk,
        "name": "photo.jpg",
        "kind": "image",
        "size": attachment.size,
        "url": f"/attachments/{attachment.pk}/",
        "thumbnail_url": f"/attachments/{attachment.pk}/thumbnail/",
        "media_type": "image/jpeg",
        "width": 20,
        "height": 40,
        "pages": None,
        "tokens": 2,
    }


def test_a_refused_upload_answers_400_with_the_reason(client, owner, media_root):
    client.force_login(owner)
    response = client.post(UPLOAD, {"file": upload("x.png", b"PK\x03\x04" + bytes(50))})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "unsupported_file",
            "message": "x.png is not an image (PNG, JPEG, GIF or WebP), a PDF or a text file.",
        }
    }
    assert Attachment.objects.count() == 0 and stored_files(media_root) == []


def test_an_upload_without_the_file_field_answers_400(client, owner):
    client.force_login(owner)
    response = client.post(UPLOAD, {"other": upload("a.txt", b"hi")})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_file"


def test_an_upload_is_a_post_with_the_csrf_token(owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(UPLOAD).status_code == 405
    assert client.post(UPLOAD, {"file": upload("a.txt", b"hi\n")}).status_code == 403
    client.get(reverse("chat:index"))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        UPLOAD, {"file": upload("a.txt", b"hi\n")}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201


def test_a_signed_out_upload_is_sent_to_the_login_page(client, db, media_root):
    # As every JSON endpoint of the page answers a signed-out session (static/chat/http.js
    # reads a redirect as "signed out").
    response = client.post(UPLOAD, {"file": upload("a.txt", b"hi\n")})
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert Attachment.objects.count() == 0 and stored_files(media_root) == []


@pytest.fixture
def image(owner):
    return attachment_create(owner=owner, upload=upload("photo.png", image_bytes("PNG")))


@pytest.fixture
def pdf(owner):
    return attachment_create(owner=owner, upload=upload("Résumé 2026.pdf", pdf_bytes()))


def body(response) -> bytes:
    """Read to the end, which closes the file (the test client's own wrapper)."""
    return b"".join(response.streaming_content)


def test_the_owner_and_staff_get_the_file_a_stranger_gets_404(
    client, owner, stranger, staff, image
):
    url = reverse("attachments:file", args=[image.pk])
    with image.file.open("rb") as stored:
        expected = stored.read()
    client.force_login(owner)
    assert body(client.get(url)) == expected
    client.force_login(staff)
    assert body(client.get(url)) == expected
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.get(reverse("attachments:thumbnail", args=[image.pk])).status_code == 404
    # Another user's file reads exactly as one that does not exist.
    assert client.get(reverse("attachments:file", args=[image.pk + 1000])).status_code == 404
    assert client.get("/attachments/99999999999999999999999/").status_code == 404


def test_a_signed_out_visitor_is_sent_to_the_login_page(client, image):
    response = client.get(reverse("attachments:file", args=[image.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_an_image_is_served_inline_with_its_checked_type_sandboxed(client, owner, image):
    client.force_login(owner)
    response = client.get(reverse("attachments:file", args=[image.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="photo.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert int(response["Content-Length"]) == image.size
    body(response)


def test_a_thumbnail_is_a_small_webp(client, owner, image, pdf):
    client.force_login(owner)
    response = client.get(reverse("attachments:thumbnail", args=[image.pk]))
    assert response["Content-Type"] == "image/webp"
    assert response["Content-Disposition"] == 'inline; filename="photo.webp"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response)[8:12] == b"WEBP"
    assert client.get(reverse("attachments:thumbnail", args=[pdf.pk])).status_code == 404


def test_a_pdf_is_a_download_under_its_own_name_safely_encoded(client, owner, pdf):
    client.force_login(owner)
    response = client.get(reverse("attachments:file", args=[pdf.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''R%C3%A9sum%C3%A9%202026.pdf"
    )
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert body(response).startswith(b"%PDF-")


def test_text_is_a_plain_text_download_even_named_html(client, owner):
    attachment = attachment_create(owner=owner, upload=upload('a"b.html', b"just words\n"))
    client.force_login(owner)
    response = client.get(reverse("attachments:file", args=[attachment.pk]))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="a\\"b.html.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response) == b"just words\n"


def test_a_file_lost_by_the_storage_is_404(client, owner, image):
    image.file.storage.delete(image.file.name)
    client.force_login(owner)
    assert client.get(reverse("attachments:file", args=[image.pk])).status_code == 404
