"""With CHAT_USE_FILES_API, an image or a PDF is sent once to the Files API (through the
SDK, to the fake API over real HTTP) and named by its id afterwards; a failure only
leaves the id blank."""

import logging

from chatapp.attachments.blocks import api_blocks, content_blocks
from chatapp.attachments.models import Attachment
from chatapp.attachments.services import attachment_create

from .conftest import image_bytes, pdf_bytes, upload


def test_images_and_pdfs_are_uploaded_once_text_never(owner, fake_api, settings):
    settings.CHAT_USE_FILES_API = True
    image = attachment_create(owner=owner, upload=upload("a.png", image_bytes("PNG")))
    pdf = attachment_create(owner=owner, upload=upload("b.pdf", pdf_bytes()))
    text = attachment_create(owner=owner, upload=upload("c.txt", b"words\n"))
    assert image.file_id and pdf.file_id and image.file_id != pdf.file_id
    assert text.file_id == ""
    assert Attachment.objects.get(pk=image.pk).file_id == image.file_id
    uploaded = {f["id"]: f for f in fake_api.files}
    assert set(uploaded) == {image.file_id, pdf.file_id}  # once each, no text
    for attachment in (image, pdf):
        with attachment.file.open("rb") as stored:
            assert fake_api.file_bytes(attachment.file_id) == stored.read()
        assert uploaded[attachment.file_id]["filename"] == attachment.name
        assert uploaded[attachment.file_id]["mime_type"] == attachment.media_type
    sent = api_blocks(content_blocks([image, pdf, text]), citations=False)
    assert sent[0]["source"] == {"type": "file", "file_id": image.file_id}
    assert sent[1]["source"] == {"type": "file", "file_id": pdf.file_id}
    assert sent[2]["source"]["type"] == "text"


def test_nothing_is_uploaded_with_the_setting_off(owner, fake_api, settings):
    settings.CHAT_USE_FILES_API = False
    image = attachment_create(owner=owner, upload=upload("a.png", image_bytes("PNG")))
    assert image.file_id == "" and fake_api.files == []


def test_a_failed_upload_is_logged_and_the_bytes_are_sent_instead(
    owner, fake_api, settings, caplog
):
    settings.CHAT_USE_FILES_API = True
    settings.ANTHROPIC_BASE_URL = fake_api.base_url + "/no-such-api"
    with caplog.at_level(logging.WARNING, logger="chatapp.llm.files"):
        image = attachment_create(owner=owner, upload=upload("a.png", image_bytes("PNG")))
    assert image.pk and image.file_id == "" and image.file
    assert "Files API upload of 'a.png' failed" in caplog.text
    assert fake_api.files == []
    sent = api_blocks(content_blocks([image]), citations=False)
    assert sent[0]["source"]["type"] == "base64"
