from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from chatapp.readonly_admin import ReadOnlyAdmin

from .models import Attachment


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    # Uploads are the users' own: staff look at them (the file opens for staff too) and
    # never change or delete them here.
    list_display = ["name", "owner", "kind", "size_shown", "created_at", "open_link"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "owner__username", "owner__email", "sha256"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    readonly_fields = [
        "owner",
        "name",
        "kind",
        "media_type",
        "size",
        "width",
        "height",
        "pages",
        "text_bytes",
        "sha256",
        "file_id",
        "created_at",
    ]
    fields = readonly_fields

    @admin.display(description="size", ordering="size")
    def size_shown(self, obj):
        return filesizeformat(obj.size)

    @admin.display(description="file")
    def open_link(self, obj):
        return format_html('<a href="{}">open</a>', reverse("attachments:file", args=[obj.pk]))
