"""Read queries, each scoped to the user who asks."""

from django.db.models import QuerySet

from .models import Conversation, Message


def conversation_list(*, user) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).only("id", "title", "updated_at")


def conversation_get(*, user, conversation_id: int) -> Conversation | None:
    return Conversation.objects.filter(owner=user, pk=conversation_id).first()


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.select_related("usage_record").order_by("created_at", "id")


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
