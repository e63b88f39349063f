"""A user's upload, checked by its content (services.attachment_create) before it is
stored: the row says what the bytes are, never what their name or the browser claimed."""

import math
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


def upload_path(instance, filename: str) -> str:
    """A folder of its own per file, named at random: a path nobody can guess or list."""
    return f"attachments/{uuid.uuid4().hex}/{filename}"


# What the request bound counts for each page of a PDF (the API's page image), besides
# the page's own text.
PDF_PAGE_TOKENS = 1600
# A (w x h) image costs about w·h/750 tokens (the API's own estimate).
IMAGE_PIXELS_PER_TOKEN = 750

# The file names a download may keep, by the media type it is served with; any other
# name gets the first extension (a page saved as .html is served as text, and saved so).
DOWNLOAD_EXTENSIONS = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".log"),
}
THUMBNAIL_MEDIA_TYPE = "image/webp"
# The kinds sent through the Files API when CHAT_USE_FILES_API is on (a text document
# always goes as text).
FILES_API_KINDS = ("image", "pdf")


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        PDF = "pdf", "PDF"
        TEXT = "text", "Text"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    # Through Django's storage API (STORAGES["default"]): local files or any backend.
    file = models.FileField(upload_to=upload_path, max_length=255)
    # An image's small copy (THUMBNAIL_MEDIA_TYPE); empty for other kinds.
    thumbnail = models.FileField(upload_to=upload_path, max_length=255, blank=True)
    # The name the person gave it, cleaned of paths and control characters: shown, and
    # used for downloads (download_name), never to decide what the file is.
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8, choices=Kind)
    # What the stored bytes are, as checked (an image may have been re-encoded).
    media_type = models.CharField(max_length=32)
    size = models.PositiveBigIntegerField(help_text="Bytes stored.")
    # Images, after scaling down.
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # PDFs: their pages and the UTF-8 bytes of their extracted text (the token bound).
    pages = models.PositiveIntegerField(null=True, blank=True)
    text_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    # The Files API's id when CHAT_USE_FILES_API sent it there; empty: sent in base64.
    file_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def tokens(self) -> int:
        """A bound of the tokens it adds to a request."""
        if self.kind == self.Kind.IMAGE:
            return math.ceil((self.width or 0) * (self.height or 0) / IMAGE_PIXELS_PER_TOKEN)
        if self.kind == self.Kind.PDF:
            return (self.pages or 0) * PDF_PAGE_TOKENS + self.text_bytes
        return self.size

    def download_name(self) -> str:
        """The name a browser saves it under: the person's name, with the extension of
        what is served (a WebP stored as PNG is saved as .png, a text named .html as
        .html.txt)."""
        allowed = DOWNLOAD_EXTENSIONS.get(self.media_type, ())
        path = PurePosixPath(self.name)
        if not allowed or path.suffix.lower() in allowed:
            return self.name
        if self.kind == self.Kind.TEXT:
            return self.name + allowed[0]
        return (path.stem or self.name) + allowed[0]

    def thumbnail_name(self) -> str:
        return PurePosixPath(self.name).stem + ".webp"

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "url": reverse("attachments:file", args=[self.pk]),
            "thumbnail_url": (
                reverse("attachments:thumbnail", args=[self.pk]) if self.thumbnail else None
            ),
            "media_type": self.media_type,
            "width": self.width,
            "height": self.height,
            "pages": self.pages,
            "tokens": self.tokens,
        }
