"""Business actions on conversations and messages (sync: called through
database_sync_to_async by the consumer and directly by views and commands)."""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatapp import sql
from chatapp.errors import AppError
from chatapp.llm.stream import ReplyRequest, ReplyState, UpstreamError
from chatapp.usage.models import UsageRecord
from chatapp.usage.services import (
    UsageRefused,
    upstream_rate_limit_observe,
    usage_policy,
    usage_reserve,
    usage_settle,
)

from . import selectors
from .models import Conversation, Message

TITLE_LENGTH = 60


class ChatError(AppError):
    """A chat action the user must be told about."""


@dataclass(frozen=True)
class AcceptedMessage:
    conversation: Conversation
    user_message: Message
    reply: Message
    created_conversation: bool
    duplicate: bool
    # What to send upstream; None for a duplicate, whose reply is already under way or done.
    request: ReplyRequest | None
    # The ledger row holding the call's worst-case cost against the user's budget.
    usage_record: UsageRecord | None = None


def title_from_text(text: str) -> str:
    first_line = text.strip().splitlines()[0].strip()
    if len(first_line) <= TITLE_LENGTH:
        return first_line
    return first_line[: TITLE_LENGTH - 1].rstrip() + "…"


def message_accept(
    *,
    user,
    conversation_id: int | None,
    text: str,
    client_id: uuid.UUID,
    model: str | None = None,
    system: str | None = None,
) -> AcceptedMessage:
    """Stores a user's message and the empty assistant reply that will answer it, in one
    transaction. A client_id seen before returns what it stored then, storing nothing."""
    try:
        with transaction.atomic():
            return _accept_new(
                user=user,
                conversation_id=conversation_id,
                text=text,
                client_id=client_id,
                model=model,
                system=system,
            )
    except (IntegrityError, ChatError) as exc:
        # A resend of a message already accepted: its client_id is taken, or (when its
        # reply still streams) the conversation is busy with it. Looking it up only then
        # keeps a query off every first send.
        previous = _accepted_before(user=user, client_id=client_id)
        if previous is None:
            if isinstance(exc, IntegrityError):
                raise ChatError("invalid_field", "This client_id is already in use.") from exc
            raise
        return previous


def _accepted_before(*, user, client_id: uuid.UUID) -> AcceptedMessage | None:
    message = (
        Message.objects.select_related("conversation", "reply").filter(client_id=client_id).first()
    )
    if message is None:
        return None
    if message.conversation.owner_id != user.pk:
        raise ChatError("invalid_field", "This client_id is already in use.")
    return AcceptedMessage(
        conversation=message.conversation,
        user_message=message,
        reply=message.reply,
        created_conversation=False,
        duplicate=True,
        request=None,
    )


def _accept_new(*, user, conversation_id, text, client_id, model, system) -> AcceptedMessage:
    created = conversation_id is None
    if created:
        conversation = sql.insert(
            Conversation(
                owner=user,
                title=title_from_text(text),
                model=model or settings.CHAT_DEFAULT_MODEL,
                system_prompt=system or "",
                max_tokens=settings.CHAT_DEFAULT_MAX_TOKENS,
            )
        )
    else:
        # Locking the conversation row serialises two sends into one conversation.
        conversation = (
            Conversation.objects.select_for_update().filter(owner=user, pk=conversation_id).first()
        )
        if conversation is None:
            raise ChatError("not_found", "No such conversation.")
        if conversation.messages.filter(status=Message.Status.STREAMING).exists():
            raise ChatError(
                "busy", "A reply is still streaming in this conversation: wait or stop it."
            )
    user_message = sql.insert(
        Message(
            conversation=conversation,
            role=Message.Role.USER,
            content=[{"type": "text", "text": text}],
            status=Message.Status.COMPLETE,
            client_id=client_id,
            completed_at=timezone.now(),
        )
    )
    if created:
        history = [{"role": "user", "content": user_message.content}]
    else:
        history = selectors.upstream_history(conversation=conversation)
    reply = sql.insert(
        Message(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            in_reply_to=user_message,
            status=Message.Status.STREAMING,
            model=conversation.model,
        )
    )
    if not created:
        conversation.save(update_fields=["updated_at"])
    policy = usage_policy()
    request = ReplyRequest(
        model=conversation.model,
        max_tokens=min(conversation.max_tokens, policy.max_tokens_cap),
        system=conversation.system_prompt,
        messages=history,
    )
    try:
        record = usage_reserve(
            user=user,
            policy=policy,
            model=request.model,
            max_tokens=request.max_tokens,
            input_tokens_at_most=request.input_tokens_at_most(),
            conversation_id=conversation.pk,
            message_id=reply.pk,
        )
    except UsageRefused as refused:
        # Nothing is stored: the transaction rolls back, and the tab keeps the text.
        raise ChatError(refused.code, refused.message) from refused
    reply.usage_record = record
    return AcceptedMessage(
        conversation=conversation,
        user_message=user_message,
        reply=reply,
        created_conversation=created,
        duplicate=False,
        request=request,
        usage_record=record,
    )


@transaction.atomic
def reply_finalize(
    *,
    reply: Message,
    status: str,
    state: ReplyState,
    usage_record: UsageRecord | None = None,
    error: UpstreamError | None = None,
    time_to_first_token_ms: int | None = None,
    duration_ms: int | None = None,
) -> Message:
    """Saves a finished reply, whatever way it ended, and settles its usage, in one
    transaction."""
    reply.status = status
    reply.content = state.saved_content()
    reply.stop_reason = state.stop_reason
    reply.upstream_id = state.upstream_id
    reply.request_id = state.request_id or (error.request_id if error else "") or ""
    if state.model:
        reply.model = state.model
    for name, value in state.usage.items():
        setattr(reply, name, value)
    reply.error_code = error.code if error else ""
    reply.error_message = error.message if error else ""
    reply.time_to_first_token_ms = time_to_first_token_ms
    reply.duration_ms = duration_ms
    reply.completed_at = timezone.now()
    saved_fields = (
        "status",
        "content",
        "stop_reason",
        "upstream_id",
        "request_id",
        "model",
        *state.usage.keys(),
        "error_code",
        "error_message",
        "time_to_first_token_ms",
        "duration_ms",
        "completed_at",
    )
    # An UPDATE that may find no row: the conversation can be deleted while its reply
    # streams, and what the call cost is recorded all the same.
    sql.update(reply, saved_fields)
    if usage_record is not None:
        reply.usage_record = usage_settle(
            record=usage_record,
            usage=state.usage,
            cache_creation=state.cache_creation,
            status=status,
            served_model=state.model,
            request_id=reply.request_id,
            time_to_first_token_ms=time_to_first_token_ms,
            duration_ms=duration_ms,
        )
    upstream_rate_limit_observe(state.rate_limits)
    return reply


def replies_mark_interrupted() -> int:
    """Marks replies left `streaming` by a server that stopped as failed, so their
    conversations can go on, and settles their reservations as errors: the usage the API
    reported died with the server, so they are recorded with no tokens, for an admin to
    see. Run at start-up, while no server process is streaming."""
    with transaction.atomic():
        for record in UsageRecord.objects.select_related("price").filter(
            status=UsageRecord.Status.RESERVED,
            message_id__in=Message.objects.filter(status=Message.Status.STREAMING).values("pk"),
        ):
            usage_settle(record=record, usage={}, status=UsageRecord.Status.ERROR)
        return Message.objects.filter(status=Message.Status.STREAMING).update(
            status=Message.Status.ERROR,
            error_code="interrupted",
            error_message="The server stopped before this reply finished.",
            completed_at=timezone.now(),
        )
