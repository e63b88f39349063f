"""Read queries, each scoped to the user who asks."""

from collections.abc import Iterable

from django.db.models import QuerySet

from chatapp.usage.selectors import records_by_message

from .models import Conversation, Feedback, Message


def conversation_list(*, user) -> QuerySet[Conversation]:
    """Pinned first, then the most recently active."""
    return (
        Conversation.objects.filter(owner=user)
        .only("id", "title", "updated_at", "pinned")
        .order_by("-pinned", "-updated_at", "-id")
    )


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
    """A message as its frames show it: with its cost and its versions."""
    message = Message.objects.get(pk=message_id)
    message.sibling_ids = sibling_ids(message=message)
    return with_costs([message])[0]


def _path_ids(parents: dict[int, int | None], leaf_id: int | None) -> list[int]:
    path = []
    while leaf_id is not None:
        path.append(leaf_id)
        leaf_id = parents.get(leaf_id)
    path.reverse()
    return path


def active_path(*, conversation: Conversation) -> list[Message]:
    """The active branch, first message first, each with its cost, its versions (siblings)
    and the owner's feedback: four queries however long the conversation."""
    tree = list(conversation.messages.values_list("id", "parent_id"))
    parents = dict(tree)
    # Without a leaf set (rows written by hand), the branch of the newest message.
    path_ids = _path_ids(parents, conversation.active_leaf_id or max(parents, default=None))
    children: dict[int | None, list[int]] = {}
    for message_id, parent_id in tree:  # ids grow with time: siblings oldest first
        children.setdefault(parent_id, []).append(message_id)
    messages = {m.pk: m for m in conversation.messages.filter(pk__in=path_ids)}
    path = [messages[pk] for pk in path_ids]
    for message in path:
        message.sibling_ids = sorted(children[message.parent_id])
    _with_feedback(path, user_id=conversation.owner_id)
    return with_costs(path)


def _with_feedback(messages: list[Message], *, user_id: int) -> None:
    ratings = {
        feedback.message_id: feedback.to_dict()
        for feedback in Feedback.objects.filter(
            user_id=user_id, message_id__in=[m.pk for m in messages]
        )
    }
    for message in messages:
        message.feedback = ratings.get(message.pk)


def sibling_ids(*, message: Message) -> list[int]:
    """The versions of a message: the messages with its parent, oldest first."""
    return list(
        Message.objects.filter(conversation_id=message.conversation_id, parent_id=message.parent_id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def newest_leaf_below(*, conversation: Conversation, message_id: int) -> int:
    """The end of the branch through a message: its newest child, that one's newest
    child, and so on."""
    newest: dict[int, int] = {}
    for child_id, parent_id in conversation.messages.values_list("id", "parent_id"):
        if parent_id is not None and child_id > newest.get(parent_id, 0):
            newest[parent_id] = child_id
    while message_id in newest:
        message_id = newest[message_id]
    return message_id


def upstream_history(*, conversation: Conversation, leaf: Message) -> list[dict]:
    """The branch ending at `leaf` as the Messages API wants it, and nothing from other
    branches: kept turns in order, assistant turns reduced to the blocks that can be sent
    back (text, and thinking with its signature). Empty turns (a reply that failed before
    any text) are left out; the API joins consecutive turns of one role."""
    rows = {
        pk: (parent_id, role, content, status)
        for pk, parent_id, role, content, status in conversation.messages.values_list(
            "id", "parent_id", "role", "content", "status"
        )
    }
    path = _path_ids({pk: row[0] for pk, row in rows.items()}, leaf.pk)
    history = []
    for role, content, status in (rows[pk][1:] for pk in path):
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
