from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class LlmConfig(AppConfig):
    name = "chatapp.llm"
    label = "llm"
    verbose_name = "Claude models"

    def ready(self):
        from . import catalogue
        from .models import ClaudeModel

        for signal in (post_save, post_delete):
            signal.connect(catalogue.forget, sender=ClaudeModel, dispatch_uid="llm-catalogue")
