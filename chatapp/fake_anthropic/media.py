"""A request's images and documents, read and checked as the real API reads them.

Images (base64 or a Files API id) are decoded with Pillow: at most 5 MB, a type that matches
the declared ``media_type``, no side over 8,000 px (2,000 px when a request holds more than 20
images), at most 100 in a request. PDFs (base64 or a file) are parsed with pypdf: at most 32 MB,
not encrypted, at most 100 pages in the whole request. Text documents are ``text/plain``
strings, or a text file. Sources the fake cannot serve (``url``: it fetches nothing) are refused
with a message saying so.

Each block's input tokens (docs/fake-api.md has the formulas):

- an image: ``ceil(w * h / 750)`` of its size after the API's own downscale to a long edge of
  1,568 px (which only ever shrinks it);
- a PDF: per page, the tokenizer's count of the page's extracted text plus 1,500 for the page's
  image; plus its ``title`` and ``context``;
- a text document: the tokenizer's count of its text, ``title`` and ``context`` together.

Documents are numbered in the order they appear (``document_index``), nested ones included;
citations quote the text read here.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import pypdf
from PIL import Image

from .files import FileStore, StoredFile, is_pdf
from .prompt import text_tokens
from .refusals import ApiRefusal

IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGE_SIDE = 8000
MANY_IMAGES = 20  # above this many images in a request, each side is held to:
MAX_IMAGE_SIDE_MANY = 2000
MAX_IMAGES = 100
IMAGE_LONG_EDGE = 1568  # the API scales a larger image down to this long edge
PIXELS_PER_TOKEN = 750
MAX_PDF_BYTES = 32 * 1024 * 1024
MAX_PDF_PAGES = 100
PDF_PAGE_IMAGE_TOKENS = 1500

# Pillow's format names; MPO is the JPEG variant many phone cameras write.
_PIL_MEDIA_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
_URL_SOURCES = (
    "url sources are not supported by the fake API (it fetches nothing): send the file in "
    "base64 or through the Files API"
)


def image_tokens(width: int, height: int) -> int:
    long_edge = max(width, height)
    if long_edge > IMAGE_LONG_EDGE:
        scale = IMAGE_LONG_EDGE / long_edge
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return math.ceil(width * height / PIXELS_PER_TOKEN)


@dataclass(frozen=True)
class ImageInfo:
    where: str  # "messages.0.content.1", "messages.2.content.0.content.1" in a tool_result
    width: int
    height: int
    message: int = -1  # the position of its message

    @property
    def tokens(self) -> int:
        return image_tokens(self.width, self.height)


@dataclass(frozen=True)
class DocumentInfo:
    where: str
    index: int  # document_index: its place among the request's documents
    message: int  # the position of its message
    kind: str  # "pdf", "text" or "content"
    title: str | None
    context: str | None
    citations: bool
    file_id: str | None
    pages: tuple[str, ...] = ()  # a PDF's text, page by page
    text: str = ""  # a text document's
    parts: tuple[str, ...] = ()  # a content document's text blocks
    extra_tokens: int = 0  # images inside a content document

    @property
    def tokens(self) -> int:
        about = (self.title or "") + (self.context or "")
        if self.kind == "pdf":
            pages = sum(text_tokens(len(page)) + PDF_PAGE_IMAGE_TOKENS for page in self.pages)
            return pages + text_tokens(len(about))
        body = self.text if self.kind == "text" else "".join(self.parts)
        return text_tokens(len(body + about)) + self.extra_tokens


@dataclass
class Media:
    images: list[ImageInfo] = field(default_factory=list)
    documents: list[DocumentInfo] = field(default_factory=list)
    tokens: dict[int, int] = field(default_factory=dict)  # id() of a block -> its tokens


def _media_blocks(messages: list[dict[str, Any]]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Every image and document block with where it is, tool results' content included."""
    for position, message in enumerate(messages):
        content = message["content"]
        if isinstance(content, str):
            continue
        for index, block in enumerate(content):
            where = f"messages.{position}.content.{index}"
            if block.get("type") in ("image", "document"):
                yield where, position, block
            nested = block.get("content") if block.get("type") == "tool_result" else None
            for inner_index, inner in enumerate(nested if isinstance(nested, list) else []):
                if isinstance(inner, dict) and inner.get("type") in ("image", "document"):
                    yield f"{where}.content.{inner_index}", position, inner


def read_media(messages: list[dict[str, Any]], files: FileStore | None) -> Media:
    """Read and check every image and document of a request (already checked for shape)."""
    reader = _Reader(files)
    media = Media()
    for where, position, block in _media_blocks(messages):
        if block["type"] == "image":
            image = replace(reader.image(where, block), message=position)
            media.images.append(image)
            media.tokens[id(block)] = image.tokens
        else:
            document = reader.document(where, block, len(media.documents), position)
            media.documents.append(document)
            media.tokens[id(block)] = document.tokens
    _check_image_counts(media.images + reader.nested_images)
    pages = sum(len(doc.pages) for doc in media.documents)
    if pages > MAX_PDF_PAGES:
        raise ApiRefusal(f"A maximum of {MAX_PDF_PAGES} PDF pages may be provided.")
    return media


def _check_image_counts(images: list[ImageInfo]) -> None:
    if len(images) > MAX_IMAGES:
        raise ApiRefusal(f"messages: Too many images: {len(images)} > {MAX_IMAGES} maximum")
    many = len(images) > MANY_IMAGES
    limit = MAX_IMAGE_SIDE_MANY if many else MAX_IMAGE_SIDE
    over = [image for image in images if max(image.width, image.height) > limit]
    if over:
        requests = " for many-image requests" if many else ""
        raise ApiRefusal(
            f"{over[0].where}.image.source: At least one of the image dimensions exceed max "
            f"allowed size{requests}: {limit} pixels",
            details={
                "error_code": "image_dimensions_too_large",
                "max_side_length_pixels": limit,
                "paths": [image.where for image in over],
            },
        )


def _base64(where: str, data: Any) -> bytes:
    if not isinstance(data, str):
        raise ApiRefusal(f"{where}: Input should be a valid string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiRefusal(f"{where}: Invalid base64 data") from None


@lru_cache(maxsize=32)
def _pdf_pages(data: bytes) -> tuple[str, ...] | str:
    """A PDF's text page by page, or why it cannot be read ("invalid" or "encrypted")."""
    if not is_pdf(data):
        return "invalid"
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            return "encrypted"
        pages = tuple(page.extract_text() or "" for page in reader.pages)
    except Exception:  # pypdf raises many kinds on a broken file
        return "invalid"
    return pages or "invalid"


class _Reader:
    def __init__(self, files: FileStore | None) -> None:
        self.files = files
        self.nested_images: list[ImageInfo] = []  # inside content documents

    def _stored(self, where: str, source: dict[str, Any]) -> StoredFile:
        file_id = source.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            raise ApiRefusal(f"{where}.file_id: Field required")
        stored = self.files.get(file_id) if self.files is not None else None
        if stored is None:
            raise ApiRefusal(f"{where}.file_id: File not found: {file_id}")
        if self.files is not None and self.files.expired(stored):
            raise ApiRefusal(
                f"{where}.file_id: File {file_id} has expired; its content is no longer available",
                status=404,
                error_type="not_found_error",
                details={"error_code": "file_expired"},
            )
        return stored

    def image(self, where: str, block: dict[str, Any]) -> ImageInfo:
        source = block.get("source")
        if not isinstance(source, dict):
            raise ApiRefusal(f"{where}.image.source: Field required")
        kind = source.get("type")
        if kind == "base64":
            path = f"{where}.image.source.base64"
            declared = source.get("media_type")
            if declared not in IMAGE_MEDIA_TYPES:
                raise ApiRefusal(
                    f"{path}.media_type: Input should be 'image/jpeg', 'image/png', "
                    "'image/gif' or 'image/webp'"
                )
            data = _base64(f"{path}.data", source.get("data"))
        elif kind == "file":
            path = f"{where}.image.source.file"
            stored = self._stored(path, source)
            if stored.mime_type not in IMAGE_MEDIA_TYPES:
                raise ApiRefusal(
                    f"{path}.file_id: File {stored.id} is {stored.mime_type}, not an image an "
                    "image block can take (image/jpeg, image/png, image/gif or image/webp)"
                )
            declared, data = stored.mime_type, stored.data
        elif kind == "url":
            raise ApiRefusal(f"{where}.image.source.url: fake: {_URL_SOURCES}")
        else:
            raise ApiRefusal(
                f"{where}.image.source.type: Input should be 'base64', 'url' or 'file'"
            )
        if len(data) > MAX_IMAGE_BYTES:
            raise ApiRefusal(
                f"{path}.data: image exceeds 5 MB maximum: {len(data)} bytes > "
                f"{MAX_IMAGE_BYTES} bytes"
            )
        actual, width, height = _decode_image(data)
        if actual is None:
            raise ApiRefusal(f"{path}.data: Could not process image")
        if actual != declared:
            raise ApiRefusal(
                f"{path}.data: The image was specified using the {declared} media type, but "
                f"the image appears to be a {actual} image"
            )
        return ImageInfo(where, width, height)

    def document(self, where: str, block: dict[str, Any], index: int, message: int) -> DocumentInfo:
        source = block.get("source")
        if not isinstance(source, dict):
            raise ApiRefusal(f"{where}.document.source: Field required")
        for key in ("title", "context"):
            if block.get(key) is not None and not isinstance(block[key], str):
                raise ApiRefusal(f"{where}.document.{key}: Input should be a valid string")
        citations = block.get("citations")
        if citations is not None and not (
            isinstance(citations, dict) and isinstance(citations.get("enabled", False), bool)
        ):
            raise ApiRefusal(f"{where}.document.citations.enabled: Input should be a boolean")
        about = {
            "where": where,
            "index": index,
            "message": message,
            "title": block.get("title"),
            "context": block.get("context"),
            "citations": bool(citations and citations.get("enabled")),
            "file_id": None,
        }
        kind = source.get("type")
        if kind == "base64":
            path = f"{where}.document.source.base64"
            if source.get("media_type") != "application/pdf":
                raise ApiRefusal(f"{path}.media_type: Input should be 'application/pdf'")
            data = _base64(f"{path}.data", source.get("data"))
            return DocumentInfo(kind="pdf", pages=_read_pdf(path, data), **about)
        if kind == "text":
            path = f"{where}.document.source.text"
            if source.get("media_type") != "text/plain":
                raise ApiRefusal(f"{path}.media_type: Input should be 'text/plain'")
            if not isinstance(source.get("data"), str):
                raise ApiRefusal(f"{path}.data: Input should be a valid string")
            return DocumentInfo(kind="text", text=source["data"], **about)
        if kind == "content":
            return self._content_document(f"{where}.document.source.content", source, about)
        if kind == "file":
            path = f"{where}.document.source.file"
            stored = self._stored(path, source)
            about["file_id"] = stored.id
            if stored.mime_type == "application/pdf":
                return DocumentInfo(kind="pdf", pages=_read_pdf(path, stored.data), **about)
            if stored.mime_type == "text/plain":
                return DocumentInfo(kind="text", text=stored.data.decode("utf-8"), **about)
            raise ApiRefusal(
                f"{path}.file_id: File {stored.id} is {stored.mime_type}: a document block "
                "takes a PDF (application/pdf) or a text file (text/plain)"
            )
        if kind == "url":
            raise ApiRefusal(f"{where}.document.source.url: fake: {_URL_SOURCES}")
        raise ApiRefusal(
            f"{where}.document.source.type: Input should be 'base64', 'text', 'content', "
            "'url' or 'file'"
        )

    def _content_document(
        self, path: str, source: dict[str, Any], about: dict[str, Any]
    ) -> DocumentInfo:
        content = source.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise ApiRefusal(f"{path}.content: Input should be a valid string or list")
        parts, extra = [], 0
        for index, inner in enumerate(content):
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text" and isinstance(inner.get("text"), str):
                parts.append(inner["text"])
            elif kind == "image":
                image = self.image(f"{path}.content.{index}", inner)
                self.nested_images.append(image)
                extra += image.tokens
            else:
                raise ApiRefusal(f"{path}.content.{index}: Input should be a text or image block")
        return DocumentInfo(kind="content", parts=tuple(parts), extra_tokens=extra, **about)


def _decode_image(data: bytes) -> tuple[str | None, int, int]:
    """The image's real media type (one the API takes, else None) and its size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                media_type = _PIL_MEDIA_TYPES.get(image.format or "")
                width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, 0, 0
    return media_type, width, height


def _read_pdf(path: str, data: bytes) -> tuple[str, ...]:
    if len(data) > MAX_PDF_BYTES:
        raise ApiRefusal(
            f"{path}.data: PDF exceeds 32 MB maximum: {len(data)} bytes > {MAX_PDF_BYTES} bytes"
        )
    pages = _pdf_pages(data)
    if pages == "encrypted":
        raise ApiRefusal(
            f"{path}.data: The PDF specified is encrypted (password protected); only "
            "unencrypted PDFs can be read"
        )
    if isinstance(pages, str):
        raise ApiRefusal(f"{path}.data: The PDF specified was not valid.")
    return pages
