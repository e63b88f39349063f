from django.apps import AppConfig


class AttachmentsConfig(AppConfig):
    name = "chatapp.attachments"
    default_auto_field = "django.db.models.BigAutoField"
