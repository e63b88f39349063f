"""Reading attachments: only a user's own (staff may view any, never attach them)."""

from django.conf import settings

from chatapp.errors import AppError

from .models import Attachment

# The largest id the database holds; a larger one is simply not an attachment.
_MAX_ID = 2**63 - 1


def attachments_owned(*, user, ids) -> list[Attachment]:
    """The user's attachments with these ids, in the order given, each once. An id that
    is another user's reads exactly like one that does not exist."""
    if not isinstance(ids, list) or not all(type(i) is int and 0 < i <= _MAX_ID for i in ids):
        raise AppError("invalid_attachment", "attachments must be a list of attachment ids.")
    wanted = list(dict.fromkeys(ids))
    limit = settings.CHAT_MAX_ATTACHMENTS
    if len(wanted) > limit:
        raise AppError(
            "too_many_attachments",
            f"{len(wanted)} attachments on one message: the limit is {limit}.",
        )
    if not wanted:
        return []
    found = Attachment.objects.filter(owner=user).in_bulk(wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        raise AppError(
            "invalid_attachment",
            f"Attachment {missing[0]} is not one of your uploads: upload the file again.",
        )
    return [found[i] for i in wanted]


def attachment_for_viewer(*, user, attachment_id: int) -> Attachment | None:
    """The attachment if `user` may see it (its owner, or staff), else None."""
    if not 0 < attachment_id <= _MAX_ID:
        return None
    attachments = Attachment.objects.all()
    if not user.is_staff:
        attachments = attachments.filter(owner=user)
    return attachments.filter(pk=attachment_id).first()
