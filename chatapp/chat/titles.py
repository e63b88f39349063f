"""A conversation's title, written by a small fast model after its first complete reply
(services.reply_finalize decides which reply that is).

The call is a chat cost like any other: held against the user's budget before it is made
(no call when the budget or the rate limit cannot cover it), settled at its exact cost in
the usage ledger with purpose `title`. The new title reaches every tab of the user as a
`conversation` frame. A title the user set is never replaced, and a failed call keeps the
first-words title: it is logged, and the user sees no error.
"""

import logging
import time

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from chatapp.llm import catalogue
from chatapp.llm.complete import complete
from chatapp.llm.stream import ReplyRequest, UpstreamError
from chatapp.usage.models import UsageRecord
from chatapp.usage.services import (
    UsageRefused,
    price_for,
    upstream_rate_limit_observe,
    usage_reserve,
    usage_settle,
)

from . import protocol
from .db import run_db, run_settlement
from .models import Conversation

logger = logging.getLogger(__name__)

TITLE_MAX_TOKENS = 30
EXCERPT_CHARS = 1500
INSTRUCTION = (
    "Write a title for this conversation: at most six words, in the conversation's "
    "language, no quotes, no final full stop. Answer with the title only."
)


def title_model() -> str:
    """CHAT_TITLE_MODEL, or the cheapest Haiku of the catalogue by today's prices."""
    if settings.CHAT_TITLE_MODEL:
        return settings.CHAT_TITLE_MODEL
    offered = catalogue.offered()
    haikus = [m.id for m in offered if m.line == "haiku"] or [m.id for m in offered]

    def output_price(model_id: str):
        price = price_for(model_id)
        return (price is None, price.output_per_mtok if price else 0)

    return min(haikus, key=output_price)


def title_request(question: str, answer: str) -> ReplyRequest:
    excerpt = f"User: {question[:EXCERPT_CHARS]}\n\nAssistant: {answer[:EXCERPT_CHARS]}"
    return ReplyRequest(
        model=title_model(),
        max_tokens=TITLE_MAX_TOKENS,
        messages=[
            {
                "role": "user",
                "content": f"{INSTRUCTION}\n\n<conversation>\n{excerpt}\n</conversation>",
            }
        ],
    )


# Quotes a model may wrap a title in: straight, and typographic double and single ones.
_QUOTES = "\"'\u201c\u201d\u2018\u2019 "


def clean_title(text: str) -> str:
    title = " ".join(text.split()).strip(_QUOTES).rstrip(".")
    return title[: Conversation._meta.get_field("title").max_length]


def _reserve(
    *, conversation_id: int, question: str, answer: str
) -> tuple[ReplyRequest, UsageRecord] | None:
    """The call, and its worst case held against the owner's budget; None (and no call)
    when the title is the user's own or the budget or rate limit cannot cover it."""
    request = title_request(question, answer)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_related("owner").filter(pk=conversation_id).first()
        )
        if conversation is None or conversation.title_set_by_user:
            return None
        try:
            return request, usage_reserve(
                user=conversation.owner,
                model=request.model,
                max_tokens=request.max_tokens,
                input_tokens_at_most=request.input_tokens_at_most(),
                conversation_id=conversation_id,
                purpose=UsageRecord.Purpose.TITLE,
            )
        except UsageRefused as refused:
            logger.info("no title for conversation %s: %s", conversation_id, refused.code)
            return None


@transaction.atomic
def _save(
    *, conversation_id: int, record: UsageRecord, completion=None, error=None, duration_ms: int
) -> Conversation | None:
    """Settles the call; sets the title unless the user set one meanwhile. Returns the
    conversation when its title changed."""
    if completion is None:
        usage_settle(
            record=record,
            usage={},
            status=UsageRecord.Status.ERROR,
            request_id=(error.request_id or "") if error else "",
            duration_ms=duration_ms,
        )
        return None
    usage_settle(
        record=record,
        usage=completion.usage,
        status=UsageRecord.Status.COMPLETE,
        served_model=completion.model,
        request_id=completion.request_id,
        duration_ms=duration_ms,
    )
    upstream_rate_limit_observe(completion.rate_limits)
    title = clean_title(completion.text)
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None or conversation.title_set_by_user or not title:
        return None
    conversation.title = title
    conversation.save(update_fields=["title"])
    return conversation


async def title_write(*, conversation_id: int, question: str, answer: str) -> None:
    """Writes and announces the title; never raises (a failure is only logged)."""
    try:
        reserved = await run_db(
            _reserve, conversation_id=conversation_id, question=question, answer=answer
        )
        if reserved is None:
            return
        request, record = reserved
        started = time.monotonic()
        completion = error = None
        try:
            completion = await complete(request)
        except UpstreamError as exc:
            error = exc
            logger.warning(
                "title call for conversation %s failed: %s %s",
                conversation_id,
                exc.code,
                exc.message,
            )
        conversation = await run_settlement(
            _save,
            conversation_id=conversation_id,
            record=record,
            completion=completion,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        if conversation is not None:
            await get_channel_layer().group_send(
                protocol.user_group_name(conversation.owner_id),
                protocol.conversation_message(protocol.conversation_frame(conversation), origin=""),
            )
    except Exception:
        logger.warning(
            "could not write a title for conversation %s", conversation_id, exc_info=True
        )
