"""The Files API: an attachment sent once, then named by its id in every request that
carries it (instead of its bytes in base64 each time)."""

import logging

from .client import sync_client

logger = logging.getLogger(__name__)

# An upload is made while a person waits for their file to appear.
UPLOAD_TIMEOUT_SECONDS = 60.0


def file_upload(*, filename: str, data: bytes, media_type: str) -> str:
    """The file's id, or "" when the upload failed (logged): the chat then sends the
    bytes themselves, so a failure here never stops anyone."""
    try:
        uploaded = sync_client().files.upload(
            file=(filename, data, media_type), timeout=UPLOAD_TIMEOUT_SECONDS
        )
    except Exception:  # the SDK's errors and the HTTP library's own (ANTHROPIC_NOTES.md)
        logger.warning("Files API upload of %r failed", filename, exc_info=True)
        return ""
    return uploaded.id
