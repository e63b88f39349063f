from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class UsageConfig(AppConfig):
    name = "chatapp.usage"
    label = "usage"
    verbose_name = "Usage and costs"

    def ready(self):
        from .models import ModelPrice, UsagePolicy
        from .services import usage_settings_changed

        for model in (ModelPrice, UsagePolicy):
            post_save.connect(usage_settings_changed, sender=model, dispatch_uid="usage-settings")
            post_delete.connect(usage_settings_changed, sender=model, dispatch_uid="usage-settings")
