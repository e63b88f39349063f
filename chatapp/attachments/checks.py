"""What an upload is, decided by its bytes alone: its first bytes say which check it gets
(and so which size limit), then Pillow decodes an image, pypdf parses a PDF, and text must
be UTF-8. The name only ever refuses (a text named .pdf), never admits. Nothing here
stores anything: `check_upload` gives the bytes to store, or raises AttachmentRefused."""

import codecs
import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from PIL import Image, ImageOps
from pypdf import PdfReader

from chatapp.errors import AppError

from .models import THUMBNAIL_MEDIA_TYPE, Attachment

Kind = Attachment.Kind


class AttachmentRefused(AppError):
    """An upload that is not stored; `message` says why, naming the file."""


# Refusal codes (the upload's 400 answer: {"error": {"code", "message"}}).
EMPTY = "empty_file"
TOO_LARGE = "file_too_large"
UNSUPPORTED = "unsupported_file"
UNREADABLE = "unreadable_file"
TOO_MANY_PIXELS = "image_too_large"
ENCRYPTED = "encrypted_pdf"
TOO_MANY_PAGES = "too_many_pages"

# The API's own limit per image; a re-encoded image above it is tried again as WebP.
API_IMAGE_MAX_BYTES = 5 * 1024 * 1024
THUMBNAIL_LONG_EDGE = 320
THUMBNAIL_FORMAT = THUMBNAIL_MEDIA_TYPE.removeprefix("image/").upper()
JPEG_QUALITY = 85
WEBP_QUALITY = 90
THUMBNAIL_QUALITY = 80
NAME_MAX_CHARS = 200

_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)
# Text that a browser would take for a page or a drawing: refused, whatever its name.
_MARKUP_START = re.compile(rb"\s*<(\?xml|!doctype|html|head|body|svg|script|iframe)\b", re.I)
_MARKUP_INSIDE = re.compile(rb"<(svg|html|!doctype)\b", re.I)
_CLAIMED_KIND = {
    ".png": Kind.IMAGE,
    ".jpg": Kind.IMAGE,
    ".jpeg": Kind.IMAGE,
    ".gif": Kind.IMAGE,
    ".webp": Kind.IMAGE,
    ".pdf": Kind.PDF,
}
_KIND_WORDS = {Kind.IMAGE: "an image", Kind.PDF: "a PDF", Kind.TEXT: "text"}
_LIMIT_WORDS = {Kind.IMAGE: "an image", Kind.PDF: "a PDF", Kind.TEXT: "a text file"}


@dataclass(frozen=True)
class Checked:
    kind: str
    media_type: str
    data: bytes  # what is stored
    extension: str  # of the stored file
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    text_bytes: int = 0
    thumbnail: bytes | None = None


def clean_name(raw: str) -> str:
    """The name as a person gave it, minus any folder, control characters and excess."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    name = name.lstrip(".") or "file"
    if len(name) > NAME_MAX_CHARS:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: NAME_MAX_CHARS - len(suffix)] + suffix
    return name


def check_upload(upload, *, name: str) -> Checked:
    """The checked bytes of `upload` (a Django UploadedFile, or any file object), read at
    most to its kind's limit plus one byte."""
    if hasattr(upload, "seek"):
        upload.seek(0)
    head = _read(upload, 16)
    if not head:
        raise AttachmentRefused(EMPTY, f"{name} is empty.")
    image_format = _image_format(head)
    if image_format:
        kind, limit = Kind.IMAGE, settings.CHAT_IMAGE_MAX_BYTES
    elif head.startswith(b"%PDF-"):
        kind, limit = Kind.PDF, settings.CHAT_PDF_MAX_BYTES
    else:
        kind, limit = Kind.TEXT, settings.CHAT_TEXT_MAX_BYTES
    data = head + _read(upload, limit + 1 - len(head))
    if len(data) > limit:
        if kind == Kind.TEXT and not _is_text(data[:limit], final=False):
            raise _unsupported(name)
        raise AttachmentRefused(
            TOO_LARGE, f"{name} is over {_size(limit)}, the limit for {_LIMIT_WORDS[kind]}."
        )
    if kind == Kind.IMAGE:
        checked = _check_image(data, name, image_format)
    elif kind == Kind.PDF:
        checked = _check_pdf(data, name)
    else:
        checked = _check_text(data, name)
    claimed = _CLAIMED_KIND.get(PurePosixPath(name).suffix.lower())
    if claimed and claimed != checked.kind:
        raise AttachmentRefused(
            UNSUPPORTED,
            f"{name} is named as {_KIND_WORDS[claimed]} but its content is "
            f"{_KIND_WORDS[checked.kind]}: rename it or upload the file it should be.",
        )
    return checked


def _read(upload, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining > 0:
        chunk = upload.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _size(count: int) -> str:
    return filesizeformat(count).replace("\xa0", " ")


def _unsupported(name: str) -> AttachmentRefused:
    return AttachmentRefused(
        UNSUPPORTED, f"{name} is not an image (PNG, JPEG, GIF or WebP), a PDF or a text file."
    )


def _image_format(head: bytes) -> str | None:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for signature, fmt in _IMAGE_SIGNATURES if head.startswith(signature)), None)


# --- images ---------------------------------------------------------------------------


def _check_image(data: bytes, name: str, image_format: str) -> Checked:
    unreadable = AttachmentRefused(
        UNREADABLE, f"{name} looks like a {image_format} image but could not be read."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # The header only: the size is checked before a single pixel is decoded.
            with Image.open(io.BytesIO(data), formats=[image_format]) as probe:
                if probe.format != image_format:
                    raise _unsupported(name)
                _check_pixels(name, *probe.size)
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                image.load()  # the first frame of an animation
                return _reencoded(image, image_format)
    except AttachmentRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(name, None) from None
    except Exception as exc:  # Pillow's many ways of saying the bytes are broken
        raise unreadable from exc


def _check_pixels(name: str, width: int, height: int) -> None:
    if width * height > settings.CHAT_IMAGE_MAX_PIXELS:
        raise _too_many_pixels(name, (width, height))


def _too_many_pixels(name: str, size: tuple[int, int] | None) -> AttachmentRefused:
    limit = f"{settings.CHAT_IMAGE_MAX_PIXELS:,}"
    if size:
        said = f"{name} is {size[0]:,} x {size[1]:,} pixels: "
    else:
        said = f"{name} claims more pixels than can safely be decoded: "
    return AttachmentRefused(TOO_MANY_PIXELS, f"{said}the limit is {limit} pixels.")


def _reencoded(image: Image.Image, image_format: str) -> Checked:
    """Turned upright (EXIF orientation), scaled down to the long edge, and written
    afresh, which leaves every piece of metadata behind. PNG stays PNG, JPEG JPEG, WebP
    WebP; a GIF's first frame becomes a PNG."""
    try:
        frame = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block: the pixels are fine, shown as stored
        frame = image.copy()
    # An alpha channel, or a palette or colour key marked transparent (tRNS, GIF).
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
    if frame.mode.startswith("I"):  # 16-bit grey: scaled to 8 bits, not clipped
        frame = frame.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image_format == "JPEG":
        frame = frame.convert("L" if frame.mode in ("1", "L") else "RGB")
    elif has_alpha:
        frame = frame.convert("RGBA")
    else:
        frame = frame.convert("L" if frame.mode in ("1", "L") else "RGB")
    long_edge = settings.CHAT_IMAGE_LONG_EDGE
    if max(frame.size) > long_edge:
        frame.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    frame.info = {}

    out_format = {"JPEG": "JPEG", "WEBP": "WEBP"}.get(image_format, "PNG")
    data = _encoded(frame, out_format, WEBP_QUALITY)
    if len(data) > API_IMAGE_MAX_BYTES and out_format != "WEBP":
        out_format, data = "WEBP", _encoded(frame, "WEBP", WEBP_QUALITY)
    thumbnail = frame.copy()
    thumbnail.thumbnail((THUMBNAIL_LONG_EDGE, THUMBNAIL_LONG_EDGE), Image.Resampling.LANCZOS)
    media_type = "image/" + out_format.lower()
    return Checked(
        kind=Kind.IMAGE,
        media_type=media_type,
        data=data,
        extension={"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png"}[out_format],
        width=frame.width,
        height=frame.height,
        thumbnail=_encoded(thumbnail, THUMBNAIL_FORMAT, THUMBNAIL_QUALITY),
    )


def _encoded(image: Image.Image, image_format: str, webp_quality: int) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    elif image_format == "WEBP":
        image.save(out, "WEBP", quality=webp_quality)
    else:
        image.save(out, "PNG")
    return out.getvalue()


# --- PDFs -----------------------------------------------------------------------------


def _check_pdf(data: bytes, name: str) -> Checked:
    unreadable = AttachmentRefused(UNREADABLE, f"{name} is a PDF that could not be read.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise AttachmentRefused(
                ENCRYPTED,
                f"{name} is encrypted (password-protected): upload a copy without a password.",
            )
        pages = len(reader.pages)
    except AttachmentRefused:
        raise
    except Exception as exc:  # pypdf's errors for a broken file, and worse
        raise unreadable from exc
    if pages == 0:
        raise AttachmentRefused(UNREADABLE, f"{name} is a PDF without pages.")
    limit = settings.CHAT_PDF_MAX_PAGES
    if pages > limit:
        raise AttachmentRefused(
            TOO_MANY_PAGES, f"{name} has {pages:,} pages: the limit is {limit:,}."
        )
    try:
        text_bytes = sum(len((page.extract_text() or "").encode()) for page in reader.pages)
    except Exception as exc:
        raise unreadable from exc
    return Checked(
        kind=Kind.PDF,
        media_type="application/pdf",
        data=data,
        extension=".pdf",
        pages=pages,
        text_bytes=text_bytes,
    )


# --- text -----------------------------------------------------------------------------


def _is_text(data: bytes, *, final: bool) -> bool:
    if b"\x00" in data:
        return False
    try:
        codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


def _check_text(data: bytes, name: str) -> Checked:
    """Plain text, Markdown, CSV: UTF-8 (a BOM is fine), no NUL byte, and not a page or
    a drawing (HTML, SVG, XML), whatever the name says. Stored as it came."""
    if not _is_text(data, final=True):
        raise _unsupported(name)
    start = data.removeprefix(codecs.BOM_UTF8)
    if _MARKUP_START.match(start) or (
        start.lstrip().startswith(b"<") and _MARKUP_INSIDE.search(start[:1024])
    ):
        raise _unsupported(name)
    if not data.decode("utf-8-sig").strip():
        raise AttachmentRefused(EMPTY, f"{name} is empty.")
    return Checked(kind=Kind.TEXT, media_type="text/plain", data=data, extension=".txt")
