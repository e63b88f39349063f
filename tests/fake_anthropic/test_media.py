"""Images, PDFs and text documents: checked as the real API checks them (each refusal a 400 that
says why), and counted the same in ``count_tokens`` and in a reply's usage, within the bounds the
app estimates before a call. Fixtures are made here, with Pillow and by hand (PDFs)."""

from __future__ import annotations

import io
import math
import os

import anthropic
import pypdf
import pytest
from anthropic.types import ImageDimensionsTooLargeError
from PIL import Image

from .helpers import (
    MODEL,
    ask,
    b64,
    image_block,
    image_bytes,
    pdf_block,
    pdf_bytes,
    text_document,
)

HAIKU_SNAPSHOT = "claude-haiku-4-5-20251001"
QUESTION_TOKENS = 3  # "What is it?": 11 characters


def refused(client, messages, error_class=anthropic.BadRequestError):
    with pytest.raises(error_class) as refusal:
        client.messages.create(model=MODEL, max_tokens=100, messages=messages)
    return refusal.value


def count(client, messages, **params):
    return client.messages.count_tokens(model=MODEL, messages=messages, **params).input_tokens


def reply_input(client, messages):
    with client.messages.stream(model=MODEL, max_tokens=100, messages=messages) as stream:
        usage = stream.get_final_message().usage
    return usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens


def noise_png(width, height):
    """A PNG that does not compress: its size is about width * height * 3 bytes."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def encrypted_pdf():
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- images --------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_each_image_type_the_api_takes_is_read(client, image_format):
    media_type = "image/" + image_format.lower()
    block = image_block(image_bytes(40, 30, image_format), media_type)
    assert count(client, ask(block)) == math.ceil(40 * 30 / 750) + QUESTION_TOKENS


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            {"type": "base64", "media_type": "image/png", "data": "not base64!"},
            "messages.0.content.0.image.source.base64.data: Invalid base64 data",
        ),
        (
            {"type": "base64", "media_type": "image/png", "data": b64(b"just some bytes")},
            "messages.0.content.0.image.source.base64.data: Could not process image",
        ),
        (
            {"type": "base64", "media_type": "image/jpeg", "data": b64(image_bytes())},
            "The image was specified using the image/jpeg media type, but the image appears "
            "to be a image/png image",
        ),
        (
            {"type": "base64", "media_type": "image/bmp", "data": b64(image_bytes())},
            "image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'",
        ),
        (
            {"type": "file", "file_id": "file_011CNoSuchFile"},
            "messages.0.content.0.image.source.file.file_id: File not found: file_011CNoSuchFile",
        ),
        (
            {"type": "url", "url": "https://example.com/cat.png"},
            "fake: url sources are not supported by the fake API (it fetches nothing)",
        ),
    ],
)
def test_an_image_that_does_not_read_is_refused_saying_why(client, source, message):
    error = refused(client, ask({"type": "image", "source": source}))
    assert error.status_code == 400 and error.type == "invalid_request_error"
    assert message in error.api_message


def test_an_image_over_5_mb_is_refused(client):
    data = noise_png(1400, 1300)
    assert len(data) > 5 * 1024 * 1024
    error = refused(client, ask(image_block(data)))
    assert error.api_message == (
        "messages.0.content.0.image.source.base64.data: image exceeds 5 MB maximum: "
        f"{len(data)} bytes > 5242880 bytes"
    )


def test_a_side_over_8000_px_is_refused_with_the_sdks_own_error(client):
    messages = ask(image_block(image_bytes(10, 10)), image_block(image_bytes(8001, 2)))
    error = refused(client, messages, ImageDimensionsTooLargeError)
    assert error.error_code == "image_dimensions_too_large"
    assert error.details.max_side_length_pixels == 8000
    assert error.details.paths == ["messages.0.content.1"]
    assert "exceed max allowed size: 8000 pixels" in error.api_message
    assert count(client, ask(image_block(image_bytes(8000, 2))))  # 8000 itself is fine


def test_more_than_20_images_are_held_to_2000_px(client):
    wide = image_block(image_bytes(2001, 1))
    assert count(client, ask(*[wide] * 20))
    error = refused(client, ask(*[wide] * 21), ImageDimensionsTooLargeError)
    assert error.details.max_side_length_pixels == 2000
    assert len(error.details.paths) == 21
    assert "for many-image requests: 2000 pixels" in error.api_message


def test_more_than_100_images_are_refused(client):
    error = refused(client, ask(*[image_block()] * 101))
    assert "Too many images: 101 > 100 maximum" in error.api_message


def test_images_inside_a_tool_result_are_read_and_counted(client):
    messages = [
        {"role": "user", "content": "Take a screenshot."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "shot", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": [image_block(image_bytes(8001, 1))],
                }
            ],
        },
    ]
    error = refused(client, messages, ImageDimensionsTooLargeError)
    assert error.details.paths == ["messages.2.content.0.content.0"]
    messages[2]["content"][0]["content"] = [image_block(image_bytes(750, 10))]
    tools = [{"name": "shot", "input_schema": {"type": "object"}}]
    without_image = count(client, messages[:2], tools=tools)
    assert count(client, messages, tools=tools) >= without_image + 10


# --- documents -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (pdf_block(b"%PDF-1.4 and then nothing"), "The PDF specified was not valid."),
        (pdf_block(b"plain text, not a PDF"), "The PDF specified was not valid."),
        (pdf_block(encrypted_pdf()), "The PDF specified is encrypted (password protected)"),
        (
            {"type": "document", "source": {"type": "base64", "media_type": "text/plain"}},
            "document.source.base64.media_type: Input should be 'application/pdf'",
        ),
        (
            {"type": "document", "source": {"type": "text", "media_type": "text/html", "data": ""}},
            "document.source.text.media_type: Input should be 'text/plain'",
        ),
        (text_document("x", title=7), "document.title: Input should be a valid string"),
        (
            {"type": "document", "source": {"type": "file", "file_id": "file_011CNoSuchFile"}},
            "document.source.file.file_id: File not found: file_011CNoSuchFile",
        ),
    ],
)
def test_a_document_that_does_not_read_is_refused_saying_why(client, block, message):
    error = refused(client, ask(block))
    assert error.status_code == 400 and message in error.api_message


def test_at_most_100_pdf_pages_in_a_whole_request(client):
    sixty = pdf_block(pdf_bytes(*[""] * 60))
    assert count(client, ask(sixty)) == 60 * 1500 + QUESTION_TOKENS
    error = refused(client, ask(sixty, sixty))
    assert error.api_message == "A maximum of 100 PDF pages may be provided."


@pytest.mark.parametrize(
    ("capability", "block", "message"),
    [
        ("image_input", image_block(), "image input is not supported"),
        ("pdf_input", pdf_block(), "PDF input is not supported"),
    ],
)
def test_a_model_without_the_capability_refuses_before_reading(
    fake, client, capability, block, message
):
    """The SDK's ModelInfo says so; the app can avoid the refusal by reading it."""
    fake.update_model(HAIKU_SNAPSHOT, capabilities={capability: {"supported": False}})
    with pytest.raises(anthropic.BadRequestError) as refusal:
        client.messages.count_tokens(model="claude-haiku-4-5", messages=ask(block))
    assert refusal.value.api_message == (
        f"messages.0.content.0: {message} for this model ({HAIKU_SNAPSHOT})"
    )
    text_only = ask(text_document("Plain text needs neither."))
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=text_only)


def test_a_pdf_uploaded_as_a_file_needs_pdf_input_too(fake, client):
    uploaded = fake.add_file(pdf_bytes("Filed."), "report.pdf")
    block = {"type": "document", "source": {"type": "file", "file_id": uploaded["id"]}}
    fake.update_model(HAIKU_SNAPSHOT, capabilities={"pdf_input": {"supported": False}})
    with pytest.raises(anthropic.BadRequestError, match="PDF input is not supported"):
        client.messages.count_tokens(model="claude-haiku-4-5", messages=ask(block))


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        (40, 30, 2),  # ceil(1200 / 750)
        (750, 1, 1),
        (1568, 1568, 3279),  # at the long edge: not scaled
        (3000, 2000, 2185),  # scaled to 1568 x 1045
        (2000, 100, 164),  # scaled to 1568 x 78
    ],
)
def test_an_image_counts_its_pixels_after_the_apis_downscale(client, width, height, tokens):
    block = image_block(image_bytes(width, height))
    assert count(client, ask(block)) == tokens + QUESTION_TOKENS
    assert tokens <= math.ceil(width * height / 750)  # the app's bound


def test_a_pdf_counts_each_pages_text_and_image(client):
    pages = ("The first page says hello.", "", "A third page, with (brackets) in it.")
    data = pdf_bytes(*pages)
    texts = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]
    assert texts == list(pages)
    expected = sum(math.ceil(len(text) / 4) + 1500 for text in texts)
    assert count(client, ask(pdf_block(data))) == expected + QUESTION_TOKENS
    titled = pdf_block(data, title="Report", context="From the archive")  # 22 characters
    assert count(client, ask(titled)) == expected + 6 + QUESTION_TOKENS
    bound = len(texts) * 1600 + len("".join(texts).encode())  # the app's bound
    assert expected + 6 <= bound


def test_a_text_document_counts_its_text_title_and_context(client):
    text = "Léa's notes: " + "word " * 50  # 263 characters, 264 bytes
    assert count(client, ask(text_document(text))) == math.ceil(263 / 4) + QUESTION_TOKENS
    titled = text_document(text, title="Notes", context="Kept")  # 9 more characters
    assert count(client, ask(titled)) == math.ceil(272 / 4) + QUESTION_TOKENS
    assert math.ceil(272 / 4) <= len(text.encode())  # the app's bound


def test_a_replys_input_equals_count_tokens_with_media(client):
    messages = ask(
        image_block(image_bytes(2000, 1500)),
        pdf_block(pdf_bytes("One.", "Two.")),
        text_document("Three.", title="t"),
    )
    assert reply_input(client, messages) == count(client, messages)
    with client.messages.stream(model=MODEL, max_tokens=100, messages=messages) as stream:
        start = next(iter(stream))
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == count(client, messages)


def test_the_same_file_by_id_counts_as_in_base64(fake, client):
    png, pdf = image_bytes(900, 700), pdf_bytes("Filed away.")
    image_id = fake.add_file(png, "photo.png")["id"]
    pdf_id = fake.add_file(pdf, "scan.pdf")["id"]
    text_id = fake.add_file(b"Some notes.", "notes.txt")["id"]
    by_id = ask(
        {"type": "image", "source": {"type": "file", "file_id": image_id}},
        {"type": "document", "source": {"type": "file", "file_id": pdf_id}},
        {"type": "document", "source": {"type": "file", "file_id": text_id}},
    )
    inline = ask(image_block(png), pdf_block(pdf), text_document("Some notes."))
    assert count(client, by_id) == count(client, inline)
    assert reply_input(client, by_id) == count(client, inline)


def test_the_demo_reply_names_what_was_attached(client):
    messages = ask(image_block(image_bytes(64, 48)), pdf_block(title="Plan"), text="Thoughts?")
    reply = client.messages.create(model=MODEL, max_tokens=1000, messages=messages)
    assert "You attached an image (64 x 48 px) and a PDF “Plan” (1 page)" in reply.content[0].text
