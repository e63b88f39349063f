"""Read queries, each scoped to the user who asks."""

from collections.abc import Iterable

from django.db.models import QuerySet

from chatapp.usage.selectors import records_by_message

from .models import Conversation, Message


def conversation_list(*, user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).only("id", "title", "updated_at")


def conversation_get(*, user, conversation_id: int) -> Conversation | None:
    return Conversation.objects.filter(owner=user, pk=conversation_id).first()


def conversation_titles(user_id: int, ids: Iterable[int]) -> dict[int, str]:
    """The titles of the user's conversations among `ids` (how the usage report names
    them)."""
    return dict(
        Conversation.objects.filter(owner_id=user_id, pk__in=list(ids)).values_list("id", "title")
    )


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "id")


def with_costs(messages: Iterable[Message]) -> list[Message]:
    """The messages, each reply with its ledger row (its cost): two queries in all."""
    messages = list(messages)
    records = records_by_message([m.pk for m in messages if m.role == Message.Role.ASSISTANT])
    for message in messages:
        message.usage_record = records.get(message.pk)
    return messages


def conversation_messages_with_costs(*, conversation: Conversation) -> list[Message]:
    return with_costs(conversation_messages(conversation=conversation))


def message_get(*, message_id: int) -> Message:
    return with_costs([Message.objects.get(pk=message_id)])[0]


def upstream_history(*, conversation: Conversation) -> list[dict]:
    """The conversation as the Messages API wants it: kept turns in order, assistant turns
    reduced to the blocks that can be sent back (text, and thinking with its signature).
    Empty turns (a reply that failed before any text) are left out; the API joins
    consecutive turns of one role."""
    history = []
    for role, content, status in conversation_messages(conversation=conversation).values_list(
        "role", "content", "status"
    ):
        if role == Message.Role.ASSISTANT:
            if status == Message.Status.STREAMING:
                continue
            content = [block for block in content if _can_resend(block)]
        if content:
            history.append({"role": role, "content": content})
    return history


def _can_resend(block: dict) -> bool:
    kind = block.get("type")
    if kind == "text":
        return bool(block.get("text"))
    if kind == "thinking":
        return bool(block.get("signature"))
    return False


def conversation_streams(*, conversation: Conversation) -> bool:
    """Whether a reply is streaming in the conversation, in any server process."""
    return conversation.messages.filter(status=Message.Status.STREAMING).exists()
