"""The chat's wire protocol, server side (docs/protocol.md), and nowhere else: every frame
a tab sends is parsed here, every frame a tab gets is built here, and so is every message
the server processes pass each other through the channel layer."""

import json
import uuid
from dataclasses import dataclass

from django.conf import settings

from chatapp.errors import AppError
from chatapp.llm.catalogue import EFFORT_LEVELS

# --- what a tab sends -------------------------------------------------------------------


class FrameError(AppError):
    """A client frame refused as it stands."""

    def __init__(self, code: str, message: str, *, conversation_id: int | None = None):
        super().__init__(code, message)
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
    thinking: bool | None = None
    effort: str | None = None
    web_search: bool | None = None
    # Ids of the user's uploads (checked against the owner by the service).
    attachments: tuple[int, ...] = ()


@dataclass(frozen=True)
class ConversationFrame:
    """`stop` and `open`: a verb on one conversation."""

    type: str
    conversation_id: int


@dataclass(frozen=True)
class BranchFrame:
    """`edit`, `regenerate` and `switch`: a verb on one message of a conversation (`text`
    for an edit; `client_id` for an edit or a regeneration, which start a reply)."""

    type: str
    conversation_id: int
    message_id: int
    client_id: uuid.UUID | None = None
    text: str | None = None
    # An edit's files; None keeps the edited message's own.
    attachments: tuple[int, ...] | None = None


CLIENT_TYPES = ("user_message", "edit", "regenerate", "switch", "stop", "open")


def parse_client_frame(raw: str) -> UserMessageFrame | ConversationFrame | BranchFrame:
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    except RecursionError:
        raise FrameError("invalid_json", "The frame is nested too deeply.") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_json", "The frame must be a JSON object.")
    if "\\u" in raw:
        _check_unicode(data)
    kind = data.get("type")
    if kind in ("user_message", "edit", "regenerate"):
        try:
            return _user_message(data) if kind == "user_message" else _branch(kind, data)
        except FrameError as exc:
            # The refused frame's client_id, when it had a usable one: the tab marks that
            # very message as failed.
            if isinstance(data.get("client_id"), str) and len(data["client_id"]) <= 64:
                exc.client_id = data["client_id"]
            raise
    if kind == "switch":
        return _branch(kind, data)
    if kind in ("stop", "open"):
        return ConversationFrame(kind, _conversation_id(data, required=True))
    raise FrameError(
        "unknown_type",
        f"Unknown frame type {kind!r}: expected one of {', '.join(CLIENT_TYPES)}.",
    )


def _check_unicode(data: dict) -> None:
    """Refuses a frame whose strings hold a lone UTF-16 surrogate (a JSON escape such as
    \\ud800 that pairs with nothing): no database stores it, and no frame that echoed it
    could be sent back."""
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise FrameError(
            "invalid_unicode", "The frame holds text that is not valid Unicode (a lone surrogate)."
        ) from None
    except RecursionError:
        raise FrameError("invalid_json", "The frame is nested too deeply.") from None


def _branch(kind: str, data: dict) -> BranchFrame:
    conversation_id = _conversation_id(data, required=True)
    message_id = _positive_int(data.get("message_id"), "message_id", conversation_id)
    client_id = text = attachments = None
    if kind != "switch":
        client_id = _client_id(data, conversation_id)
    if kind == "edit":
        text = _text(data, conversation_id)
        if data.get("attachments") is not None:
            attachments = _attachments(data, conversation_id)
    return BranchFrame(kind, conversation_id, message_id, client_id, text, attachments)


def _attachments(data: dict, conversation_id: int | None) -> tuple[int, ...]:
    value = data.get("attachments")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value
    ):
        raise FrameError(
            "invalid_attachment",
            "attachments must be a list of attachment ids.",
            conversation_id=conversation_id,
        )
    limit = settings.CHAT_MAX_ATTACHMENTS
    if len(set(value)) > limit:
        raise FrameError(
            "too_many_attachments",
            f"{len(set(value))} attachments on one message: the limit is {limit}.",
            conversation_id=conversation_id,
        )
    return tuple(dict.fromkeys(value))


def _positive_int(value, name: str, conversation_id: int | None) -> int:
    # bool is an int in Python; a JSON true is not an id.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise FrameError(
            "invalid_field",
            f"{name} must be a positive integer.",
            conversation_id=conversation_id,
        )
    return value


def _text(data: dict, conversation_id: int | None) -> str:
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
    return text


def _client_id(data: dict, conversation_id: int | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(data.get("client_id")))
    except ValueError:
        raise FrameError(
            "invalid_field", "client_id must be a UUID.", conversation_id=conversation_id
        ) from None


def _user_message(data: dict) -> UserMessageFrame:
    conversation_id = _conversation_id(data, required=False)
    text = _text(data, conversation_id)
    client_id = _client_id(data, conversation_id)
    model = data.get("model")
    if model is not None and not isinstance(model, str):  # checked against the catalogue
        raise FrameError(  # by the service that accepts the message
            "invalid_field", f"Unknown model {model!r}.", conversation_id=conversation_id
        )
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise FrameError(
            "invalid_field", "system must be a string.", conversation_id=conversation_id
        )
    if system and len(system) > settings.CHAT_MAX_SYSTEM_CHARS:
        raise FrameError(
            "system_too_long",
            f"The system prompt is {len(system):,} characters long; the limit is "
            f"{settings.CHAT_MAX_SYSTEM_CHARS:,}.",
            conversation_id=conversation_id,
        )
    thinking = data.get("thinking")
    if thinking is not None and not isinstance(thinking, bool):
        raise FrameError(
            "invalid_field", "thinking must be true or false.", conversation_id=conversation_id
        )
    effort = data.get("effort")
    if effort is not None and (not isinstance(effort, str) or effort not in ("", *EFFORT_LEVELS)):
        # Whether the model takes it is checked against the catalogue by the service.
        raise FrameError(
            "invalid_field",
            f"effort must be empty (the model's default) or one of {', '.join(EFFORT_LEVELS)}.",
            conversation_id=conversation_id,
        )
    web_search = data.get("web_search")
    if web_search is not None and not isinstance(web_search, bool):
        raise FrameError(
            "invalid_field", "web_search must be true or false.", conversation_id=conversation_id
        )
    return UserMessageFrame(
        conversation_id,
        text,
        client_id,
        model,
        system,
        thinking,
        effort,
        web_search,
        _attachments(data, conversation_id),
    )


def _conversation_id(data: dict, *, required: bool) -> int | None:
    value = data.get("conversation_id")
    if value is None and not required:
        return None
    return _positive_int(value, "conversation_id", None)


# --- what a tab gets --------------------------------------------------------------------

# Close codes of the socket (docs/protocol.md).
CLOSE_SEND_FAILED = 4500
CLOSE_TOO_MANY_FRAMES = 4429


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
        "pinned": conversation.pinned,
        "thinking": conversation.thinking,
        "effort": conversation.effort,
        "web_search": conversation.web_search,
        "updated_at": conversation.updated_at.isoformat() if conversation.updated_at else None,
        "client_id": str(client_id) if client_id else None,
    }


def user_message_frame(
    *, conversation_id: int, message: dict, client_id: uuid.UUID, duplicate: bool
) -> dict:
    return {
        "type": "user_message",
        "conversation_id": conversation_id,
        "message": message,
        "client_id": str(client_id),
        "duplicate": duplicate,
    }


def branch_frame(
    *,
    conversation_id: int,
    active_leaf_id: int | None,
    messages: list[dict],
    client_id: uuid.UUID | None = None,
) -> dict:
    """The active branch changed (an edit, a regeneration, a switch): the tab shows
    `messages`, the branch from the first message to `active_leaf_id`, instead."""
    return {
        "type": "branch",
        "conversation_id": conversation_id,
        "active_leaf_id": active_leaf_id,
        "messages": messages,
        "client_id": str(client_id) if client_id else None,
    }


def resync_frame(*, conversation_id: int, message_id: int, seq: int | None, message: dict) -> dict:
    """A reply so far, or ended (`seq` None for a reply read back from the database)."""
    return {
        "type": "resync",
        "conversation_id": conversation_id,
        "message_id": message_id,
        "seq": seq,
        "message": message,
    }


def message_stop_frame(message: dict) -> dict:
    """The saved reply, whatever way it ended; stamped like any reply event."""
    return {"type": "message_stop", "message": message}


def joined_text_delta(first: dict, text: str, seq: int) -> dict:
    """Consecutive text deltas of one block as one frame of the same shape; its seq is that
    of the last delta it includes."""
    joined = dict(first)
    joined["delta"] = {"type": "text_delta", "text": text}
    joined["seq"] = seq
    return joined


class ReplyEvents:
    """Stamps one reply's events (upstream events, its error, its message_stop) with the
    conversation, the message and the event's `seq`."""

    __slots__ = ("_prefix", "conversation_id", "message_id")

    def __init__(self, conversation_id: int, message_id: int):
        self.conversation_id = conversation_id
        self.message_id = message_id
        self._prefix = f'{{"conversation_id":{conversation_id},"message_id":{message_id},"seq":'

    def stamp(self, data: dict, seq: int, upstream_json: str | None = None) -> str | None:
        """Adds the ids to `data`; returns the frame's text when the upstream's own JSON
        can be reused with the ids put in front (no re-encoding per event), else None."""
        data["conversation_id"] = self.conversation_id
        data["message_id"] = self.message_id
        data["seq"] = seq
        if upstream_json is not None and upstream_json.startswith('{"'):
            return f"{self._prefix}{seq},{upstream_json[1:]}"
        return None


# --- between server processes (the channel layer) ---------------------------------------


def user_group_name(user_id: int) -> str:
    """The sockets, in every process, of one user (their sidebars)."""
    return f"chat.user.{user_id}"


def conversation_group_name(conversation_id: int) -> str:
    """The sockets, in every process, that show a conversation."""
    return f"chat.conversation.{conversation_id}"


def live_group_name(conversation_id: int) -> str:
    """The hub of the process where the conversation's reply is streaming."""
    return f"chat.live.{conversation_id}"


def relay_message(
    *, origin: str, conversation_id: int, message_id: int | None, frames: list[list]
) -> dict:
    """Frames for the tabs of other processes: `frames` holds [seq, encoded frame] pairs
    (seq 0 for a frame about no reply); `origin` is the sending process's hub."""
    return {
        "type": "chat.relay",
        "origin": origin,
        "conversation_id": conversation_id,
        "message_id": message_id,
        "frames": frames,
    }


def conversation_message(frame: dict, *, origin: str) -> dict:
    """A `conversation` frame for the user's other sockets; `origin` is the sending
    socket's channel, which has shown it already."""
    return {"type": "chat.conversation", "frame": frame, "origin": origin}


def resync_request(*, conversation_id: int, reply_to: str) -> dict:
    return {"type": "chat.resync_request", "conversation_id": conversation_id, "reply_to": reply_to}


def stop_request(*, conversation_id: int, owner_id: int) -> dict:
    return {"type": "chat.stop_request", "conversation_id": conversation_id, "owner_id": owner_id}
