"""The model catalogue for staff: what the API lists, which models are offered, which is
the default, and a button to sync it again."""

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path

from chatapp.errors import AppError

from . import catalogue
from .models import ClaudeModel
from .sync import models_sync


@admin.register(ClaudeModel)
class ClaudeModelAdmin(admin.ModelAdmin):
    change_list_template = "admin/llm/claudemodel/change_list.html"
    list_display = [
        "display_name",
        "id",
        "lifecycle",
        "listed",
        "visible",
        "is_default",
        "max_input_tokens",
        "max_tokens",
        "thinking",
        "effort",
        "synced_at",
    ]
    list_editable = ["visible"]
    list_filter = ["lifecycle", "listed", "visible"]
    search_fields = ["id", "display_name"]
    actions = ["make_default"]
    readonly_fields = [
        "id",
        "display_name",
        "released_at",
        "lifecycle",
        "deprecated_at",
        "retires_at",
        "line",
        "max_input_tokens",
        "max_tokens",
        "capabilities",
        "listed",
        "synced_at",
        "is_default",
    ]

    def has_add_permission(self, request):
        return False  # the API's list is the source; a sync adds what it adds

    @admin.display(description="thinking")
    def thinking(self, obj):
        return ", ".join(self._info(obj).thinking_types) or "—"

    @admin.display(description="effort")
    def effort(self, obj):
        return ", ".join(self._info(obj).effort_levels) or "—"

    @staticmethod
    def _info(obj) -> catalogue.ModelInfo:
        return catalogue.ModelInfo(obj.id, obj.display_name, 0, capabilities=obj.capabilities)

    @admin.action(description="Make the selected model the default of new chats")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one model.", messages.ERROR)
            return
        model = queryset.get()
        if not catalogue.ModelInfo(
            model.id, "", 0, lifecycle=model.lifecycle, visible=model.visible, listed=model.listed
        ).offered:
            self.message_user(
                request, f"{model} is not offered (hidden, retired or unlisted).", messages.ERROR
            )
            return
        ClaudeModel.objects.filter(is_default=True).update(is_default=False)
        ClaudeModel.objects.filter(pk=model.pk).update(is_default=True)
        catalogue.forget()
        self.message_user(request, f"{model} is now the default.", messages.SUCCESS)

    def get_urls(self):
        return [
            path(
                "sync/",
                self.admin_site.admin_view(self.sync_view),
                name="llm_claudemodel_sync",
            ),
            *super().get_urls(),
        ]

    def sync_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            return redirect("admin:index")
        try:
            result = models_sync()
        except AppError as exc:
            self.message_user(
                request, f"The Models API could not be read: {exc.message}", messages.ERROR
            )
        else:
            catalogue.forget()
            self.message_user(request, f"Synced: {result}.", messages.SUCCESS)
        return redirect("admin:llm_claudemodel_changelist")
