"""What the ledger's calls were made for, as the usage report names and links them.

The ledger keeps plain ids of a conversation and a message: usage is the leaf app and
imports no other. The app that owns conversations and messages registers, when it is
ready, how to name a user's conversations and where a message is shown to staff; until
then (or for a conversation since deleted) the report says "Conversation <id>".
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

# (user id, conversation ids) -> {conversation id: title} for those of the user that exist.
TitleLookup = Callable[[int, Iterable[int]], dict[int, str]]
# id -> the URL of the conversation's or the message's staff page.
Link = Callable[[int], str]
# (start_at, end_at, user id or None, conversation id or None) ->
# {model: (thumbs-down ratings, all ratings)} of the replies made in that range.
RatingCounts = Callable[..., dict[str, tuple[int, int]]]


@dataclass
class _Registry:
    titles: TitleLookup = lambda user_id, ids: {}
    conversation_link: Link = lambda conversation_id: ""
    message_link: Link = lambda message_id: ""
    ratings: RatingCounts = lambda **scope: {}


_registry = _Registry()


def register(
    *, titles: TitleLookup, conversation_link: Link, message_link: Link, ratings: RatingCounts
) -> None:
    _registry.titles = titles
    _registry.conversation_link = conversation_link
    _registry.message_link = message_link
    _registry.ratings = ratings


@dataclass(frozen=True)
class ConversationLabel:
    id: int
    title: str
    exists: bool

    @property
    def url(self) -> str:
        """Its staff page; none for a conversation since deleted."""
        return _registry.conversation_link(self.id) if self.exists else ""

    def __str__(self) -> str:
        shown = self.title or f"Conversation {self.id}"
        return shown if self.exists else f"{shown} (deleted)"


def conversation_labels(*, user_id: int, ids: Iterable[int]) -> dict[int, ConversationLabel]:
    """One query for all the ids, whatever their number."""
    ids = [i for i in ids if i is not None]
    if not ids:
        return {}
    titles = _registry.titles(user_id, ids)
    return {i: ConversationLabel(i, titles.get(i, ""), i in titles) for i in ids}


def message_link(message_id: int) -> str:
    return _registry.message_link(message_id)


def ratings_by_model(
    *, start_at, end_at, user_id: int | None = None, conversation_id: int | None = None
) -> dict[str, tuple[int, int]]:
    """How the users rated the replies of each model: (thumbs down, all ratings)."""
    return _registry.ratings(
        start_at=start_at, end_at=end_at, user_id=user_id, conversation_id=conversation_id
    )
