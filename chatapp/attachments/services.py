"""Creating an attachment: checked by content (checks.py), then stored through Django's
storage API, then, with CHAT_USE_FILES_API, sent once to the Files API."""

import hashlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.text import slugify

from chatapp.llm.files import file_upload

from .checks import AttachmentRefused, check_upload, clean_name
from .models import FILES_API_KINDS, THUMBNAIL_MEDIA_TYPE, Attachment

__all__ = ["AttachmentRefused", "attachment_create"]


def attachment_create(*, owner, upload) -> Attachment:
    """Stores `upload` (a Django UploadedFile) for `owner`, or raises AttachmentRefused
    having stored nothing."""
    name = clean_name(getattr(upload, "name", "") or "")
    checked = check_upload(upload, name=name)
    attachment = Attachment(
        owner=owner,
        name=name,
        kind=checked.kind,
        media_type=checked.media_type,
        size=len(checked.data),
        width=checked.width,
        height=checked.height,
        pages=checked.pages,
        text_bytes=checked.text_bytes,
        sha256=hashlib.sha256(checked.data).hexdigest(),
    )
    stem = slugify(name.rsplit(".", 1)[0])[:80] or "file"
    try:
        attachment.file.save(stem + checked.extension, ContentFile(checked.data), save=False)
        if checked.thumbnail is not None:
            extension = "." + THUMBNAIL_MEDIA_TYPE.removeprefix("image/")
            attachment.thumbnail.save(
                "thumbnail" + extension, ContentFile(checked.thumbnail), save=False
            )
        attachment.save()
    except BaseException:
        for field in (attachment.file, attachment.thumbnail):
            if field:
                field.storage.delete(field.name)
        raise
    if settings.CHAT_USE_FILES_API and attachment.kind in FILES_API_KINDS:
        attachment.file_id = file_upload(
            filename=attachment.download_name(),
            data=checked.data,
            media_type=attachment.media_type,
        )
        if attachment.file_id:
            attachment.save(update_fields=["file_id"])
    return attachment
