from django.contrib import admin
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from chatapp.readonly_admin import ReadOnlyAdmin, ReadOnlyAdminMixin

from .models import Conversation, Feedback, Message


class MessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Message
    extra = 0
    fields = [
        "created_at",
        "role",
        "status",
        "excerpt",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "time_to_first_token_ms",
        "duration_ms",
        "stop_reason",
        "error_code",
    ]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    @admin.display(description="text")
    def excerpt(self, obj):
        return Truncator(obj.text).chars(300) or "—"


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    # Conversations are the users' own record: staff review them, never rewrite them, and
    # may delete one (its calls stay in the usage ledger).
    deletable = True
    list_display = ["title_or_id", "owner", "model", "message_count", "tokens", "updated_at"]
    list_filter = ["model", "created_at", "updated_at"]
    search_fields = ["title", "owner__username", "owner__email"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    readonly_fields = ["owner", "title", "model", "system_prompt", "max_tokens", "created_at"]
    fields = readonly_fields
    inlines = [MessageInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                message_count=Count("messages"),
                input_sum=Sum("messages__input_tokens"),
                output_sum=Sum("messages__output_tokens"),
            )
        )

    @admin.display(description="title", ordering="title")
    def title_or_id(self, obj):
        return str(obj)

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, obj):
        return obj.message_count

    @admin.display(description="tokens in / out")
    def tokens(self, obj):
        return format_html("{} / {}", obj.input_sum or 0, obj.output_sum or 0)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "id",
        "conversation_link",
        "owner",
        "role",
        "status",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "created_at",
    ]
    list_filter = ["role", "status", "model", "created_at"]
    search_fields = [
        "conversation__title",
        "conversation__owner__username",
        "upstream_id",
        "request_id",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["conversation__owner"]
    exclude = ["parent"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Message._meta.fields if f.name != "parent"]

    @admin.display(description="conversation", ordering="conversation")
    def conversation_link(self, obj):
        url = reverse("admin:chat_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, obj.conversation)

    @admin.display(description="user", ordering="conversation__owner__username")
    def owner(self, obj):
        return obj.conversation.owner


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    """Users' ratings of replies, to filter by rating, model, user and date."""

    list_display = ["created_at", "rating", "model", "user", "reply_link", "comment_excerpt"]
    list_filter = [
        "rating",
        "message__model",
        ("user", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["user__username", "comment"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "message"]

    @admin.display(description="model", ordering="message__model")
    def model(self, obj):
        return obj.message.model

    @admin.display(description="reply")
    def reply_link(self, obj):
        url = reverse("admin:chat_message_change", args=[obj.message_id])
        return format_html('<a href="{}">#{}</a>', url, obj.message_id)

    @admin.display(description="comment")
    def comment_excerpt(self, obj):
        return Truncator(obj.comment).chars(120) or "—"
