from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chatapp.chat"
    label = "chat"
    verbose_name = "Chat"

    def ready(self):
        from django.db.models.signals import post_delete
        from django.urls import reverse

        from chatapp.usage import subjects
        from chatapp.usage.services import usage_conversation_deleted

        from .models import Conversation
        from .selectors import conversation_titles, ratings_by_model

        # However a conversation is deleted (its page, the admin, the ORM), its calls stay
        # in the ledger without pointing at it.
        post_delete.connect(
            lambda instance, **kwargs: usage_conversation_deleted(conversation_id=instance.pk),
            sender=Conversation,
            weak=False,
            dispatch_uid="chat-conversation-usage",
        )

        subjects.register(
            titles=conversation_titles,
            conversation_link=lambda pk: reverse("admin:chat_conversation_change", args=[pk]),
            message_link=lambda pk: reverse("admin:chat_message_change", args=[pk]),
            ratings=ratings_by_model,
        )
