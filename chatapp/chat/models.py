from django.conf import settings
from django.db import models
from django.urls import reverse


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=100)
    system_prompt = models.TextField(blank=True)
    max_tokens = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conv_owner_recent")]

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
    # An assistant message points at the user message it answers.
    in_reply_to = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="reply"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    # The API's content blocks, e.g. [{"type": "text", "text": "Hello"}].
    content = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETE)
    # Set by the browser tab that sent a user message, so a resend is recognised.
    client_id = models.UUIDField(null=True, blank=True, unique=True, default=None)
    model = models.CharField(max_length=100, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)
    upstream_id = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_creation_input_tokens = models.PositiveIntegerField(default=0)
    cache_read_input_tokens = models.PositiveIntegerField(default=0)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

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
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

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
            "error": error,
            "usage": self.usage,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }
