"""The Files API through the SDK's ``client.files`` (upload, list, metadata, delete, download),
and file ids in image and document blocks."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from datetime import UTC, datetime

import anthropic
import pytest
from anthropic.types import FileExpiredError, FileNotDownloadableError

from .helpers import MODEL, ask, http, image_bytes, pdf_bytes


def upload(client, data, filename="upload.bin"):
    return client.files.upload(file=(filename, io.BytesIO(data)))


def file_block(kind, file_id, **extra):
    return {"type": kind, "source": {"type": "file", "file_id": file_id}, **extra}


def test_an_upload_answers_its_metadata_with_the_type_found_from_the_content(fake, client):
    before = datetime.now(UTC)
    uploaded = upload(client, pdf_bytes("Quarterly report."), "reports/q3.pdf")
    assert uploaded.id.startswith("file_")
    assert uploaded.type == "file"
    assert uploaded.filename == "q3.pdf"  # only the final path component
    assert uploaded.mime_type == "application/pdf"
    assert uploaded.size_bytes == len(pdf_bytes("Quarterly report."))
    assert uploaded.downloadable is False
    assert uploaded.expires_at is None
    assert before.replace(microsecond=0) <= uploaded.created_at <= datetime.now(UTC)
    assert fake.files == [uploaded.model_dump(mode="json")]
    assert fake.file_bytes(uploaded.id) == pdf_bytes("Quarterly report.")


@pytest.mark.parametrize(
    ("data", "filename", "mime_type"),
    [
        (image_bytes(10, 10, "PNG"), "not-really.txt", "image/png"),
        (image_bytes(10, 10, "JPEG"), "photo.jpg", "image/jpeg"),
        (image_bytes(10, 10, "GIF"), "a.gif", "image/gif"),
        (image_bytes(10, 10, "WEBP"), "a.webp", "image/webp"),
        ("Notes, in UTF-8: é.".encode(), "notes.md", "text/plain"),
        (b"\x00\x01\x02\xff", "blob.pdf", "application/octet-stream"),
    ],
)
def test_the_mime_type_comes_from_the_content_not_the_name(client, data, filename, mime_type):
    assert upload(client, data, filename).mime_type == mime_type


def test_an_upload_without_a_name_is_unnamed_with_its_types_extension(fake):
    boundary = "fakeboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n'.encode()
        + pdf_bytes("x")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, raw = _raw_upload(fake, body, boundary)
    assert status == 200 and b'"filename": "unnamed.pdf"' in raw


def _raw_upload(fake, body, boundary):
    request = urllib.request.Request(
        fake.base_url + "/v1/files",
        data=body,
        method="POST",
        headers={"content-type": f"multipart/form-data; boundary={boundary}", "x-api-key": "k"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_an_upload_needs_a_file_and_a_key(fake, client):
    with pytest.raises(anthropic.BadRequestError, match="file: the file is empty"):
        upload(client, b"")
    status, _, raw = http(fake, "POST", "/v1/files", {"file": "x"}, {"x-api-key": "k"})
    assert status == 400 and b"multipart/form-data" in raw
    status, _, _ = http(fake, "GET", "/v1/files")
    assert status == 401


def test_list_metadata_and_delete(client):
    first = upload(client, b"one", "one.txt")
    second = upload(client, b"two", "two.txt")
    assert [f.id for f in client.files.list()] == [second.id, first.id]  # newest first
    assert client.files.retrieve_metadata(first.id) == first
    deleted = client.files.delete(first.id)
    assert (deleted.id, deleted.type) == (first.id, "file_deleted")
    assert [f.id for f in client.files.list()] == [second.id]
    with pytest.raises(anthropic.NotFoundError, match=f"File not found: {first.id}"):
        client.files.retrieve_metadata(first.id)
    with pytest.raises(anthropic.NotFoundError):
        client.files.delete(first.id)


def test_the_list_pages_through_every_file_and_filters_by_id(client):
    ids = [upload(client, f"file {n}".encode(), f"{n}.txt").id for n in range(5)]
    page = client.files.list(limit=2)
    assert [f.id for f in page.data] == ids[::-1][:2] and page.next_page.startswith("page_")
    assert [f.id for f in client.files.list(limit=2)] == ids[::-1]  # the SDK follows next_page
    chosen = client.files.list(ids=[ids[1], ids[3], "file_011CNoSuchFile"])
    assert [f.id for f in chosen.data] == [ids[3], ids[1]] and chosen.next_page is None


def test_an_upload_is_not_downloadable(client):
    uploaded = upload(client, b"secret", "s.txt")
    with pytest.raises(FileNotDownloadableError) as refusal:
        client.files.download(uploaded.id)
    assert refusal.value.error_code == "file_not_downloadable"


def test_file_ids_read_in_image_and_document_blocks(client):
    photo = upload(client, image_bytes(300, 200), "photo.png")
    scan = upload(client, pdf_bytes("Scanned page."), "scan.pdf")
    notes = upload(client, b"Plain notes. Second line.", "notes.txt")
    messages = ask(
        file_block("image", photo.id),
        file_block("document", scan.id, citations={"enabled": True}),
        file_block("document", notes.id, title="Notes", citations={"enabled": True}),
    )
    with client.messages.stream(model=MODEL, max_tokens=2000, messages=messages) as stream:
        reply = stream.get_final_message()
    citations = [c for block in reply.content for c in block.citations or ()]
    assert {(c.type, c.file_id) for c in citations} == {
        ("page_location", scan.id),
        ("char_location", notes.id),
    }
    # Documents are numbered among documents only: the image does not count.
    assert next(c for c in citations if c.type == "char_location").document_index == 1


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("image", pdf_bytes("x"), "is application/pdf, not an image an image block can take"),
        ("document", image_bytes(), "is image/png: a document block takes a PDF"),
    ],
)
def test_a_file_of_the_wrong_kind_is_refused(client, kind, data, message):
    uploaded = upload(client, data)
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.count_tokens(model=MODEL, messages=ask(file_block(kind, uploaded.id)))


def test_a_deleted_file_is_unknown_in_a_message(client):
    uploaded = upload(client, image_bytes(), "a.png")
    messages = ask(file_block("image", uploaded.id))
    assert client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    client.files.delete(uploaded.id)
    with pytest.raises(anthropic.BadRequestError) as refusal:
        client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    assert refusal.value.api_message == (
        f"messages.0.content.0.image.source.file.file_id: File not found: {uploaded.id}"
    )


def test_an_expired_file_keeps_its_metadata_but_not_its_content(fake, client):
    uploaded = client.files.upload(
        file=("a.png", io.BytesIO(image_bytes())), expires_in_seconds=3600
    )
    assert (uploaded.expires_at - uploaded.created_at).total_seconds() == 3600
    messages = ask(file_block("image", uploaded.id))
    assert client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    fake.advance_clock(3601)
    assert client.files.retrieve_metadata(uploaded.id).id == uploaded.id
    with pytest.raises(FileExpiredError) as refusal:
        client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    assert refusal.value.status_code == 404


def test_expires_in_seconds_is_checked(client):
    with pytest.raises(anthropic.BadRequestError, match="between 3600 and 7776000"):
        client.files.upload(file=("a.txt", io.BytesIO(b"x")), expires_in_seconds=60)


def test_the_beta_clients_upload_is_taken_too(client):
    uploaded = client.beta.files.upload(file=("b.txt", io.BytesIO(b"beta")))
    assert uploaded.mime_type == "text/plain"


def test_the_testing_helpers_add_and_list_files(fake, client):
    added = fake.add_file(image_bytes(), "added.png")
    assert added["mime_type"] == "image/png" and added["filename"] == "added.png"
    assert [f.id for f in client.files.list()] == [added["id"]]
    assert fake.files == [added]
    fake.reset()
    assert fake.files == []
    with pytest.raises(KeyError):
        fake.file_bytes(added["id"])
