from django.conf import settings
from django.db import models
from django.urls import reverse

from chatapp.llm.stream import USAGE_FIELDS


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    # A title the user set is never replaced by a generated one.
    title_set_by_user = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    model = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    max_tokens = models.PositiveIntegerField()
    stop_sequences = models.JSONField(default=list, blank=True)
    # Extended thinking, and the effort level (empty: the model's default), where the
    # model supports them (llm.catalogue).
    thinking = models.BooleanField(default=False)
    effort = models.CharField(max_length=10, blank=True)
    # Web search and web fetch as server tools, where the model takes them.
    web_search = models.BooleanField(default=False)
    # The last message of the branch shown; the active branch is the path from the first
    # message to it (messages form a tree: edits and regenerations are siblings).
    active_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-pinned", "-updated_at"], name="conv_owner_recent")
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("chat:conversation", args=[self.pk])

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "title": self.title,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "max_tokens": self.max_tokens,
            "stop_sequences": self.stop_sequences,
            "thinking": self.thinking,
            "effort": self.effort,
            "web_search": self.web_search,
            "pinned": self.pinned,
            "active_leaf_id": self.active_leaf_id,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The message this one follows: a reply's parent is the user message it answers, a
    # user message's the reply before it (none for the first). Siblings share a parent.
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    # The API's content blocks, e.g. [{"type": "text", "text": "Hello"}].
    content = models.JSONField(default=list)
    # The text blocks joined (`text`), kept for search: written with the content.
    search_text = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    # Set by the browser tab that sent a user message, so a resend is recognised.
    client_id = models.UUIDField(null=True, blank=True, unique=True, default=None)
    model = models.CharField(max_length=100, blank=True)
    # As the API sent it, whatever its length: a value added after this was written too.
    stop_reason = models.TextField(blank=True)
    stop_sequence = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    # The API's own error body of a failed reply: staff only (the admin), never a page.
    error_body = models.JSONField(null=True, blank=True)
    upstream_id = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_creation_input_tokens = models.PositiveIntegerField(default=0)
    cache_read_input_tokens = models.PositiveIntegerField(default=0)
    # The API's `usage.server_tool_use`: {"web_search_requests": N, "web_fetch_requests": N}.
    server_tool_use = models.JSONField(default=dict, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # While a reply streams, the process running it renews this lease; a streaming reply
    # whose lease has run out lost its process, and is recovered (services.replies_recover).
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="msg_conv_created"),
            models.Index(
                fields=["status"],
                name="msg_streaming",
                condition=models.Q(status="streaming"),
            ),
            models.Index(fields=["created_at"], name="msg_created"),
        ]

    def __str__(self) -> str:
        return f"{self.role} message {self.pk}"

    @property
    def text(self) -> str:
        """The message's text blocks joined: what a person reads."""
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    def _cost(self) -> dict:
        """The reply's cost from its ledger row: exact once settled, null while streaming,
        and flagged `priced: false` (never $0) when its model has no price."""
        if self.role != self.Role.ASSISTANT:
            return {"cost": None, "priced": None}
        # Set by the chat selectors (selectors.with_costs) or the services.
        record = getattr(self, "usage_record", None)
        if record is None or record.status == "reserved":
            return {"cost": None, "priced": None}
        cost = record.cost
        return {"cost": None if cost is None else str(cost), "priced": cost is not None}

    @property
    def usage(self) -> dict:
        """The API's usage block, as the API names its fields (llm.stream.USAGE_FIELDS)."""
        usage = {name: getattr(self, name) for name in USAGE_FIELDS}
        if self.server_tool_use:
            usage["server_tool_use"] = self.server_tool_use
        return usage

    def to_dict(self) -> dict:
        """The message object of docs/protocol.md, for pages and socket frames alike."""
        error = None
        if self.status == self.Status.ERROR:
            error = {"code": self.error_code, "message": self.error_message}
        return {
            **self._cost(),
            "id": self.pk,
            "role": self.role,
            "status": self.status,
            "model": self.model,
            "content": self.content,
            "stop_reason": self.stop_reason or None,
            "stop_sequence": self.stop_sequence or None,
            "error": error,
            "usage": self.usage,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "parent_id": self.parent_id,
            # Set by the selectors and services; a message alone is its own only version.
            "sibling_ids": getattr(self, "sibling_ids", None) or [self.pk],
            "feedback": getattr(self, "feedback", None),
        }


class Feedback(models.Model):
    """A user's rating of a reply, with an optional comment: one per user and reply,
    changeable."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback_set")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback"
    )
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="feedback_once_per_user")
        ]
        indexes = [models.Index(fields=["rating", "created_at"], name="feedback_rating_time")]

    def __str__(self) -> str:
        return f"{self.rating} on message {self.message_id}"

    def to_dict(self) -> dict:
        return {"rating": self.rating, "comment": self.comment}
