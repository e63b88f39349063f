"""The Files API's store: uploads kept in memory, described as the SDK's ``FileMetadata``.

A file's ``mime_type`` is found from its content, never from its name or the part's header:
PDF and image signatures, else UTF-8 text, else ``application/octet-stream``. Uploads are never
``downloadable`` (only files a tool made are, in the real API). Expiry runs on the fake's clock,
so ``advance_clock`` expires a file made with ``expires_in_seconds``.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .caching import FakeClock

MAX_FILE_BYTES = 500 * 1024 * 1024  # the real API's limit per file
MIN_EXPIRES_IN = 3600
MAX_EXPIRES_IN = 7_776_000

_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "text/plain": ".txt",
}
_ID_ALPHABET = string.ascii_letters + string.digits


def image_type(data: bytes) -> str | None:
    """The media type an image's bytes say they are (the four the API takes), if any."""
    for signature, media_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def detect_mime_type(data: bytes) -> str:
    if is_pdf(data):
        return "application/pdf"
    if media_type := image_type(data):
        return media_type
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "application/octet-stream" if "\0" in text else "text/plain"


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@dataclass
class StoredFile:
    id: str
    filename: str
    mime_type: str
    data: bytes
    created_at: float
    expires_at: float | None

    def metadata(self) -> dict[str, Any]:
        """The ``FileMetadata`` JSON."""
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at) if self.expires_at is not None else None,
            "downloadable": False,
        }


def stored_filename(filename: str | None, mime_type: str) -> str:
    """Only the final path component is kept; none gives ``unnamed`` and the type's extension."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name or "unnamed" + _EXTENSIONS.get(mime_type, "")


class FileStore:
    """Touched only from the server's event loop."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._files: dict[str, StoredFile] = {}

    def clear(self) -> None:
        self._files.clear()

    def add(
        self, data: bytes, filename: str | None, *, expires_in: int | None = None
    ) -> StoredFile:
        mime_type = detect_mime_type(data)
        now = self._clock.now()
        stored = StoredFile(
            id="file_011C" + "".join(random.choices(_ID_ALPHABET, k=22)),
            filename=stored_filename(filename, mime_type),
            mime_type=mime_type,
            data=data,
            created_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        )
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def expired(self, stored: StoredFile) -> bool:
        return stored.expires_at is not None and stored.expires_at <= self._clock.now()

    def delete(self, file_id: str) -> bool:
        return self._files.pop(file_id, None) is not None

    def newest_first(self) -> list[StoredFile]:
        return sorted(self._files.values(), key=lambda f: (f.created_at, f.id), reverse=True)

    def page(self, *, limit: int, start_id: str | None, ids: list[str] | None) -> dict[str, Any]:
        """One page of ``GET /v1/files``, newest first: ``{data, next_page}``, the cursor
        naming the next page's first file; ``ids`` gives one page of those files that exist
        (unknown ids are left out)."""
        files = self.newest_first()
        if ids is not None:
            wanted = set(ids)
            return {"data": [f.metadata() for f in files if f.id in wanted], "next_page": None}
        start = 0
        if start_id is not None:
            start = next((i for i, f in enumerate(files) if f.id == start_id), len(files))
        chosen = files[start : start + limit]
        more = start + limit < len(files)
        return {
            "data": [f.metadata() for f in chosen],
            "next_page": f"page_{files[start + limit].id}" if more else None,
        }
