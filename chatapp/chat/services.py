"""Business actions on conversations and messages (sync: called through
database_sync_to_async by the consumer and directly by views and commands)."""

import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from chatapp import sql
from chatapp.attachments import blocks as attachment_blocks
from chatapp.attachments.selectors import attachments_owned
from chatapp.errors import AppError
from chatapp.llm import catalogue
from chatapp.llm.count import input_tokens_counted
from chatapp.llm.stream import (
    TOOL_DEFINITION_TOKENS,
    USAGE_FIELDS,
    ReplyRequest,
    ReplyState,
    UpstreamError,
    web_search_tools,
    web_searches_at_most,
)
from chatapp.usage.models import UsageRecord
from chatapp.usage.selectors import reserved_record_of
from chatapp.usage.services import (
    UsageRefused,
    upstream_rate_limit_observe,
    usage_policy,
    usage_reserve,
    usage_settle,
)

from . import protocol, selectors
from .models import Conversation, Feedback, Message

TITLE_LENGTH = 60


class ChatError(AppError):
    """A chat action the user must be told about."""


@dataclass(frozen=True)
class AcceptedMessage:
    conversation: Conversation
    # The new user message (a send or an edit); for a regeneration, the one it answers.
    user_message: Message
    reply: Message
    created_conversation: bool
    duplicate: bool
    # What to send upstream; None for a duplicate, whose reply is already under way or done.
    request: ReplyRequest | None
    # The ledger row holding the call's worst-case cost against the user's budget.
    usage_record: UsageRecord | None = None
    # "send", "edit" or "regenerate": an edit or a regeneration opens a new branch.
    kind: str = "send"


def title_from_text(text: str) -> str:
    first_line = text.strip().splitlines()[0].strip()
    if len(first_line) <= TITLE_LENGTH:
        return first_line
    return first_line[: TITLE_LENGTH - 1].rstrip() + "…"


def _idempotent(accept):
    """Runs an accept in one transaction. A client_id seen before returns what it stored
    then, storing nothing: its client_id is taken, or (when its reply still streams) the
    conversation is busy with it. Looking it up only then keeps a query off every first
    send."""

    @functools.wraps(accept)
    def run(*, user, client_id: uuid.UUID, **kwargs) -> AcceptedMessage:
        try:
            with transaction.atomic():
                return accept(user=user, client_id=client_id, **kwargs)
        except (IntegrityError, ChatError) as exc:
            previous = _accepted_before(user=user, client_id=client_id)
            if previous is None:
                if isinstance(exc, IntegrityError):
                    raise ChatError("invalid_field", "This client_id is already in use.") from exc
                raise
            return previous

    return run


def _accepted_before(*, user, client_id: uuid.UUID) -> AcceptedMessage | None:
    message = Message.objects.select_related("conversation").filter(client_id=client_id).first()
    if message is None:
        return None
    if message.conversation.owner_id != user.pk:
        raise ChatError("invalid_field", "This client_id is already in use.")
    if message.role == Message.Role.ASSISTANT:  # a regeneration's reply
        user_message, reply, kind = message.parent, message, "regenerate"
    else:
        user_message = message
        reply = message.children.order_by("-created_at", "-id").first()
        edited = len(selectors.sibling_ids(message=message)) > 1
        kind = "edit" if edited else "send"
    return AcceptedMessage(
        conversation=message.conversation,
        user_message=user_message,
        reply=reply,
        created_conversation=False,
        duplicate=True,
        request=None,
        kind=kind,
    )


def _locked_conversation(*, user, conversation_id: int) -> Conversation:
    """The user's conversation, its row locked until the transaction ends: two sends into
    one conversation are serialised. Busy while a reply streams in it."""
    conversation = (
        Conversation.objects.select_for_update().filter(owner=user, pk=conversation_id).first()
    )
    if conversation is None:
        raise ChatError("not_found", "No such conversation.")
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        raise ChatError("busy", "A reply is still streaming in this conversation: wait or stop it.")
    return conversation


def _message_in(conversation: Conversation, message_id: int, role: str, verb: str) -> Message:
    message = conversation.messages.filter(pk=message_id).first()
    if message is None:
        raise ChatError("not_found", "No such message in this conversation.")
    if message.role != role:
        what = "your own messages" if role == Message.Role.USER else "replies"
        raise ChatError("invalid_field", f"Only {what} can be {verb}.")
    return message


def _insert_user_message(
    conversation: Conversation,
    parent_id: int | None,
    text: str,
    client_id: uuid.UUID | None,
    files: list[dict] = (),
) -> Message:
    """`files`: the attachments' blocks, which go before the text (as the API advises)."""
    return sql.insert(
        Message(
            conversation=conversation,
            parent_id=parent_id,
            role=Message.Role.USER,
            content=[*files, {"type": "text", "text": text}],
            search_text=text,
            status=Message.Status.COMPLETE,
            client_id=client_id,
            completed_at=timezone.now(),
        )
    )


def _start_reply(
    *,
    user,
    conversation: Conversation,
    user_message: Message,
    kind: str,
    created: bool = False,
    client_id: uuid.UUID | None = None,
) -> AcceptedMessage:
    """Stores the empty assistant reply to `user_message`, makes it the end of the active
    branch, and holds the call's worst-case cost against the user's budget. What is sent
    upstream is the branch ending at `user_message`."""
    if created:
        context = selectors.UpstreamContext([{"role": "user", "content": user_message.content}], 0)
    else:
        context = selectors.upstream_context(conversation=conversation, leaf=user_message)
    reply = sql.insert(
        Message(
            conversation=conversation,
            parent=user_message,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=conversation.model,
            client_id=client_id,
            lease_until=reply_lease_end(),
        )
    )
    conversation.active_leaf = reply
    sql.update(conversation, ("active_leaf", "updated_at"))
    policy = usage_policy()
    model, request = _reply_request(conversation, context.history, policy, strict=created)
    size = InputSize(request, model, context.tokens_before, user_message)

    try:
        record = usage_reserve(
            user=user,
            policy=policy,
            model=request.model,
            max_tokens=request.max_tokens,
            input_tokens_at_most=size.tokens,
            input_tokens_exact=size.exact_near_budget,
            web_searches_at_most=web_searches_at_most(request.tools),
            conversation_id=conversation.pk,
            message_id=reply.pk,
        )
    except UsageRefused as refused:
        # Nothing is stored: the transaction rolls back, and the tab keeps the text.
        raise ChatError(refused.code, refused.message) from refused
    reply.usage_record = record
    if kind != "send":
        siblings = selectors.sibling_ids(message=reply if kind == "regenerate" else user_message)
        (reply if kind == "regenerate" else user_message).sibling_ids = siblings
    return AcceptedMessage(
        conversation=conversation,
        user_message=user_message,
        reply=reply,
        created_conversation=created,
        duplicate=False,
        request=request,
        usage_record=record,
        kind=kind,
    )


# A count_tokens round trip is made only when the bound comes this near the model's
# window or what the user's budget has left.
COUNT_MARGIN = Decimal("0.9")


class InputSize:
    """A request's input tokens, without a round trip on every reply: the branch's size
    as the API counted it after its last reply, plus a bound for what follows (one token
    per UTF-8 byte, and the attachments' own bound), or a bound of the whole request when
    there is no reply to go by. It is counted exactly (count_tokens) only when the bound
    comes within 10% of the model's window or of the user's remaining budget, or leans on
    files (an attachment's bound is loose); over the window it is refused before any
    call."""

    def __init__(self, request: ReplyRequest, model, tokens_before: int, leaf: Message):
        self.request = request
        self.model = model
        self.exact = False
        if tokens_before:
            files = attachment_blocks.tokens_at_most(leaf.content)
            added = len(json.dumps(leaf.content, ensure_ascii=False).encode()) + files
            # The system prompt and the tools again: they may have changed since.
            added += len(request.system.encode()) + TOOL_DEFINITION_TOKENS * len(request.tools)
            self.tokens = tokens_before + added
        else:
            files = request.attachment_tokens
            self.tokens = request.input_tokens_at_most()
        window = model.max_input_tokens
        near_window = window and self.tokens >= COUNT_MARGIN * window
        if (files or near_window) and self.count() and window and self.tokens > window:
            raise ChatError(
                "context_too_long",
                f"This conversation is {self.tokens:,} tokens: {self.tokens - window:,} "
                f"over {model.label}'s window of {window:,}. Start a new conversation, "
                "or pick a model with a larger window.",
            )

    def count(self) -> bool:
        """Counts exactly; False when the count fails (the bound stands: chatting is
        never blocked by a count)."""
        if self.exact:
            return False
        counted = input_tokens_counted(self.request)
        if counted is None:
            return False
        self.tokens, self.exact = counted, True
        return True

    def exact_near_budget(self, worst: Decimal, remaining: Decimal) -> int | None:
        """The exact size, counted now, when the bound's worst case comes within 10% of
        what the budget has left (usage_reserve asks); None keeps the bound."""
        if remaining <= 0 or worst < COUNT_MARGIN * remaining or not self.count():
            return None
        return self.tokens


def _reply_request(conversation: Conversation, history: list[dict], policy, *, strict: bool):
    """The model, and what is sent upstream: only what the model takes (the catalogue's
    capabilities), never a parameter it would refuse. A thinking or effort choice the
    model does not take is refused when it is just being made (`strict`: a new
    conversation); a conversation's earlier choice its model no longer takes (after a
    sync) is left out of the request instead, so it can go on."""
    model = catalogue.get(conversation.model)
    if model is None or not model.offered:
        raise ChatError(
            "model_unavailable",
            f"{conversation.model} is no longer offered: pick another model for this "
            "conversation in the model picker.",
        )
    max_tokens = min(conversation.max_tokens, policy.max_tokens_cap, model.max_output_tokens)
    thinking, effort = None, conversation.effort
    try:
        thinking = model.thinking_param(max_tokens) if conversation.thinking else None
    except ValueError as exc:
        if strict:
            raise ChatError("invalid_field", str(exc)) from exc
    try:
        model.check_effort(effort)
    except ValueError as exc:
        if strict:
            raise ChatError("invalid_field", str(exc)) from exc
        effort = ""
    _check_inputs(model, history)
    tools = ()
    if conversation.web_search:
        if model.web_search:
            tools = web_search_tools(settings.CHAT_WEB_SEARCH_MAX_USES)
        elif strict:
            raise ChatError("unsupported_input", f"{model.label} does not search the web.")
    if not tools:
        history = selectors.without_server_tools(history)
    return model, ReplyRequest(
        model=conversation.model,
        max_tokens=max_tokens,
        system=conversation.system_prompt,
        messages=attachment_blocks.api_messages(history, citations=model.supports("citations")),
        stop_sequences=tuple(conversation.stop_sequences),
        thinking=thinking,
        effort=effort,
        cache_ttl=settings.CHAT_CACHE_TTL if settings.CHAT_PROMPT_CACHING else "",
        tools=tools,
        attachment_tokens=sum(
            attachment_blocks.tokens_at_most(turn["content"]) for turn in history
        ),
    )


# What each kind of attachment needs of a model (its `capabilities`).
_READS = {"image": ("image_input", "images"), "pdf": ("pdf_input", "PDFs")}


def _check_inputs(model, history: list[dict]) -> None:
    """Refuses, before any call, a branch holding files the model does not read."""
    kinds = {
        block["attachment"].get("kind")
        for turn in history
        for block in turn["content"]
        if isinstance(block.get("attachment"), dict)
    }
    for kind in sorted(kinds):
        capability, what = _READS.get(kind, (None, None))
        if capability and not model.supports(capability):
            raise ChatError(
                "unsupported_input",
                f"{model.label} does not read {what}, and this conversation holds some: "
                "pick a model that does in the model picker, or remove the file.",
            )


@_idempotent
def message_accept(
    *,
    user,
    conversation_id: int | None,
    text: str,
    client_id: uuid.UUID,
    model: str | None = None,
    system: str | None = None,
    thinking: bool | None = None,
    effort: str | None = None,
    web_search: bool | None = None,
    attachments: tuple[int, ...] = (),
) -> AcceptedMessage:
    """Stores a user's message (and its attachments, the user's own uploads) at the end
    of the active branch and the empty assistant reply that will answer it, in one
    transaction."""
    created = conversation_id is None
    files = attachment_blocks.content_blocks(attachments_owned(user=user, ids=list(attachments)))
    if created:
        if model is not None and not catalogue.is_known_model(model):
            raise ChatError("invalid_field", f"Unknown model {model!r}.")
        conversation = sql.insert(
            Conversation(
                owner=user,
                title=title_from_text(text),
                model=model or catalogue.default_model_id(),
                system_prompt=system or "",
                max_tokens=settings.CHAT_DEFAULT_MAX_TOKENS,
                thinking=bool(thinking),
                effort=effort or "",
                web_search=bool(web_search),
            )
        )
        user_message = _insert_user_message(conversation, None, text, client_id, files)
    else:
        conversation = _locked_conversation(user=user, conversation_id=conversation_id)
        user_message = _insert_user_message(
            conversation, conversation.active_leaf_id, text, client_id, files
        )
    return _start_reply(
        user=user,
        conversation=conversation,
        user_message=user_message,
        created=created,
        kind="send",
    )


@_idempotent
def message_edit(
    *,
    user,
    conversation_id: int,
    message_id: int,
    text: str,
    client_id: uuid.UUID,
    attachments: tuple[int, ...] | None = None,
) -> AcceptedMessage:
    """A new version of one of the user's messages: a sibling of it, with its own reply,
    on a new branch that becomes the active one. Nothing is deleted. `attachments`: the
    new version's files; None keeps the edited message's."""
    conversation = _locked_conversation(user=user, conversation_id=conversation_id)
    edited = _message_in(conversation, message_id, Message.Role.USER, "edited")
    if attachments is None:
        files = [block for block in edited.content if "attachment" in block]
    else:
        owned = attachments_owned(user=user, ids=list(attachments))
        files = attachment_blocks.content_blocks(owned)
    user_message = _insert_user_message(conversation, edited.parent_id, text, client_id, files)
    return _start_reply(
        user=user, conversation=conversation, user_message=user_message, kind="edit"
    )


@_idempotent
def reply_regenerate(
    *, user, conversation_id: int, message_id: int, client_id: uuid.UUID
) -> AcceptedMessage:
    """A new reply to the question a reply answered: a sibling of it, on a new branch that
    becomes the active one. Nothing is deleted."""
    conversation = _locked_conversation(user=user, conversation_id=conversation_id)
    replaced = _message_in(conversation, message_id, Message.Role.ASSISTANT, "regenerated")
    user_message = replaced.parent
    if user_message is None:
        raise ChatError("invalid_field", "This reply answers no message of yours.")
    return _start_reply(
        user=user,
        conversation=conversation,
        user_message=user_message,
        kind="regenerate",
        client_id=client_id,
    )


@transaction.atomic
def conversation_switch(*, user, conversation_id: int, message_id: int) -> Conversation:
    """Makes the branch through a message the active one: it ends at the newest message
    below it, following the newest version at each step."""
    conversation = _locked_conversation(user=user, conversation_id=conversation_id)
    message = conversation.messages.filter(pk=message_id).first()
    if message is None:
        raise ChatError("not_found", "No such message in this conversation.")
    conversation.active_leaf_id = selectors.newest_leaf_below(
        conversation=conversation, message_id=message.pk
    )
    conversation.save(update_fields=["active_leaf", "updated_at"])
    return conversation


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
    transaction. `reply.needs_title`: the reply is the conversation's first complete one
    and its title is not the user's own, so a generated title follows (titles.py)."""
    reply.status = status
    reply.content = state.saved_content()
    reply.search_text = reply.text
    reply.stop_reason = state.stop_reason
    reply.stop_sequence = state.stop_sequence
    reply.upstream_id = state.upstream_id
    reply.request_id = state.request_id or (error.request_id if error else "") or ""
    if state.model:
        reply.model = state.model
    usage = state.total_usage()
    for name, value in usage.items():
        setattr(reply, name, value)
    reply.server_tool_use = state.total_server_tool_use()
    reply.error_code = error.code if error else ""
    reply.error_message = error.message if error else ""
    reply.error_body = error.body if error else None
    reply.time_to_first_token_ms = time_to_first_token_ms
    reply.duration_ms = duration_ms
    reply.completed_at = timezone.now()
    saved_fields = (
        "status",
        "content",
        "search_text",
        "stop_reason",
        "stop_sequence",
        "error_body",
        "upstream_id",
        "request_id",
        "model",
        *usage.keys(),
        "server_tool_use",
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
            usage={**usage, "server_tool_use": reply.server_tool_use},
            cache_creation=state.total_cache_creation(),
            status=status,
            served_model=state.model,
            request_id=reply.request_id,
            time_to_first_token_ms=time_to_first_token_ms,
            duration_ms=duration_ms,
        )
    upstream_rate_limit_observe(state.rate_limits)
    reply.needs_title = (
        status == Message.Status.COMPLETE and settings.CHAT_TITLES and _first_complete_reply(reply)
    )
    return reply


def _first_complete_reply(reply: Message) -> bool:
    """No other reply of its conversation is complete, and the title is not the user's
    (one query, after the reply: whatever came of the replies before it)."""
    others = Message.objects.filter(
        conversation_id=OuterRef("pk"), role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE
    ).exclude(pk=reply.pk)
    return (
        Conversation.objects.filter(pk=reply.conversation_id, title_set_by_user=False)
        .exclude(Exists(others))
        .exists()
    )


def reply_lease_end() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.CHAT_REPLY_LEASE_SECONDS)


def replies_checkpoint(*, checkpoints: list[dict]) -> None:
    """Saves streaming replies' blocks and usage so far (each a dict: `reply_id`,
    `content`, `usage` as ReplyState.usage_so_far, `server_tool_use`), and renews their
    leases: what a crash keeps. All in one transaction, the statements sent together: the
    replies of a burst reach their checkpoints together. A reply that has ended meanwhile
    is left as it was saved."""
    lease_until = reply_lease_end()
    rows = [
        Message(
            pk=checkpoint["reply_id"],
            content=checkpoint["content"],
            search_text="".join(
                b.get("text", "") for b in checkpoint["content"] if b.get("type") == "text"
            ),
            server_tool_use=checkpoint["server_tool_use"],
            lease_until=lease_until,
            **checkpoint["usage"],
        )
        for checkpoint in checkpoints
    ]
    fields = ("content", "search_text", "server_tool_use", "lease_until", *USAGE_FIELDS)
    with transaction.atomic():
        sql.update_many(rows, fields, status=Message.Status.STREAMING)


def replies_lease_renew(*, reply_ids: list[int]) -> None:
    """The replies this process streams are still its own (one UPDATE for all)."""
    if reply_ids:
        Message.objects.filter(pk__in=reply_ids, status=Message.Status.STREAMING).update(
            lease_until=reply_lease_end()
        )


INTERRUPTED = "The server stopped before this reply finished: what had arrived is kept."


def replies_recover(*, exclude: tuple[int, ...] = (), unleased: bool = True) -> list[Message]:
    """Recovers the replies whose process died: streaming, with a lease that ran out.
    Each keeps its last checkpoint (its text and the usage known then), is marked
    `interrupted`, and its ledger row is settled at the checkpointed usage, flagged as
    interrupted. Safe to run at any moment, in any process: a reply another live process
    streams has a lease it keeps renewing (`exclude`: this process's own). `unleased`:
    also the replies of a version that gave no lease (start-up only)."""
    recovered = []
    now = timezone.now()
    expired = Q(lease_until__lt=now)
    if unleased:
        expired |= Q(lease_until__isnull=True)
    with transaction.atomic():
        lost = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(expired, status=Message.Status.STREAMING)
            .exclude(pk__in=exclude)
        )
        for reply in lost:
            reply.status = Message.Status.ERROR
            reply.error_code = "interrupted"
            reply.error_message = INTERRUPTED
            reply.completed_at = now
            sql.update(reply, ("status", "error_code", "error_message", "completed_at"))
            record = reserved_record_of(reply.pk)
            if record is not None:
                usage_settle(
                    record=record,
                    usage={**reply.usage, "server_tool_use": reply.server_tool_use},
                    status=UsageRecord.Status.INTERRUPTED,
                )
                reply.usage_record = record
            recovered.append(reply)
    return recovered


def conversation_announce(*, conversation: Conversation) -> None:
    """Tells every tab of the owner, in every process, the conversation's title and pin
    (a `conversation` frame): after a rename, a pin, or a generated title."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(
        protocol.user_group_name(conversation.owner_id),
        protocol.conversation_message(protocol.conversation_frame(conversation), origin=""),
    )


def feedback_set(*, user, message: Message, rating: str, comment: str = "") -> Feedback | None:
    """The user's rating of a reply, replacing the one before; an empty rating clears it."""
    if not rating:
        Feedback.objects.filter(user=user, message=message).delete()
        return None
    feedback, _ = Feedback.objects.update_or_create(
        user=user, message=message, defaults={"rating": rating, "comment": comment}
    )
    return feedback
