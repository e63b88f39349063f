"""The socket's frames (docs/protocol.md): parsing what a tab sends, building what it gets."""

import json
import uuid
from dataclasses import dataclass

from django.conf import settings

from chatapp.llm.catalogue import is_known_model


class FrameError(Exception):
    def __init__(self, code: str, message: str, *, conversation_id: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.conversation_id = conversation_id
        # The refused user_message's client_id, when it had a usable one: the tab marks
        # that very message as failed.
        self.client_id: str | None = None


@dataclass(frozen=True)
class UserMessageFrame:
    conversation_id: int | None
    text: str
    client_id: uuid.UUID
    model: str | None
    system: str | None


@dataclass(frozen=True)
class ConversationFrame:
    """`stop` and `open`: a verb on one conversation."""

    type: str
    conversation_id: int


def parse_client_frame(raw: str) -> UserMessageFrame | ConversationFrame:
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_json", "The frame must be a JSON object.")
    kind = data.get("type")
    if kind == "user_message":
        try:
            return _user_message(data)
        except FrameError as exc:
            if isinstance(data.get("client_id"), str) and len(data["client_id"]) <= 64:
                exc.client_id = data["client_id"]
            raise
    if kind in ("stop", "open"):
        return ConversationFrame(kind, _conversation_id(data, required=True))
    raise FrameError(
        "unknown_type",
        f"Unknown frame type {kind!r}: expected user_message, stop or open.",
    )


def _user_message(data: dict) -> UserMessageFrame:
    conversation_id = _conversation_id(data, required=False)
    text = data.get("text")
    if text is not None and not isinstance(text, str):
        raise FrameError("invalid_field", "text must be a string.", conversation_id=conversation_id)
    if not text or not text.strip():
        raise FrameError("empty_text", "The message is empty.", conversation_id=conversation_id)
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise FrameError(
            "text_too_long",
            f"The message is {len(text):,} characters long; the limit is {limit:,}.",
            conversation_id=conversation_id,
        )
    try:
        client_id = uuid.UUID(str(data.get("client_id")))
    except ValueError:
        raise FrameError(
            "invalid_field", "client_id must be a UUID.", conversation_id=conversation_id
        ) from None
    model = data.get("model")
    if model is not None and (not isinstance(model, str) or not is_known_model(model)):
        raise FrameError(
            "invalid_field", f"Unknown model {model!r}.", conversation_id=conversation_id
        )
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise FrameError(
            "invalid_field", "system must be a string.", conversation_id=conversation_id
        )
    return UserMessageFrame(conversation_id, text, client_id, model, system)


def _conversation_id(data: dict, *, required: bool) -> int | None:
    value = data.get("conversation_id")
    if value is None and not required:
        return None
    # bool is an int in Python; a JSON true is not an id.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FrameError("invalid_field", "conversation_id must be a positive integer.")
    return value


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def error_frame(
    code: str,
    message: str,
    *,
    conversation_id: int | None = None,
    message_id: int | None = None,
    client_id: str | None = None,
) -> dict:
    frame = {"type": "error", "code": code, "message": message, "conversation_id": conversation_id}
    if message_id is not None:
        frame["message_id"] = message_id
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def conversation_frame(conversation, *, client_id: uuid.UUID | None = None) -> dict:
    return {
        "type": "conversation",
        "conversation_id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model,
        "client_id": str(client_id) if client_id else None,
    }
