"""Read queries, each scoped to the user who asks."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
)
from django.db import connection
from django.db.models import Count, Q, QuerySet, Subquery
from django.utils.html import escape

from chatapp.llm.stream import USAGE_FIELDS
from chatapp.usage.selectors import records_by_message

from .models import Conversation, Feedback, Message


def conversation_list(*, user) -> QuerySet[Conversation]:
    """Pinned first, then the most recently active."""
    return (
        Conversation.objects.filter(owner=user)
        .only("id", "title", "updated_at", "pinned")
        .order_by("-pinned", "-updated_at", "-id")
    )


def reply_of_user(*, user, message_id: int) -> Message | None:
    return Message.objects.filter(
        pk=message_id, role=Message.Role.ASSISTANT, conversation__owner=user
    ).first()


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


@dataclass(frozen=True)
class UpstreamContext:
    history: list[dict]
    # What the API counted of the branch up to its last reply before the leaf (that
    # reply's input, cache and output tokens); 0 when there is none to go by.
    tokens_before: int


def upstream_context(*, conversation: Conversation, leaf: Message) -> UpstreamContext:
    """The branch ending at `leaf` as the Messages API wants it, and nothing from other
    branches: kept turns in order, assistant turns reduced to the blocks that can be sent
    back (text, thinking with its signature, redacted thinking as it came). Empty turns (a
    reply that failed before any text) are left out; the API joins consecutive turns of
    one role. One query."""
    rows = {
        row[0]: row[1:]
        for row in conversation.messages.values_list(
            "id", "parent_id", "role", "content", "status", *USAGE_FIELDS
        )
    }
    path = _path_ids({pk: row[0] for pk, row in rows.items()}, leaf.pk)
    history = []
    tokens_before = 0
    for _, role, content, status, *usage in (rows[pk] for pk in path):
        if role == Message.Role.ASSISTANT:
            if status == Message.Status.STREAMING:
                continue
            content = _resendable(content)
            if status == Message.Status.COMPLETE and any(usage):
                tokens_before = sum(usage)
        if content:
            history.append({"role": role, "content": content})
    return UpstreamContext(history, tokens_before)


SERVER_TOOL_RESULTS = ("web_search_tool_result", "web_fetch_tool_result")


def _resendable(content: list[dict]) -> list[dict]:
    """A reply's blocks that can be sent back: text (without its citations, which point
    into the request they came from), thinking with its signature, redacted thinking as
    it came, and each server tool call with its result (a call cut off before its result
    is left out: the API wants them in pairs)."""
    used = {b.get("id") for b in content if b.get("type") == "server_tool_use"}
    answered = {b.get("tool_use_id") for b in content if b.get("type") in SERVER_TOOL_RESULTS}
    kept = []
    for block in content:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            kept.append({"type": "text", "text": block["text"]})
        elif (kind == "thinking" and block.get("signature")) or (
            kind == "redacted_thinking" and block.get("data")
        ):
            kept.append(block)
        elif kind == "server_tool_use" and block.get("id") in answered:
            if "_unparsed" not in (block.get("input") or {}):
                kept.append(block)
        elif kind in SERVER_TOOL_RESULTS and block.get("tool_use_id") in used:
            kept.append(block)
    return kept


def without_server_tools(history: list[dict]) -> list[dict]:
    """The history for a request without server tools: their calls and results left out
    (and a turn that held nothing else)."""
    trimmed = []
    for turn in history:
        content = turn["content"]
        if turn["role"] == Message.Role.ASSISTANT:
            content = [
                b
                for b in content
                if b.get("type") != "server_tool_use" and b.get("type") not in SERVER_TOOL_RESULTS
            ]
        if content:
            trimmed.append({**turn, "content": content})
    return trimmed


def conversation_streams(*, conversation: Conversation) -> bool:
    """Whether a reply is streaming in the conversation, in any server process."""
    return conversation.messages.filter(status=Message.Status.STREAMING).exists()


# --- the sidebar: pages and search ------------------------------------------------------

PAGE_SIZE = 50


def conversation_page(*, user, after: str | None = None) -> tuple[list[Conversation], str | None]:
    """One page of the sidebar, pinned first then the most recently active, and the cursor
    of the next page (None after the last). The cursor is the last row's sort key, so a
    conversation that moves up meanwhile is not shown twice further down."""
    rows = conversation_list(user=user)
    if after:
        pinned, updated_at, pk = _cursor_read(after)
        rows = rows.filter(
            Q(pinned__lt=pinned)
            | Q(pinned=pinned, updated_at__lt=updated_at)
            | Q(pinned=pinned, updated_at=updated_at, pk__lt=pk)
        )
    page = list(rows[: PAGE_SIZE + 1])
    if len(page) <= PAGE_SIZE:
        return page, None
    page = page[:PAGE_SIZE]
    last = page[-1]
    return page, f"{int(last.pinned)}_{last.updated_at.isoformat()}_{last.pk}"


def _cursor_read(cursor: str) -> tuple[bool, dt.datetime, int]:
    try:
        pinned, updated_at, pk = cursor.split("_")
        return pinned == "1", dt.datetime.fromisoformat(updated_at), int(pk)
    except ValueError:
        raise ValueError("The cursor is not one this server gave.") from None


# Marks around matches in a snippet, unlikely in text; HTML-escaped text then gets <mark>.
_START, _STOP = "\u0002", "\u0003"
SEARCH_RESULTS = 20


def conversation_search(*, user, query: str) -> list[dict]:
    """The user's conversations whose title or messages match, best first, each with a
    snippet (HTML-escaped, matches in <mark>). PostgreSQL: full-text search, ranked,
    through the GIN index on the messages' text; elsewhere: a plain contains match."""
    if connection.vendor == "postgresql":
        hits = _search_postgres(user=user, query=query)
    else:
        hits = _search_contains(user=user, query=query)
    return [
        {
            "conversation_id": conversation_id,
            "title": title,
            "snippet": escape(snippet).replace(_START, "<mark>").replace(_STOP, "</mark>"),
        }
        for conversation_id, title, snippet in hits
    ]


def _search_postgres(*, user, query: str) -> list[tuple[int, str, str]]:
    search = SearchQuery(query, config="english", search_type="websearch")
    vector = SearchVector("search_text", config="english")
    best = (
        Message.objects.filter(conversation__owner=user)
        .annotate(document=vector)
        .filter(document=search)
        .annotate(rank=SearchRank(vector, search))
        .order_by("conversation_id", "-rank", "-id")
        .distinct("conversation_id")
        .values("id", "rank")
    )
    messages = {
        row["conversation_id"]: row
        for row in Message.objects.filter(pk__in=Subquery(best.values("id")))
        .annotate(
            rank=SearchRank(vector, search),
            snippet=SearchHeadline(
                "search_text",
                search,
                config="english",
                start_sel=_START,
                stop_sel=_STOP,
                max_words=24,
                min_words=8,
            ),
        )
        .order_by("-rank")[:SEARCH_RESULTS]
        .values("conversation_id", "rank", "snippet")
    }
    title_vector = SearchVector("title", config="english")
    titled = (
        Conversation.objects.filter(owner=user)
        .annotate(title_document=title_vector)
        .filter(title_document=search)  # a match: ts_rank is never quite 0
        .annotate(rank=SearchRank(title_vector, search))
        .order_by("-rank")[:SEARCH_RESULTS]
        .values_list("id", "rank")
    )
    ranks = {pk: row["rank"] for pk, row in messages.items()}
    for pk, rank in titled:  # a match in the title counts above one in the text
        ranks[pk] = max(ranks.get(pk, 0), rank * 2)
    order = sorted(ranks, key=lambda pk: -ranks[pk])[:SEARCH_RESULTS]
    titles = dict(Conversation.objects.filter(pk__in=order).values_list("id", "title"))
    return [
        (pk, titles[pk], messages[pk]["snippet"] if pk in messages else _mark(titles[pk], query))
        for pk in order
    ]


def _search_contains(*, user, query: str) -> list[tuple[int, str, str]]:
    conversations = list(
        Conversation.objects.filter(owner=user)
        .filter(Q(title__icontains=query) | Q(messages__search_text__icontains=query))
        .distinct()
        .order_by("-updated_at", "-id")
        .values_list("id", "title")[:SEARCH_RESULTS]
    )
    texts = {}
    for conversation_id, text in (
        Message.objects.filter(
            conversation_id__in=[pk for pk, _ in conversations], search_text__icontains=query
        )
        .order_by("id")
        .values_list("conversation_id", "search_text")
    ):
        texts.setdefault(conversation_id, text)
    return [(pk, title, _mark(texts.get(pk, title), query)) for pk, title in conversations]


def _mark(text: str, query: str, around: int = 80) -> str:
    """The text around the first match of `query`, the match marked."""
    at = text.lower().find(query.lower())
    if at < 0:
        return text[: around * 2]
    start = max(at - around, 0)
    end = at + len(query)
    prefix = "…" if start else ""
    suffix = "…" if end + around < len(text) else ""
    return (
        f"{prefix}{text[start:at]}{_START}{text[at:end]}{_STOP}{text[end : end + around]}{suffix}"
    )


def conversation_export(*, conversation: Conversation) -> dict:
    """Every message of every branch, with its parent, usage, cost and timestamps."""
    messages = with_costs(conversation_messages(conversation=conversation))
    _with_feedback(messages, user_id=conversation.owner_id)
    return {
        "conversation": {
            **conversation.to_dict(),
            "created_at": conversation.created_at.isoformat(),
        },
        "active_branch": [m.pk for m in active_path(conversation=conversation)],
        "messages": [
            {**m.to_dict(), "completed_at": m.completed_at.isoformat() if m.completed_at else None}
            for m in messages
        ],
    }


def ratings_by_model(
    *, start_at, end_at, user_id: int | None = None, conversation_id: int | None = None
) -> dict[str, tuple[int, int]]:
    """(thumbs down, all ratings) per model of the replies made in [start_at, end_at)."""
    ratings = Feedback.objects.filter(
        message__created_at__gte=start_at, message__created_at__lt=end_at
    )
    if user_id is not None:
        ratings = ratings.filter(message__conversation__owner_id=user_id)
    if conversation_id is not None:
        ratings = ratings.filter(message__conversation_id=conversation_id)
    rows = (
        ratings.values("message__model")
        .annotate(down=Count("id", filter=Q(rating=Feedback.Rating.DOWN)), rated=Count("id"))
        .order_by()
    )
    return {row["message__model"]: (row["down"], row["rated"]) for row in rows}
