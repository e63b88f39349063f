"""attachment_create: every good kind is stored as checked, every bad input is refused
with a sentence saying why, and a refusal stores nothing (no row, no file)."""

import hashlib
import io

import pytest
from PIL import Image
from pypdf import PdfReader

from chatapp.attachments.models import Attachment
from chatapp.attachments.services import AttachmentRefused, attachment_create
from chatapp.errors import AppError

from .conftest import (
    halves_jpeg,
    image_bytes,
    pdf_bytes,
    png_claiming,
    stored_files,
    upload,
    zip_bytes,
)


def stored_image(attachment) -> Image.Image:
    with attachment.file.open("rb") as stored:
        image = Image.open(io.BytesIO(stored.read()))
        image.load()
    return image


def refused(owner, media_root, name: str, data: bytes, content_type="image/png") -> AppError:
    with pytest.raises(AttachmentRefused) as caught:
        attachment_create(owner=owner, upload=upload(name, data, content_type))
    assert isinstance(caught.value, AppError)
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []
    return caught.value


# --- good files ---------------------------------------------------------------------------


def test_a_png_is_stored_as_png_with_a_thumbnail(owner, media_root):
    attachment = attachment_create(
        owner=owner, upload=upload("chart.png", image_bytes("PNG", (40, 20), "RGBA", (0, 0, 0, 0)))
    )
    assert attachment.kind == "image" and attachment.media_type == "image/png"
    assert (attachment.width, attachment.height) == (40, 20)
    assert attachment.name == "chart.png"
    image = stored_image(attachment)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert attachment.size == attachment.file.size
    with attachment.file.open("rb") as stored:
        assert attachment.sha256 == hashlib.sha256(stored.read()).hexdigest()
    with attachment.thumbnail.open("rb") as thumbnail:
        assert Image.open(thumbnail).format == "WEBP"
    # Unguessable: a random folder per file, a safe name.
    parts = attachment.file.name.split("/")
    assert parts[0] == "attachments" and len(parts[1]) == 32 and parts[2] == "chart.png"
    assert attachment.file.name.split("/")[1] != attachment.thumbnail.name.split("/")[1]
    assert len(stored_files(media_root)) == 2


def test_a_jpeg_is_turned_upright_by_its_exif_orientation_and_loses_its_metadata(owner):
    attachment = attachment_create(owner=owner, upload=upload("photo.jpg", halves_jpeg(6)))
    assert attachment.media_type == "image/jpeg"
    # Orientation 6: shown turned a quarter clockwise, so the left (red) half is on top.
    assert (attachment.width, attachment.height) == (20, 40)
    image = stored_image(attachment)
    assert image.format == "JPEG" and image.size == (20, 40)
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    assert not image.getexif() and "exif" not in image.info


def test_a_large_image_is_scaled_down_to_the_long_edge(owner, settings):
    settings.CHAT_IMAGE_LONG_EDGE = 1568
    attachment = attachment_create(
        owner=owner, upload=upload("wide.png", image_bytes("PNG", (3000, 1000)))
    )
    assert attachment.width == 1568 and attachment.height in (522, 523)
    assert stored_image(attachment).size == (attachment.width, attachment.height)
    assert attachment.tokens == -(-attachment.width * attachment.height // 750)
    with attachment.thumbnail.open("rb") as thumbnail:
        assert max(Image.open(thumbnail).size) == 320


def test_a_gif_keeps_its_first_frame_as_a_png(owner):
    frames = [Image.new("P", (30, 30), i) for i in (1, 2)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], transparency=0)
    attachment = attachment_create(owner=owner, upload=upload("anim.gif", out.getvalue()))
    assert attachment.media_type == "image/png" and attachment.file.name.endswith(".png")
    assert stored_image(attachment).format == "PNG"
    assert attachment.download_name() == "anim.png"


def test_a_webp_stays_webp(owner):
    attachment = attachment_create(
        owner=owner, upload=upload("pic.webp", image_bytes("WEBP", (50, 40)))
    )
    assert attachment.media_type == "image/webp"
    assert stored_image(attachment).format == "WEBP"
    assert (attachment.width, attachment.height) == (50, 40)


def test_the_content_decides_not_the_name_or_the_browser(owner):
    attachment = attachment_create(
        owner=owner, upload=upload("photo.png", halves_jpeg(1), content_type="text/html")
    )
    assert attachment.media_type == "image/jpeg"
    assert attachment.download_name() == "photo.jpg"


def test_a_pdf_is_parsed_for_its_pages_and_text(owner):
    data = pdf_bytes(pages=3, text="Hello PDF")
    attachment = attachment_create(owner=owner, upload=upload("report.pdf", data))
    assert attachment.kind == "pdf" and attachment.media_type == "application/pdf"
    assert attachment.pages == 3
    assert attachment.text_bytes == 3 * len("Hello PDF")
    assert attachment.tokens == 3 * 1600 + attachment.text_bytes
    assert attachment.size == len(data) and attachment.thumbnail.name in ("", None)
    with attachment.file.open("rb") as stored:
        assert len(PdfReader(stored).pages) == 3


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.md", "# Title\n\n* point — ünïcode\n".encode()),
        ("table.csv", b"a,b\n1,2\n"),
        ("plain.txt", b"\xef\xbb\xbfwith a BOM\n"),
        ("README", b"no extension at all\n"),
    ],
)
def test_text_files_are_stored_as_plain_text_under_their_own_name(owner, name, data):
    attachment = attachment_create(owner=owner, upload=upload(name, data, "text/csv"))
    assert attachment.kind == "text" and attachment.media_type == "text/plain"
    assert attachment.name == name and attachment.size == len(data) == attachment.tokens
    with attachment.file.open("rb") as stored:
        assert stored.read() == data
    assert attachment.download_name() in (name, name + ".txt")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("..\\..\\evil\x00\n.txt", "evil.txt"),
        ("../../.htaccess", "htaccess"),
        ("", "file"),
        ("a" * 500 + ".md", "a" * 197 + ".md"),
        (" Été 2026 — notes.md ", "Été 2026 — notes.md"),
    ],
)
def test_a_name_is_cleaned_of_folders_and_control_characters(owner, raw, name):
    named = io.BytesIO(b"hello\n")
    named.name = raw
    attachment = attachment_create(owner=owner, upload=named)
    assert attachment.name == name
    assert attachment.file.name.rsplit("/", 1)[1].isascii()


def test_a_text_named_like_html_is_downloaded_as_text(owner):
    attachment = attachment_create(owner=owner, upload=upload("page.html", b"just words\n"))
    assert attachment.download_name() == "page.html.txt"


# --- bad files ----------------------------------------------------------------------------


def test_an_empty_file_is_refused(owner, media_root):
    error = refused(owner, media_root, "empty.png", b"")
    assert error.code == "empty_file" and "empty.png is empty" in error.message


def test_a_text_renamed_pdf_is_refused(owner, media_root):
    error = refused(owner, media_root, "report.pdf", b"just some text\n", "application/pdf")
    assert error.code == "unsupported_file"
    assert "report.pdf is named as a PDF but its content is text" in error.message


def test_a_zip_renamed_png_is_refused(owner, media_root):
    error = refused(owner, media_root, "photo.png", zip_bytes())
    assert error.code == "unsupported_file"
    assert error.message == (
        "photo.png is not an image (PNG, JPEG, GIF or WebP), a PDF or a text file."
    )


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
        b'<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
        b"\xef\xbb\xbf  <!DOCTYPE html><html><body>hi</body></html>",
        b"<html><script>alert(1)</script></html>",
    ],
)
@pytest.mark.parametrize("name", ["drawing.svg", "drawing.txt", "drawing.png"])
def test_svg_and_html_are_refused_whatever_their_name(owner, media_root, svg, name):
    error = refused(owner, media_root, name, svg, "image/svg+xml")
    assert error.code == "unsupported_file"
    assert "is not an image (PNG, JPEG, GIF or WebP), a PDF or a text file" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"\x7fELF\x02\x01\x01\x00" + bytes(200),  # an executable
        b"MZ\x90\x00\x03\x00\x00\x00" + bytes(200),
        "caf\xe9 au lait".encode("latin-1"),  # not UTF-8
        b"text with a \x00 NUL",
    ],
)
def test_binaries_and_non_utf8_text_are_refused(owner, media_root, data):
    assert refused(owner, media_root, "thing.txt", data).code == "unsupported_file"


def test_an_encrypted_pdf_is_refused(owner, media_root):
    error = refused(owner, media_root, "secret.pdf", pdf_bytes(password="pw"))
    assert error.code == "encrypted_pdf" and "secret.pdf is encrypted" in error.message


def test_a_broken_pdf_is_refused(owner, media_root):
    error = refused(owner, media_root, "broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 4)
    assert error.code == "unreadable_file"


def test_a_pdf_over_the_page_limit_is_refused(owner, media_root, settings):
    settings.CHAT_PDF_MAX_PAGES = 2
    error = refused(owner, media_root, "long.pdf", pdf_bytes(pages=3))
    assert error.code == "too_many_pages"
    assert error.message == "long.pdf has 3 pages: the limit is 2."


def test_a_png_claiming_huge_dimensions_is_refused_before_decoding(owner, media_root):
    error = refused(owner, media_root, "bomb.png", png_claiming(100_000, 100_000))
    assert error.code == "image_too_large" and "bomb.png" in error.message


def test_an_image_over_the_pixel_limit_is_refused(owner, media_root, settings):
    settings.CHAT_IMAGE_MAX_PIXELS = 1000
    error = refused(owner, media_root, "big.png", png_claiming(50, 50))
    assert error.code == "image_too_large"
    assert error.message == "big.png is 50 x 50 pixels: the limit is 1,000 pixels."


def test_pillows_own_bomb_warning_is_a_refusal(owner, media_root, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40 x 40 is over it, not twice
    error = refused(owner, media_root, "warned.png", image_bytes("PNG", (40, 40)))
    assert error.code == "image_too_large"


def test_a_truncated_image_is_refused(owner, media_root):
    data = image_bytes("PNG", (200, 200), color="blue")
    assert refused(owner, media_root, "cut.png", data[:60]).code == "unreadable_file"


@pytest.mark.parametrize(
    ("setting", "name", "data"),
    [
        ("CHAT_TEXT_MAX_BYTES", "long.txt", b"x" * 101),
        ("CHAT_IMAGE_MAX_BYTES", "big.png", None),
        ("CHAT_PDF_MAX_BYTES", "big.pdf", None),
    ],
)
def test_a_file_over_its_kinds_size_limit_is_refused(
    owner, media_root, settings, setting, name, data
):
    setattr(settings, setting, 100)
    if data is None:
        data = image_bytes("PNG", (200, 200)) if name.endswith("png") else pdf_bytes()
    assert len(data) > 100
    error = refused(owner, media_root, name, data)
    assert error.code == "file_too_large"
    assert error.message.startswith(f"{name} is over 100 bytes, the limit for ")


def test_a_large_binary_is_refused_for_what_it_is_not_for_its_size(owner, media_root, settings):
    settings.CHAT_TEXT_MAX_BYTES = 100
    assert refused(owner, media_root, "archive.zip", zip_bytes()).code == "unsupported_file"


class CountingFile(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.name = "huge.txt"
        self.read_bytes = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def test_an_upload_is_read_at_most_to_its_limit_plus_one_byte(owner, settings):
    settings.CHAT_TEXT_MAX_BYTES = 1000
    huge = CountingFile(b"y" * 5_000_000)
    with pytest.raises(AttachmentRefused):
        attachment_create(owner=owner, upload=huge)
    assert huge.read_bytes == 1001


def test_a_colour_key_transparency_is_kept(owner):
    out = io.BytesIO()
    Image.new("RGB", (10, 10), (1, 2, 3)).save(out, "PNG", transparency=(1, 2, 3))
    attachment = attachment_create(owner=owner, upload=upload("keyed.png", out.getvalue()))
    image = stored_image(attachment)
    assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0


def test_a_sixteen_bit_grey_png_is_scaled_to_eight_bits_not_clipped(owner):
    out = io.BytesIO()
    Image.new("I;16", (10, 10), 32768).save(out, "PNG")
    attachment = attachment_create(owner=owner, upload=upload("grey.png", out.getvalue()))
    image = stored_image(attachment)
    assert image.mode == "L" and image.getpixel((0, 0)) == 128
