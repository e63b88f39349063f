"""Attachments inside messages. A user message's `content` stores an `image` or `document`
block that carries the attachment's to_dict() instead of its bytes (docs/protocol.md);
just before a request, those blocks become the API's own (base64, text, or a Files API
id). The bounds and kinds read from the stored blocks, without a query."""

import base64
import logging

from django.conf import settings

from .models import FILES_API_KINDS, Attachment

logger = logging.getLogger(__name__)


def content_blocks(attachments) -> list[dict]:
    """The blocks stored in a user message's content, one per attachment, in order."""
    return [
        {
            "type": "image" if attachment.kind == Attachment.Kind.IMAGE else "document",
            "attachment": attachment.to_dict(),
        }
        for attachment in attachments
    ]


def api_blocks(content: list[dict], *, citations: bool) -> list[dict]:
    """One stored content list as the Messages API takes it (one query)."""
    return _converted(content, _load(_ids(content)), citations)


def api_messages(history: list[dict], *, citations: bool) -> list[dict]:
    """Every message of `history` ({"role", "content"} dicts) with its content as the
    Messages API takes it; the attachments of all of them in one query."""
    found = _load({i for turn in history for i in _ids(turn["content"])})
    return [{**turn, "content": _converted(turn["content"], found, citations)} for turn in history]


def tokens_at_most(content) -> int:
    """What the attachment blocks of a stored content list add to a request, at most."""
    return sum(int(_attached(block).get("tokens") or 0) for block in _blocks(content))


def kinds_in(history_or_content) -> set[str]:
    """The kinds of attachment ("image", "pdf", "text") in a stored content list, or in a
    history of {"role", "content"} messages."""
    kinds = set()
    for item in _blocks(history_or_content):
        if "role" in item:
            kinds |= kinds_in(item.get("content"))
        elif _attached(item).get("kind"):
            kinds.add(_attached(item)["kind"])
    return kinds


def _blocks(content) -> list[dict]:
    if not isinstance(content, list):  # a plain string content holds no attachment
        return []
    return [block for block in content if isinstance(block, dict)]


def _attached(block: dict) -> dict:
    attached = block.get("attachment")
    return attached if isinstance(attached, dict) else {}


def _ids(content) -> set[int]:
    ids = (_attached(block).get("id") for block in _blocks(content))
    return {i for i in ids if type(i) is int}


def _load(ids: set[int]) -> dict[int, Attachment]:
    return Attachment.objects.in_bulk(ids) if ids else {}


def _converted(content, found: dict[int, Attachment], citations: bool):
    if not isinstance(content, list):
        return content
    return [
        _api_block(block, found.get(_attached(block).get("id")), citations)
        if _attached(block)
        else block
        for block in content
    ]


def _api_block(block: dict, attachment: Attachment | None, citations: bool) -> dict:
    name = _attached(block).get("name") or "file"
    data = _read(attachment) if attachment is not None else None
    if data is None:
        return {"type": "text", "text": f"[attachment {name} was deleted]"}
    if attachment.kind == Attachment.Kind.IMAGE:
        return {"type": "image", "source": _source(attachment, data)}
    if attachment.kind == Attachment.Kind.PDF:
        source = _source(attachment, data)
    else:
        text = data.decode("utf-8-sig")
        source = {"type": "text", "media_type": "text/plain", "data": text}
    return {
        "type": "document",
        "source": source,
        "title": attachment.name,
        "citations": {"enabled": citations},
    }


def _by_file_id(attachment: Attachment) -> bool:
    return bool(
        settings.CHAT_USE_FILES_API and attachment.file_id and attachment.kind in FILES_API_KINDS
    )


def _source(attachment: Attachment, data: bytes) -> dict:
    if _by_file_id(attachment):
        return {"type": "file", "file_id": attachment.file_id}
    return {
        "type": "base64",
        "media_type": attachment.media_type,
        "data": base64.b64encode(data).decode("ascii"),
    }


def _read(attachment: Attachment) -> bytes | None:
    """The stored bytes; None (logged) when the storage lost them."""
    if _by_file_id(attachment):
        return b""  # named by its id: nothing to read
    try:
        with attachment.file.storage.open(attachment.file.name, "rb") as stored:
            return stored.read()
    except OSError:
        logger.warning("attachment %s: %s is missing from storage", attachment.pk, attachment.file)
        return None
